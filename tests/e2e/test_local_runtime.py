"""`python -m local.run` over real HTTP: it serves the template's routes, runs schedules through queues to their
workers, stops cleanly and keeps its demo tenant."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60
# Stopping waits for the batches in hand; with the schedules that fire at start (rate schedules) a cold worker
# can take tens of seconds on a loaded 2-core machine.
STOP_TIMEOUT_S = 60
JOB_TIMEOUT_S = 30
TENANT_LINE = re.compile(r"^Demo tenant\s+([0-9a-f-]{36})\s*$", re.MULTILINE)


@dataclass
class Runtime:
    process: subprocess.Popen[bytes]
    url: str
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text(errors="replace")

    def logs(self) -> str:
        return self.stderr.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=STOP_TIMEOUT_S)


class Launcher:
    """Starts local runtimes on one data folder and makes sure none outlives the test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runtimes: list[Runtime] = []
        runtime_dir = workdir / "runtime"
        runtime_dir.mkdir(mode=0o700)
        self.env = {**os.environ, "EMBEDDED_PG_DATA": str(workdir / "pgdata"), "XDG_RUNTIME_DIR": str(runtime_dir)}
        for name in ("DATABASE_URL", "DB_SECRET_NAME"):  # always the embedded server in the test's own folder
            self.env.pop(name, None)

    def start(self) -> Runtime:
        port = _free_port()
        n = len(self.runtimes) + 1
        stdout, stderr = self.workdir / f"run{n}.out", self.workdir / f"run{n}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                [sys.executable, "-m", "local.run", "--port", str(port)],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        runtime = Runtime(process=process, url=f"http://127.0.0.1:{port}", stdout=stdout, stderr=stderr)
        self.runtimes.append(runtime)
        _wait_until_serving(runtime)
        return runtime

    def close(self) -> None:
        for runtime in self.runtimes:
            if runtime.process.poll() is None:
                runtime.process.terminate()
                try:
                    runtime.process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    runtime.process.kill()
                    runtime.process.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture
def launcher() -> Iterator[Launcher]:
    # Not pytest's tmp_path: another pytest session starting meanwhile chmods /tmp/pytest-of-<user> back to 0700,
    # and the embedded PostgreSQL (run as its own system user) can then no longer reach its data to stop.
    workdir = Path(tempfile.mkdtemp(prefix="viral-e2e-", dir=os.environ.get("TEST_PG_ROOT") or None))
    launcher = Launcher(workdir)
    yield launcher
    launcher.close()
    shutil.rmtree(workdir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(runtime: Runtime) -> None:
    """Until the health route answers and the banner (with the tenant id) is out; bounded."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if runtime.process.poll() is not None:
            pytest.fail(f"local.run exited with {runtime.process.returncode}:\n{runtime.logs()[-4000:]}")
        try:
            answered = httpx.get(f"{runtime.url}/api/health", timeout=2).status_code == HTTPStatus.OK
        except httpx.TransportError:
            answered = False
        if answered and TENANT_LINE.search(runtime.output()):
            return
        time.sleep(0.25)
    pytest.fail(f"local.run did not serve within {STARTUP_TIMEOUT_S} s:\n{runtime.logs()[-4000:]}")


def _printed_tenant(runtime: Runtime) -> str:
    found = TENANT_LINE.search(runtime.output())
    assert found is not None, runtime.output()
    return found.group(1)


def test_local_runtime_serves_the_api_and_stops_cleanly(launcher: Launcher) -> None:
    data = launcher.workdir
    # Given a local runtime on a fresh data folder
    runtime = launcher.start()

    # When the API is called, Then the health route reaches the migrated database
    health = httpx.get(f"{runtime.url}/api/health", timeout=10)
    assert health.status_code == HTTPStatus.OK
    assert health.headers["content-type"].startswith("application/json")
    assert health.json()["database"] == "ok"

    # And an unknown path and a wrong method are the gateway's JSON errors
    missing = httpx.get(f"{runtime.url}/api/nope", timeout=10)
    assert missing.status_code == HTTPStatus.NOT_FOUND
    assert missing.json() == {"error": "Not found", "code": "NOT_FOUND"}
    wrong_method = httpx.post(f"{runtime.url}/api/health", timeout=10)
    assert wrong_method.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert wrong_method.json()["code"] == "METHOD_NOT_ALLOWED"

    # And the demo tenant is printed and stored next to the data
    tenant_id = _printed_tenant(runtime)
    assert (data / "demo-tenant-id").read_text().strip() == tenant_id

    # When it is interrupted, Then it exits 0 and the embedded PostgreSQL stops with it
    assert runtime.stop(signal.SIGINT) == 0
    assert not (data / "pgdata" / "postmaster.pid").exists()
    logs = runtime.logs()
    assert re.search(r"GET /api/health 200 [\d.]+ms", logs)
    assert "Traceback" not in logs

    # When it starts again on the same data, Then it reuses the demo tenant
    again = launcher.start()
    assert _printed_tenant(again) == tenant_id
    assert (data / "demo-tenant-id").read_text().strip() == tenant_id
    assert again.stop(signal.SIGTERM) == 0


def test_local_runtime_runs_a_fired_schedule_through_the_queue_to_the_worker(
    launcher: Launcher,
) -> None:
    # Given a local runtime whose demo tenant turned daily generation on (it is off by default)
    runtime = launcher.start()
    headers = {"Authorization": f"Bearer {(launcher.workdir / 'demo-api-key').read_text().strip()}"}
    turned_on = httpx.put(
        f"{runtime.url}/api/user/settings", json={"dailyGeneration": True}, headers=headers, timeout=10
    )
    assert turned_on.status_code == HTTPStatus.OK

    # When the daily schedule is fired now, as `make fire NAME=DailyGenerateFunction` does
    fired = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "local.fire", "--url", runtime.url, "DailyGenerateFunction"],
        cwd=REPO_ROOT,
        env=launcher.env,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
        check=False,
    )
    assert fired.returncode == 0, fired.stderr
    answer = json.loads(fired.stdout)
    assert (answer["schedule"], answer["result"]["failed"]) == ("DailyGenerateFunction.Daily", {})
    assert answer["result"]["enqueued"] == 1

    # Then the job it queued is completed by the queue's worker (bounded wait)
    job = _wait_for_job(runtime, headers)
    assert job["jobType"] == "generate-concepts"
    assert job["result"]["concepts"] > 0
    generation = httpx.get(
        f"{runtime.url}/api/generations/{job['result']['generationId']}", headers=headers, timeout=10
    )
    assert generation.status_code == HTTPStatus.OK

    # And the banner said what was wired; the runtime stops cleanly
    banner = runtime.output()
    assert re.search(r"sqs\s+viral-local-generation-jobs\s+->\s+GenerationWorkerFunction", banner)
    assert re.search(r"cron\(0 8 \* \* \? \*\) UTC\s+->\s+DailyGenerateFunction\.Daily", banner)
    assert runtime.stop(signal.SIGINT) == 0
    assert "Traceback" not in runtime.logs()


def _wait_for_job(runtime: Runtime, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    jobs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        answer = httpx.get(
            f"{runtime.url}/api/jobs", params={"jobType": "generate-concepts"}, headers=headers, timeout=10
        )
        assert answer.status_code == HTTPStatus.OK
        jobs = answer.json()["jobs"]
        if jobs and jobs[0]["status"] in ("completed", "failed"):
            assert jobs[0]["status"] == "completed", jobs[0]
            return dict(jobs[0])
        time.sleep(0.2)
    pytest.fail(f"the job was not completed within {JOB_TIMEOUT_S} s: {jobs}\n{runtime.logs()[-4000:]}")


VIDEO_TIMEOUT_S = 120


def test_a_new_user_generates_concepts_renders_a_video_and_downloads_it(launcher: Launcher) -> None:
    """As a new user would: generate concepts, ask for a video, wait for it, download the MP4 and open it."""
    import av

    runtime = launcher.start()
    headers = {"Authorization": f"Bearer {(launcher.workdir / 'demo-api-key').read_text().strip()}"}
    generated = httpx.post(f"{runtime.url}/api/generate", headers=headers, timeout=30)
    assert generated.status_code == HTTPStatus.OK, generated.text
    concepts = generated.json()["concepts"]
    assert 1 <= len(concepts) <= 36
    concept_id = concepts[0]["id"]

    requested = httpx.post(
        f"{runtime.url}/api/video/generate", json={"conceptId": concept_id}, headers=headers, timeout=30
    )
    assert requested.status_code == HTTPStatus.OK, requested.text
    assert requested.json()["status"] == "queued"

    deadline = time.monotonic() + VIDEO_TIMEOUT_S
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = httpx.get(
            f"{runtime.url}/api/video/status", params={"conceptId": concept_id}, headers=headers, timeout=10
        ).json()
        if status.get("status") in ("completed", "failed"):
            break
        time.sleep(0.5)
    assert status.get("status") == "completed", f"{status}\n{runtime.logs()[-3000:]}"

    video = httpx.get(status["videoUrl"], timeout=30)
    assert video.status_code == HTTPStatus.OK
    path = launcher.workdir / "video.mp4"
    path.write_bytes(video.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 1280)
        duration_s = float(container.duration or 0) / av.time_base
    assert 10 <= duration_s <= 30
    assert runtime.stop(signal.SIGINT) == 0


def test_a_signed_stripe_webhook_posted_with_curl_upgrades_the_demo_tenant(launcher: Launcher) -> None:
    """The README's billing walk-through: a webhook signed with the local secret moves the demo tenant to PRO."""
    from local.fakes.stripe_api import sign

    runtime = launcher.start()
    headers = {"Authorization": f"Bearer {(launcher.workdir / 'demo-api-key').read_text().strip()}"}
    tenant = _printed_tenant(runtime)
    secret = (launcher.workdir / "stripe-webhook-secret").read_text().strip()
    event = json.loads((REPO_ROOT / "events" / "stripe_event_checkout_session_completed.json").read_text())
    event["id"] = f"evt_e2e_{int(time.time() * 1000)}"
    event["created"] = int(time.time())
    session = event["data"]["object"]
    session.update(client_reference_id=tenant, metadata={"tenant_id": tenant, "tier": "PRO"})
    body = json.dumps(event)
    posted = httpx.post(
        f"{runtime.url}/api/webhooks/stripe",
        content=body,
        timeout=10,
        headers={"Stripe-Signature": sign(body, secret), "Content-Type": "application/json"},
    )
    assert posted.status_code == HTTPStatus.OK, posted.text
    forged = httpx.post(
        f"{runtime.url}/api/webhooks/stripe",
        content=body,
        timeout=10,
        headers={"Stripe-Signature": sign(body, "whsec_wrong"), "Content-Type": "application/json"},
    )
    assert forged.status_code == HTTPStatus.BAD_REQUEST

    deadline = time.monotonic() + JOB_TIMEOUT_S
    usage: dict[str, Any] = {}
    while time.monotonic() < deadline:
        usage = httpx.get(f"{runtime.url}/api/user/usage", headers=headers, timeout=10).json()
        if usage["subscription"]["tier"] == "PRO":
            break
        time.sleep(0.3)
    assert usage["subscription"]["tier"] == "PRO", f"{usage}\n{runtime.logs()[-3000:]}"
    assert usage["quota"]["total"] == 50
    assert runtime.stop(signal.SIGINT) == 0

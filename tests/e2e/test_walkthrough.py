"""The README's walk-through against one `python -m local.run`, as a newcomer and as the original's clients meet it."""

from __future__ import annotations

import base64
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_local_runtime import REPO_ROOT, Launcher, Runtime

BIN = Path(sys.executable).parent
VIDEO_TIMEOUT_S = 120
# The contract fuzz run: a fixed number of examples per operation and a fixed seed, so it stays within minutes.
FUZZ_EXAMPLES = 20
FUZZ_TIMEOUT_S = 300

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    workdir = Path(tempfile.mkdtemp(prefix="viral-e2e-", dir=os.environ.get("TEST_PG_ROOT") or None))
    launcher = Launcher(workdir)
    # A Clerk signing secret, so an unsigned delivery is the documented 400 (without one it is a 503 refusal).
    launcher.env["CLERK_WEBHOOK_SECRET"] = "whsec_" + base64.b64encode(b"e2e-clerk-secret-0123456789abcdef").decode()
    yield launcher
    launcher.close()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def runtime(launcher: Launcher) -> Runtime:
    return launcher.start()


@pytest.fixture(scope="module")
def key(launcher: Launcher, runtime: Runtime) -> str:
    return (launcher.workdir / "demo-api-key").read_text().strip()


def test_opening_swagger_leaves_every_authenticated_route_working(runtime: Runtime, key: str) -> None:
    # Given a newcomer who opens the API docs first
    page = httpx.get(f"{runtime.url}/swagger", timeout=30)
    assert page.status_code == HTTPStatus.OK
    assert "swagger" in page.text.lower()
    document = httpx.get(f"{runtime.url}/swagger.json", timeout=30)
    assert document.status_code == HTTPStatus.OK
    assert "/api/user/usage" in document.json()["paths"]

    # When they call the API with the demo key, Then it answers as it did before the docs were opened
    usage = httpx.get(f"{runtime.url}/api/user/usage", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert usage.status_code == HTTPStatus.OK, usage.text
    assert usage.json()["tenant"]["id"]

    # And Swagger's "Try it out" requests (its own header set, a JSON body it built from the schema) work too
    try_it_out = {"accept": "application/json", "Authorization": f"Bearer {key}"}
    listed = httpx.get(f"{runtime.url}/api/history?limit=5&offset=0", headers=try_it_out, timeout=10)
    assert listed.status_code == HTTPStatus.OK, listed.text
    settings = httpx.put(
        f"{runtime.url}/api/user/settings",
        headers={**try_it_out, "Content-Type": "application/json"},
        content=b'{\n  "dailyGeneration": false\n}',
        timeout=10,
    )
    assert settings.status_code == HTTPStatus.OK, settings.text
    assert settings.json() == {"dailyGeneration": False}


def test_a_client_written_for_the_original_polls_for_completed_and_finishes(runtime: Runtime, key: str) -> None:
    """The original's scripts: generate, ask for a video, poll /api/video/status until `completed`."""
    headers = {"Authorization": f"Bearer {key}"}
    concepts = httpx.post(f"{runtime.url}/api/generate", json={"count": 1}, headers=headers, timeout=30).json()
    concept_id = concepts["concepts"][0]["id"]
    unknown = httpx.get(f"{runtime.url}/api/video/status", params={"conceptId": "never-made"}, headers=headers)
    assert unknown.json() == {"status": "not_started", "message": "Video generation not started"}
    started = httpx.post(f"{runtime.url}/api/video/generate", json={"conceptId": concept_id}, headers=headers)
    assert (started.status_code, started.json()["status"]) == (HTTPStatus.OK, "queued")

    seen: list[str] = []
    deadline = time.monotonic() + VIDEO_TIMEOUT_S
    while time.monotonic() < deadline:
        status = httpx.get(
            f"{runtime.url}/api/video/status", params={"conceptId": concept_id}, headers=headers, timeout=10
        ).json()
        seen.append(status["status"])
        if status["status"] in ("completed", "failed"):
            break
        time.sleep(0.5)
    assert seen[-1] == "completed", f"{seen}\n{runtime.logs()[-3000:]}"
    assert set(seen) <= {"generating", "completed"}
    assert status["state"] == "ready"
    assert httpx.get(status["videoUrl"], timeout=30).content[4:8] == b"ftyp"


def test_a_client_generated_from_the_document_calls_the_api(launcher: Launcher, runtime: Runtime, key: str) -> None:
    # Given a client generated from docs/openapi.json, as a user of the API would make one
    target = launcher.workdir / "generated"
    target.mkdir()
    generated = subprocess.run(  # noqa: S603 (our own pinned tool on our own document)
        [
            *(str(BIN / "openapi-python-client"), "generate", "--path", str(REPO_ROOT / "docs" / "openapi.json")),
            *("--meta", "none", "--output-path", str(target / "viral_api_client")),
        ],
        cwd=target,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout + generated.stderr
    sys.path.insert(0, str(target))
    try:
        client_module: Any = importlib.import_module("viral_api_client")
        usage_api: Any = importlib.import_module("viral_api_client.api.account.usage_api_user_usage_get")
        models: Any = importlib.import_module("viral_api_client.models")
    finally:
        sys.path.remove(str(target))

    # When it calls GET /api/user/usage with the demo key, Then it gets the typed answer
    client = client_module.AuthenticatedClient(base_url=runtime.url, token=key)
    usage = usage_api.sync(client=client)
    assert isinstance(usage, models.UsageAnswer), usage
    assert usage.tenant.id == (launcher.workdir / "demo-tenant-id").read_text().strip()
    assert usage.quota.total >= usage.quota.used >= 0

    # And without credentials it gets the documented error model
    refused = usage_api.sync(client=client_module.Client(base_url=runtime.url))
    assert isinstance(refused, models.Error)
    assert refused.code == "UNAUTHORIZED"


def test_a_schema_driven_fuzz_run_finds_no_server_error_and_no_schema_mismatch(runtime: Runtime, key: str) -> None:
    """Schemathesis over docs/openapi.json: a fixed number of examples per operation, bounded to minutes.

    The revocation route is left out: `{"all": true}` is valid input and would revoke the run's own key."""
    report = runtime.stdout.parent / "fuzz"
    run = subprocess.run(  # noqa: S603 (our own pinned tool)
        [
            *(str(BIN / "schemathesis"), "run", str(REPO_ROOT / "docs" / "openapi.json"), "--url", runtime.url),
            *("-H", f"Authorization: Bearer {key}", "--exclude-path", "/api/user/api-keys/revoke"),
            *("--checks", "not_a_server_error,status_code_conformance,content_type_conformance"),
            *("--checks", "response_schema_conformance", "--max-examples", str(FUZZ_EXAMPLES), "--seed", "1"),
            *("--phases", "examples,coverage,fuzzing", "--no-shrink", "--workers", "1", "--report-dir", str(report)),
        ],
        cwd=runtime.stdout.parent,
        capture_output=True,
        text=True,
        timeout=FUZZ_TIMEOUT_S,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:] + runtime.logs()[-3000:]

"""`make run` end to end for analytics: a sandbox post, published through the real worker, gains a snapshot when the
analytics schedule fires; its concept gains feedback derived from the platform's figures and a critique; and
/api/metrics (and /api/analytics' calibration) count it.

How the post gets old: the collector files a snapshot under the age the post has reached (1 h at the least) and
derives feedback at ANALYTICS_FEEDBACK_AGE_H (72 h), and nothing over HTTP can move the runtime's clock. Rather
than a production hook that bends time (a scale on the ages, or a `now` the schedule would accept), the test moves
the published post's `posted_at` back 73 hours in the runtime's own database, as the owner, on its unix socket:
the same thing time passing would do, and the way the integration tests age posts. Everything else goes through
HTTP, the real schedule (fired through the runtime's local control route), the analytics queue and its worker.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

import httpx
import pg8000.native
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_local_runtime import Launcher, launcher  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e
VIDEO_TIMEOUT_S = 120
PUBLISH_TIMEOUT_S = 120
COLLECT_TIMEOUT_S = 60
T = TypeVar("T")


def _until(deadline_s: float, probe: Callable[[], T | None]) -> T | None:
    deadline = time.monotonic() + deadline_s
    found = probe()
    while time.monotonic() < deadline and not found:
        time.sleep(0.5)
        found = probe()
    return found


def _connect_sandbox(api: httpx.Client) -> dict[str, Any]:
    started = api.get("/api/social/auth-url", params={"platform": "sandbox"})
    assert started.status_code == HTTPStatus.OK, started.text
    cookie = started.headers["set-cookie"].split(";", 1)[0]
    consent = httpx.get(started.json()["authUrl"], timeout=10)
    back = httpx.get(consent.headers["location"], headers={"Cookie": cookie}, timeout=30)
    assert back.headers["location"].endswith("?success=sandbox"), back.headers["location"]
    [account] = api.get("/api/social/accounts").json()["accounts"]["sandbox"]
    return dict(account)


def _age_post(launcher: Launcher, post_id: str, hours: int) -> None:  # noqa: F811
    """Move the post's publishing time back, in the runtime's database (see the module's docstring)."""
    owner = pg8000.native.Connection(
        user="postgres", database="postgres", unix_sock=str(launcher.workdir / "pgdata" / ".s.PGSQL.5432")
    )
    try:
        moved = owner.run(
            "update social_posts set posted_at = posted_at - make_interval(hours => :hours) "
            "where id = cast(:id as uuid) and status = 'published' returning id",
            hours=hours,
            id=post_id,
        )
    finally:
        owner.close()
    assert len(moved) == 1


def test_a_published_sandbox_post_is_collected_closes_the_loop_and_is_counted(launcher: Launcher) -> None:  # noqa: F811
    runtime = launcher.start()
    headers = {"Authorization": f"Bearer {(launcher.workdir / 'demo-api-key').read_text().strip()}"}
    api = httpx.Client(base_url=runtime.url, headers=headers, timeout=30)
    account = _connect_sandbox(api)

    # A concept rendered and posted now on the sandbox account, published by the post worker.
    concept_id = api.post("/api/generate").json()["concepts"][0]["id"]
    assert api.post("/api/video/generate", json={"conceptId": concept_id}).status_code == HTTPStatus.OK

    def ready() -> dict[str, Any] | None:
        status = api.get("/api/video/status", params={"conceptId": concept_id}).json()
        return status if status.get("state") in ("ready", "failed") else None

    video = _until(VIDEO_TIMEOUT_S, ready)
    assert video and video["state"] == "ready", f"{video}\n{runtime.logs()[-3000:]}"
    body = {"videoId": video["videoId"], "accountIds": [account["id"]], "privacy": "PUBLIC", "caption": "Loop"}
    [post] = api.post("/api/posts", json=body).json()["posts"]

    def published() -> dict[str, Any] | None:
        answer = api.get(f"/api/posts/{post['id']}").json()
        return answer if answer["status"] in ("published", "failed", "unconfirmed") else None

    done = _until(PUBLISH_TIMEOUT_S, published)
    assert done and done["status"] == "published", f"{done}\n{runtime.logs()[-3000:]}"
    assert api.get(f"/api/posts/{post['id']}/metrics").json()["snapshots"] == []

    # Three days pass; the hourly schedule fires (now, through the runtime's control route).
    _age_post(launcher, post["id"], hours=73)
    fired = httpx.post(f"{runtime.url}/_local/schedules/AnalyticsScheduleFunction/fire", timeout=60)
    assert fired.status_code == HTTPStatus.OK, fired.text

    def snapshots() -> list[dict[str, Any]] | None:
        return api.get(f"/api/posts/{post['id']}/metrics").json()["snapshots"] or None

    series = _until(COLLECT_TIMEOUT_S, snapshots)
    assert series, runtime.logs()[-3000:]
    [snapshot] = series
    assert snapshot["bucket"] == "72h" and snapshot["platform"] == "sandbox" and snapshot["views"] is not None

    # The loop closed with no human step: feedback read from the platform, and a critique of it.
    recent = api.get("/api/feedback", params={"limit": 10}).json()["recent"]
    derived = [f for f in recent if f["conceptId"] == concept_id]
    assert len(derived) == 1 and derived[0]["dataSource"] == "api", recent
    assert derived[0]["metrics"]["views"] == snapshot["views"]
    critiques = api.get("/api/reflexion", params={"type": "critiques", "limit": 50}).json()["critiques"]
    assert [c["feedbackId"] for c in critiques if c["conceptId"] == concept_id] == [derived[0]["id"]]

    # /api/metrics counts the post, the snapshot and the critique; /api/analytics calibrates on it.
    text = api.get("/api/metrics").text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    posted = {(s.labels["platform"], s.labels["status"]): s.value for s in families["posting_total"].samples}
    assert posted[("sandbox", "published")] == 1
    assert [s.value for s in families["analytics_snapshots_total"].samples] == [1]
    assert [s.value for s in families["reflexion_samples"].samples] == [1]
    calibration = api.get("/api/analytics").json()["calibration"]
    assert calibration["overall"]["samples"] == 1
    assert [s["source"] for s in calibration["bySource"]] == ["api"]

    # Fired again, the schedule writes nothing twice.
    assert httpx.post(f"{runtime.url}/_local/schedules/AnalyticsScheduleFunction/fire", timeout=60).is_success
    time.sleep(3)
    assert len(api.get(f"/api/posts/{post['id']}/metrics").json()["snapshots"]) == 1
    assert runtime.stop(signal.SIGINT) == 0

"""`make run` end to end for social publishing: connect a sandbox account through its consent page, render a
video, post it now and see it published with a platform post id; a post an hour ahead, canceled, never publishes."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

import httpx
import pytest

from tests.e2e.test_local_runtime import Launcher, launcher  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e
PUBLISH_TIMEOUT_S = 120
VIDEO_TIMEOUT_S = 120


def _until(deadline_s: float, probe: Any) -> Any:
    deadline = time.monotonic() + deadline_s
    found = probe()
    while time.monotonic() < deadline and not found:
        time.sleep(0.5)
        found = probe()
    return found


def test_connect_sandbox_render_post_now_and_see_it_published(launcher: Launcher) -> None:  # noqa: F811
    runtime = launcher.start()
    headers = {"Authorization": f"Bearer {(launcher.workdir / 'demo-api-key').read_text().strip()}"}
    api = httpx.Client(base_url=runtime.url, headers=headers, timeout=30)

    # Connect: the auth URL leads to the local consent page, which sends the browser back to the callback.
    started = api.get("/api/social/auth-url", params={"platform": "sandbox"})
    assert started.status_code == HTTPStatus.OK, started.text
    cookie = started.headers["set-cookie"].split(";", 1)[0]
    consent = httpx.get(started.json()["authUrl"], timeout=10)
    assert consent.status_code == HTTPStatus.SEE_OTHER, consent.text
    back = httpx.get(consent.headers["location"], headers={"Cookie": cookie}, timeout=30)
    assert back.status_code == HTTPStatus.SEE_OTHER
    assert back.headers["location"].endswith("?success=sandbox"), back.headers["location"]
    [account] = api.get("/api/social/accounts").json()["accounts"]["sandbox"]

    # Generate and render.
    concept_id = api.post("/api/generate").json()["concepts"][0]["id"]
    assert api.post("/api/video/generate", json={"conceptId": concept_id}).status_code == HTTPStatus.OK

    def ready() -> dict[str, Any] | None:
        status = api.get("/api/video/status", params={"conceptId": concept_id}).json()
        return status if status.get("state") in ("ready", "failed") else None

    video = _until(VIDEO_TIMEOUT_S, ready)
    assert video and (video["status"], video["state"]) == ("completed", "ready"), f"{video}\n{runtime.logs()[-3000:]}"

    # Post now, and one an hour ahead that is canceled.
    body = {"videoId": video["videoId"], "accountIds": [account["id"]], "privacy": "PUBLIC", "caption": "Made here"}
    [now_post] = api.post("/api/posts", json=body).json()["posts"]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    [later_post] = api.post("/api/posts", json={**body, "scheduledAt": later}).json()["posts"]
    assert api.delete(f"/api/posts/{later_post['id']}").json()["status"] == "canceled"

    def published() -> dict[str, Any] | None:
        post = api.get(f"/api/posts/{now_post['id']}").json()
        return post if post["status"] in ("published", "failed", "unconfirmed") else None

    post = _until(PUBLISH_TIMEOUT_S, published)
    assert post and post["status"] == "published", f"{post}\n{runtime.logs()[-3000:]}"
    assert post["platformPostId"] and post["postUrl"] and post["publishedAt"]
    assert api.get(f"/api/posts/{later_post['id']}").json()["status"] == "canceled"
    jobs = api.get("/api/jobs", params={"jobType": "publish-post"}).json()["jobs"]
    assert sorted(j["status"] for j in jobs) == ["completed", "failed"]
    assert runtime.stop(signal.SIGINT) == 0

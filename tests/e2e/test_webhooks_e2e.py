"""`python -m local.run` over real HTTP: a tenant registers a webhook endpoint on its own receiver, renders a video,
and receives `video.ready` signed (verified with the standardwebhooks library)."""

from __future__ import annotations

import time
from http import HTTPStatus

import httpx
import pytest

from tests.e2e.test_local_runtime import Launcher, launcher  # noqa: F401 (the fixture)
from tests.fakes.webhooks import Receiver

pytestmark = pytest.mark.e2e
WAIT_S = 150


def test_a_registered_endpoint_receives_video_ready_signed(launcher: Launcher) -> None:  # noqa: F811
    runtime = launcher.start()
    headers = {"Authorization": f"Bearer {(launcher.workdir / 'demo-api-key').read_text().strip()}"}
    with Receiver().running() as receiver:
        registered = httpx.post(
            f"{runtime.url}/api/webhook-endpoints",
            json={"url": receiver.url, "events": ["video.ready", "video.failed"], "description": "e2e"},
            headers=headers,
            timeout=10,
        )
        assert registered.status_code == HTTPStatus.CREATED, registered.text
        endpoint = registered.json()
        private = httpx.post(
            f"{runtime.url}/api/webhook-endpoints",
            json={"url": "http://169.254.169.254/latest/meta-data/", "events": ["video.ready"]},
            headers=headers,
            timeout=10,
        )
        assert private.status_code == HTTPStatus.UNPROCESSABLE_ENTITY

        generated = httpx.post(f"{runtime.url}/api/generate", headers=headers, timeout=30)
        assert generated.status_code == HTTPStatus.OK, generated.text
        concept_id = generated.json()["concepts"][0]["id"]
        requested = httpx.post(
            f"{runtime.url}/api/video/generate", json={"conceptId": concept_id}, headers=headers, timeout=30
        )
        assert requested.status_code == HTTPStatus.OK, requested.text

        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not receiver.requests:
            time.sleep(0.5)
        assert receiver.requests, f"no webhook within {WAIT_S} s\n{runtime.logs()[-3000:]}"
        [event] = receiver.verified(endpoint["secret"])
        attempts = httpx.get(
            f"{runtime.url}/api/webhook-endpoints/{endpoint['id']}/deliveries", headers=headers, timeout=10
        ).json()["attempts"]

    assert event["type"] == "video.ready"
    assert event["data"]["conceptId"] == concept_id
    assert event["data"]["videoId"] == requested.json()["videoId"]
    assert attempts[0]["statusCode"] == HTTPStatus.OK
    assert attempts[0]["webhookId"] == receiver.requests[0].headers["webhook-id"]
    assert runtime.stop() == 0
    assert "Traceback" not in runtime.logs()

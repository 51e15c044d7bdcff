"""Luma Dream Machine's generations API: `POST /generations` (201), `GET /generations/{id}` until `completed`.

States: queued -> dreaming -> completed | failed; `assets.video` is set once completed. The base URL is a
setting, so the adapter can follow Luma to a newer surface with the same create/poll shape.

Luma lists an account's generations newest first (`GET /generations?limit=&offset=`), each with the request
it was made from, so a submission whose answer was lost can be found again: a generation created since the
attempt from exactly our request body. Two identical bodies submitted at once make interchangeable videos, so
adopting either is safe.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from viral.errors import Permanent
from viral.video.providers.base import (
    JobState,
    JobStatus,
    RenderRequest,
    SubmissionUncertain,
    VendorProvider,
    call_json,
)

VENDOR = "Luma"
_GENERATION_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_RUNNING = frozenset({"queued", "dreaming"})
LIST_LIMIT = 100
CLOCK_SKEW = timedelta(seconds=30)


class LumaProvider(VendorProvider):
    name = "luma"
    poll_interval_s = 10

    vendor = VENDOR
    default_base_url = "https://api.lumalabs.ai/dream-machine/v1"
    default_model = "ray-2"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key or ''}"}

    can_look_up = True

    def _body(self, request: RenderRequest) -> dict[str, Any]:
        return {
            "generation_type": "video",
            "model": self.model,
            "prompt": request.prompt[:4000],
            "aspect_ratio": "9:16",
            "resolution": "720p",
            "duration": "9s" if request.duration_s > 7 else "5s",
        }

    def submit(self, request: RenderRequest) -> str:
        body = self._body(request)
        answer = call_json(
            self.client, "POST", f"{self.base_url}/generations", VENDOR, submit=True, headers=self._headers(), json=body
        )
        generation_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(generation_id, str) or not _GENERATION_ID.match(generation_id):
            raise SubmissionUncertain(f"{VENDOR} accepted the submission without a generation id")
        return generation_id

    def poll(self, job_id: str) -> JobStatus:
        if not _GENERATION_ID.match(job_id):
            raise Permanent(f"{VENDOR} generation id is malformed")
        generation = call_json(
            self.client, "GET", f"{self.base_url}/generations/{job_id}", VENDOR, headers=self._headers()
        )
        if not isinstance(generation, dict):
            raise Permanent(f"{VENDOR} answered with an unexpected generation")
        return _status(generation)

    def look_up(self, request: RenderRequest, *, since: datetime) -> str | None:
        """The oldest generation made from this request's body since `since` (one page of the newest)."""
        page = call_json(
            self.client,
            "GET",
            f"{self.base_url}/generations",
            VENDOR,
            headers=self._headers(),
            params={"limit": LIST_LIMIT, "offset": 0},
        )
        generations = page.get("generations") if isinstance(page, dict) else None
        if not isinstance(generations, list):
            raise Permanent(f"{VENDOR} answered with an unexpected generation list")
        wanted = self._body(request)
        found = [
            (created, g["id"])
            for g in generations
            if isinstance(g, dict)
            and isinstance(g.get("id"), str)
            and _GENERATION_ID.match(g["id"])
            and _made_from(g.get("request"), wanted)
            and (created := _created(g.get("created_at"))) is not None
            and created >= since - CLOCK_SKEW
        ]
        return min(found)[1] if found else None


def _made_from(echo: Any, wanted: dict[str, Any]) -> bool:
    return isinstance(echo, dict) and all(echo.get(key) == value for key, value in wanted.items())


def _created(value: Any) -> datetime | None:
    try:
        created = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return created if created.tzinfo is not None else None


def _status(generation: dict[str, Any]) -> JobStatus:
    state = generation.get("state")
    if state in _RUNNING:
        return JobStatus(state=JobState.RUNNING)
    if state == "completed":
        video = (generation.get("assets") or {}).get("video")
        if isinstance(video, str) and video:
            return JobStatus(state=JobState.SUCCEEDED, result_url=video, progress=1.0)
        return JobStatus(state=JobState.FAILED, error="the generation completed without a video")
    if state == "failed":
        reason = str(generation.get("failure_reason") or "the generation failed")[:500]
        return JobStatus(state=JobState.FAILED, error=reason)
    raise Permanent(f"{VENDOR} reported an unknown generation state")

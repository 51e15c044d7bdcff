"""Runway's tasks API: `POST /v1/text_to_video` returns a task id, `GET /v1/tasks/{id}` reports it.

Every request carries `X-Runway-Version`. THROTTLED is a queued task, not an error. Output URLs are signed
and expire within 24 to 48 hours; polling the task again gives fresh ones.
"""

from __future__ import annotations

import re
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

VENDOR = "Runway"
API_VERSION = "2024-11-06"
_TASK_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_RUNNING = frozenset({"PENDING", "THROTTLED", "RUNNING"})
_DURATIONS = (4, 6, 8)


class RunwayProvider(VendorProvider):
    name = "runway"
    poll_interval_s = 10  # the vendor asks for no more than one poll every five seconds

    vendor = VENDOR
    default_base_url = "https://api.dev.runwayml.com"
    default_model = "veo3.1_fast"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key or ''}", "X-Runway-Version": API_VERSION}

    def submit(self, request: RenderRequest) -> str:
        body = {
            "model": self.model,
            "promptText": request.prompt[:1000],
            "ratio": "720:1280",
            "duration": min(_DURATIONS, key=lambda d: abs(d - request.duration_s)),
        }
        answer = call_json(
            self.client,
            "POST",
            f"{self.base_url}/v1/text_to_video",
            VENDOR,
            submit=True,
            headers=self._headers(),
            json=body,
        )
        task_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
            raise SubmissionUncertain(f"{VENDOR} accepted the submission without a task id")
        return task_id

    def poll(self, job_id: str) -> JobStatus:
        if not _TASK_ID.match(job_id):
            raise Permanent(f"{VENDOR} task id is malformed")
        task = call_json(self.client, "GET", f"{self.base_url}/v1/tasks/{job_id}", VENDOR, headers=self._headers())
        if not isinstance(task, dict):
            raise Permanent(f"{VENDOR} answered with an unexpected task")
        return _status(task)


def _status(task: dict[str, Any]) -> JobStatus:
    state = task.get("status")
    progress = task.get("progress") if isinstance(task.get("progress"), int | float) else None
    if state in _RUNNING:
        return JobStatus(state=JobState.RUNNING, progress=progress)
    if state == "SUCCEEDED":
        output = task.get("output") or []
        if output and isinstance(output[0], str):
            return JobStatus(state=JobState.SUCCEEDED, result_url=output[0], progress=1.0)
        return JobStatus(state=JobState.FAILED, error="the task succeeded without an output")
    if state in ("FAILED", "CANCELLED"):
        reason = str(task.get("failure") or f"the task was {str(state).lower()}")[:500]
        return JobStatus(state=JobState.FAILED, error=reason, details={"failureCode": task.get("failureCode")})
    raise Permanent(f"{VENDOR} reported an unknown task status")

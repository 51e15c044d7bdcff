"""Google Veo through the Gemini API: `:predictLongRunning` starts an operation, `GET /v1beta/{name}` polls it.

The finished operation names a file URI that needs the API key and redirects to storage; the key is sent to
the API host only. Generated files stay on Google's side for 2 days, so the worker copies them at once.
"""

from __future__ import annotations

import re
from typing import IO, Any
from urllib.parse import urlsplit

from viral.errors import Permanent
from viral.video.providers.base import (
    JobState,
    JobStatus,
    RenderRequest,
    SubmissionUncertain,
    VendorProvider,
    call_json,
    stream_to,
)

VENDOR = "Veo"
_OPERATION = re.compile(r"^models/[A-Za-z0-9._-]+/operations/[A-Za-z0-9._-]+$")
_DURATIONS = (4, 6, 8)


class VeoProvider(VendorProvider):
    name = "veo"
    poll_interval_s = 15  # requests take 11 s at best, up to 6 min at peak

    vendor = VENDOR
    default_base_url = "https://generativelanguage.googleapis.com"
    default_model = "veo-3.1-fast-generate-preview"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key or ""}

    def submit(self, request: RenderRequest) -> str:
        duration = min(_DURATIONS, key=lambda d: abs(d - request.duration_s))
        body = {
            "instances": [{"prompt": request.prompt[:4000]}],
            "parameters": {"aspectRatio": "9:16", "resolution": "720p", "durationSeconds": str(duration)},
        }
        answer = call_json(
            self.client,
            "POST",
            f"{self.base_url}/v1beta/models/{self.model}:predictLongRunning",
            VENDOR,
            submit=True,
            headers=self._headers(),
            json=body,
        )
        name = answer.get("name") if isinstance(answer, dict) else None
        if not isinstance(name, str) or not _OPERATION.match(name):
            raise SubmissionUncertain(f"{VENDOR} accepted the submission without an operation name")
        return name

    def poll(self, job_id: str) -> JobStatus:
        if not _OPERATION.match(job_id):
            raise Permanent(f"{VENDOR} operation name is malformed")
        answer = call_json(self.client, "GET", f"{self.base_url}/v1beta/{job_id}", VENDOR, headers=self._headers())
        if not isinstance(answer, dict):
            raise Permanent(f"{VENDOR} answered with an unexpected operation")
        if not answer.get("done"):
            return JobStatus(state=JobState.RUNNING)
        return _finished(answer)

    def download(self, status: JobStatus, sink: IO[bytes], request: RenderRequest) -> int:
        if not status.result_url:
            raise Permanent(f"{VENDOR} gave no result to download")
        return stream_to(
            self.client,
            status.result_url,
            sink,
            VENDOR,
            max_bytes=self.max_bytes,
            auth_headers=self._headers(),
            auth_host=urlsplit(self.base_url).hostname,
        )


def _finished(answer: dict[str, Any]) -> JobStatus:
    error = answer.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or "generation failed")[:500]
        return JobStatus(state=JobState.FAILED, error=message, details={"code": error.get("code")})
    video_response = (answer.get("response") or {}).get("generateVideoResponse") or {}
    samples = video_response.get("generatedSamples") or []
    uri = (samples[0].get("video") or {}).get("uri") if samples and isinstance(samples[0], dict) else None
    if isinstance(uri, str) and uri:
        return JobStatus(state=JobState.SUCCEEDED, result_url=uri, progress=1.0)
    if video_response.get("raiMediaFilteredCount"):
        reasons = video_response.get("raiMediaFilteredReasons") or []
        reason = "; ".join(str(r) for r in reasons)[:500] or "the video was blocked by the safety filter"
        return JobStatus(state=JobState.FAILED, error=reason, details={"filtered": True})
    return JobStatus(state=JobState.FAILED, error="the operation finished without a video")

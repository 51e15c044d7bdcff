"""Video generation providers: one adapter per vendor behind the VideoProvider protocol, plus the offline storyboard.

Every provider is create -> poll -> download: `submit` returns the vendor's job id (recorded before anything
else happens), `poll` reports the job's state, `download` streams the finished video into a file object.
Failures are typed: `Retryable` (timeouts, 5xx, 429: try the same call again later) or `Permanent` (this
provider cannot make this video; the pipeline falls back to the next one).
"""

from __future__ import annotations

from viral.video.providers.base import (
    DEFAULT_DURATION_S,
    JobState,
    JobStatus,
    RenderRequest,
    ResultExpired,
    ScriptLine,
    SubmissionUncertain,
    VideoProvider,
)

__all__ = [
    "DEFAULT_DURATION_S",
    "JobState",
    "JobStatus",
    "RenderRequest",
    "ResultExpired",
    "ScriptLine",
    "SubmissionUncertain",
    "VideoProvider",
]

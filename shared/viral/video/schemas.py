"""The video routes' answers: the original's status vocabulary, with the pipeline's finer state beside it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from viral.wire import CamelModel

VideoState = Literal["queued", "submitting", "reconciling", "rendering", "downloading", "validating", "ready", "failed"]
OriginalStatus = Literal["generating", "completed", "failed"]


def original_status(state: str) -> str:
    """The original's three values: clients poll `status` for `completed` (or `failed`)."""
    return {"ready": "completed", "failed": "failed"}.get(state, "generating")


class VideoAnswer(CamelModel):
    """A video as GET /api/video/status answered it in the original, plus what the pipeline knows about the file."""

    status: OriginalStatus = Field(description="generating, completed or failed (the original's values)")
    state: VideoState = Field(description="the pipeline's finer state")
    video_id: str
    video_url: str | None = Field(description="a short-lived download URL once completed")
    provider: str | None
    generated_at: str | None
    duration: float | None
    cost: float
    error: str | None
    concept_id: str
    platform: str
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    size_bytes: int | None = None
    quality: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None


class VideoNotStarted(CamelModel):
    status: Literal["not_started"]
    message: str


class VideoRequested(CamelModel):
    success: bool
    concept_id: str
    message: str
    status: Literal["queued", "generating", "completed", "failed"] = Field(
        description="queued for a new video; a repeat joins the video in flight and says where it is"
    )
    state: VideoState
    video_id: str
    provider: str | None


class VideoPage(CamelModel):
    videos: list[VideoAnswer]
    total: int
    limit: int
    offset: int


def video_answer(wire: dict[str, Any]) -> dict[str, Any]:
    """The service's video dict with the original's `status` and the pipeline's `state`."""
    return {**wire, "status": original_status(wire["status"]), "state": wire["status"]}

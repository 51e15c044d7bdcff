"""video-jobs: advance one video's state machine by one step (submit, poll, or download and check)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from viral.wire import CamelModel


class VideoJobMessage(CamelModel):
    """`step` is the video's step this message continues: a redelivered or stale message (lower step) is dropped,
    so a duplicate never submits, polls or re-enqueues twice."""

    schema_version: Literal[1] = 1
    video_id: uuid.UUID
    tenant_id: uuid.UUID
    job_id: uuid.UUID
    step: int = Field(default=0, ge=0, le=100_000)

"""post-jobs: advance one post's state machine (claim and publish, or check on it later)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from viral.wire import CamelModel


class PostJobMessage(CamelModel):
    """`step` is the post's step this message continues: a rescheduled or canceled post, or a message already
    acted on, has moved to a higher step, so a stale or redelivered message is dropped."""

    schema_version: Literal[1] = 1
    tenant_id: uuid.UUID
    post_id: uuid.UUID
    step: int = Field(default=0, ge=0, le=1_000_000)

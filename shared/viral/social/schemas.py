"""Wire bodies of the social routes (camelCase on the wire)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from viral.wire import CamelModel

PlatformName = Literal["tiktok", "youtube", "instagram", "sandbox"]
PostStatus = Literal["scheduled", "publishing", "processing", "published", "failed", "unconfirmed", "canceled"]
Hashtag = Annotated[str, StringConstraints(pattern=r"^#?[\w]{1,100}$")]
Privacy = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]{1,32}$")]


class Disclosure(CamelModel):
    """What the post declares; unset fields take the safe default (AI label on for generated videos, made for kids
    declared as no, interactions off)."""

    ai_generated: bool | None = None
    made_for_kids: bool | None = None
    branded_content: bool | None = None
    allow_comments: bool | None = None
    allow_duet: bool | None = None
    allow_stitch: bool | None = None


class PostCreateBody(CamelModel):
    video_id: uuid.UUID
    account_ids: list[uuid.UUID] = Field(min_length=1, max_length=20)
    caption: Annotated[str, StringConstraints(max_length=2200)] | None = None
    hashtags: list[Hashtag] = Field(default_factory=list, max_length=30)
    scheduled_at: datetime | None = None
    privacy: Privacy | None = None
    disclosure: Disclosure | None = None


class PostPatchBody(CamelModel):
    scheduled_at: datetime

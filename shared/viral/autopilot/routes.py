"""/api/autopilot: the tenant's autopilot settings and what it did today."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ConfigDict, Field, field_validator, model_validator

from viral.autopilot.service import autopilot_answer, update_settings
from viral.http.access import require_admin, require_scope
from viral.http.openapi import answers
from viral.wire import CamelModel

router = Router()

Hour = Annotated[int, Field(ge=0, le=23)]
# Fields whose null means something (every connected account; the automatic share); the others may be left out,
# never null.
NULLABLE = frozenset({"account_ids", "exploration_share"})


class AutopilotBody(CamelModel):
    """The settings to change; those left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(
        default=None, description="run the autopilot (turning it on turns on daily generation)"
    )
    videos_per_day: int | None = Field(default=None, ge=1, le=20, description="videos made and posted a day")
    account_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=50, description="connected accounts to post to; null: every connected account"
    )
    exploration_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="share of the day's picks given to the least-tried category; null: automatic (1 in 3 from 3 "
        "videos a day, else none)",
    )
    distribution: Literal["round_robin", "all_accounts"] | None = Field(
        default=None, description="each video to one account in turn, or every video to every account"
    )
    posting: Literal["asap", "hours"] | None = Field(
        default=None, description="post as soon as a video is ready, or at the postingHours"
    )
    posting_hours: list[Hour] | None = Field(
        default=None, max_length=24, description="hours of the day (UTC) posts go out at, when posting is 'hours'"
    )

    @field_validator("account_ids", "posting_hours")
    @classmethod
    def _no_repeats(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("must not repeat an item")
        return value

    @model_validator(mode="after")
    def _null_only_where_it_means_something(self) -> AutopilotBody:
        nulls = [n for n in self.model_fields_set - NULLABLE if getattr(self, n) is None]
        if nulls:
            raise ValueError(f"{', '.join(sorted(nulls))} may be left out but not null")
        return self

    def changes(self) -> dict[str, Any]:
        changed = {name: getattr(self, name) for name in self.model_fields_set}
        if changed.get("exploration_share") is not None:
            changed["exploration_share"] = Decimal(str(round(changed["exploration_share"], 3)))
        return changed


class AutopilotPost(CamelModel):
    account_id: str
    post_id: str | None
    status: Literal["claimed", "scheduled", "failed"]
    error: str | None


class AutopilotPick(CamelModel):
    slot: int
    concept_id: str
    title: str | None
    category: str
    kind: Literal["top", "exploration"]
    platform: str
    score: float
    status: Literal["picked", "rendering", "posted", "refused", "failed"]
    video_id: str | None
    video_status: str | None
    account_id: str | None
    error: str | None
    posts: list[AutopilotPost]


class AutopilotStatus(CamelModel):
    day: str
    picks: list[AutopilotPick]
    videos_in_progress: int
    posts_made: int
    stopped: Literal["quota"] | None
    last_run_at: str | None
    last_run: dict[str, Any] | None


class AutopilotAnswer(CamelModel):
    enabled: bool
    videos_per_day: int
    account_ids: list[str] | None
    exploration_share: float | None
    exploration_picks: int
    distribution: str
    posting: str
    posting_hours: list[int]
    daily_generation: bool
    status: AutopilotStatus


@router.get(
    "/api/autopilot",
    summary="The autopilot's settings and today's status: picks, videos in progress, posts made, last run",
    responses=answers(AutopilotAnswer),
)
def get_autopilot() -> dict[str, Any]:
    require_scope(router, "read")
    return autopilot_answer()


@router.put(
    "/api/autopilot",
    summary="Change the autopilot's settings (fields left out keep their value); the settings and status",
    responses=answers(AutopilotAnswer),
)
def put_autopilot(body: AutopilotBody) -> dict[str, Any]:
    require_admin(router, what="the autopilot")
    update_settings(body.changes())
    return autopilot_answer()

"""The tenant's autopilot rows (settings, picks, posted accounts), what picking reads, and the system listing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from viral.db.models import (
    AutopilotPick,
    AutopilotPost,
    AutopilotSettings,
    Concept,
    Job,
    SocialPost,
    Tenant,
    Video,
)
from viral.db.repository import TenantRepositoryBase


@dataclass(frozen=True)
class SettingsRecord:
    tenant_id: uuid.UUID
    enabled: bool
    videos_per_day: int
    account_ids: list[uuid.UUID] | None
    exploration_share: Decimal | None
    distribution: str
    posting: str
    posting_hours: list[int]
    run_lease_until: datetime | None
    last_run_at: datetime | None
    last_run: dict[str, Any]


DEFAULTS = SettingsRecord(
    tenant_id=uuid.UUID(int=0),
    enabled=False,
    videos_per_day=3,
    account_ids=None,
    exploration_share=None,
    distribution="round_robin",
    posting="asap",
    posting_hours=[],
    run_lease_until=None,
    last_run_at=None,
    last_run={},
)
EDITABLE = ("enabled", "videos_per_day", "account_ids", "exploration_share", "distribution", "posting", "posting_hours")


@dataclass(frozen=True)
class PickRecord:
    id: uuid.UUID
    day: date
    slot: int
    concept_id: str
    kind: str
    category: str
    platform: str
    score: Decimal
    account_id: uuid.UUID | None
    status: str
    video_id: uuid.UUID | None
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class PostedRecord:
    pick_id: uuid.UUID
    account_id: uuid.UUID
    post_id: uuid.UUID | None
    status: str
    error: str | None


def _settings(row: AutopilotSettings) -> SettingsRecord:
    return SettingsRecord(**{f.name: getattr(row, f.name) for f in fields(SettingsRecord)})


def _pick(row: AutopilotPick) -> PickRecord:
    return PickRecord(**{f.name: getattr(row, f.name) for f in fields(PickRecord)})


def _posted(row: AutopilotPost) -> PostedRecord:
    return PostedRecord(**{f.name: getattr(row, f.name) for f in fields(PostedRecord)})


class AutopilotRepository(TenantRepositoryBase[AutopilotSettings]):
    model = AutopilotSettings

    # --- settings ---------------------------------------------------------------------------------------

    def settings(self) -> SettingsRecord | None:
        row = self.session.scalars(self._select()).one_or_none()
        return None if row is None else _settings(row)

    def save_settings(self, **values: Any) -> SettingsRecord:
        """Insert or update the tenant's settings with `values` (editable fields only); the row as stored."""
        values = {k: v for k, v in values.items() if k in EDITABLE}
        statement = (
            insert(AutopilotSettings)
            .values(self._stamp(values))
            .on_conflict_do_update(
                index_elements=[AutopilotSettings.tenant_id], set_={**values, "updated_at": func.now()}
            )
            .returning(AutopilotSettings)
        )
        row = self.session.scalars(statement, execution_options={"populate_existing": True}).one()
        return _settings(row)

    def take_lease(self, now: datetime, until: datetime) -> SettingsRecord | None:
        """Lease the tenant's run when the autopilot is on and no other run holds it; the settings, else None."""
        statement = (
            update(AutopilotSettings)
            .where(
                AutopilotSettings.tenant_id == self.tenant_id,
                AutopilotSettings.enabled.is_(True),
                (AutopilotSettings.run_lease_until.is_(None)) | (AutopilotSettings.run_lease_until < now),
            )
            .values(run_lease_until=until)
            .returning(AutopilotSettings)
        )
        row = self.session.scalars(statement, execution_options={"populate_existing": True}).one_or_none()
        return None if row is None else _settings(row)

    def finish_run(self, *, at: datetime, summary: dict[str, Any]) -> None:
        self.session.execute(
            update(AutopilotSettings)
            .where(AutopilotSettings.tenant_id == self.tenant_id)
            .values(run_lease_until=None, last_run_at=at, last_run=summary)
        )

    def daily_generation_enabled(self) -> bool:
        return bool(self.session.scalar(select(Tenant.daily_generation_enabled).where(Tenant.id == self.tenant_id)))

    # --- what picking reads -----------------------------------------------------------------------------

    def daily_job(self, day: date, job_type: str) -> tuple[str, str | None, str | None] | None:
        """Today's daily generation job: (status, generation id, error), or None when it was not enqueued."""
        row = self.session.execute(
            select(Job.status, Job.result, Job.error_message).where(
                Job.tenant_id == self.tenant_id, Job.job_type == job_type, Job.idempotency_key == f"daily:{day}"
            )
        ).one_or_none()
        if row is None:
            return None
        generation = (row.result or {}).get("generationId")
        return row.status, str(generation) if generation else None, row.error_message

    def candidates(self, generation_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        """The generation's concepts with no video and no pick yet: (id, category, data)."""
        has_video = select(Video.id).where(Video.tenant_id == self.tenant_id, Video.concept_id == Concept.id)
        has_pick = select(AutopilotPick.id).where(
            AutopilotPick.tenant_id == self.tenant_id, AutopilotPick.concept_id == Concept.id
        )
        statement = (
            select(Concept.id, Concept.category, Concept.data)
            .where(
                Concept.tenant_id == self.tenant_id,
                Concept.generation_id == generation_id,
                ~has_video.exists(),
                ~has_pick.exists(),
            )
            .order_by(Concept.position)
        )
        return [(row.id, row.category, row.data) for row in self.session.execute(statement)]

    def tries_per_cell(self) -> dict[tuple[str, str], int]:
        """Videos made so far per (category, platform): how often the learner could have seen each cell."""
        statement = (
            select(Video.category, Video.platform, func.count())
            .where(Video.tenant_id == self.tenant_id, Video.category.is_not(None))
            .group_by(Video.category, Video.platform)
        )
        return {(str(c), str(p)): int(count) for c, p, count in self.session.execute(statement)}

    def concept_data(self, concept_id: str) -> dict[str, Any] | None:
        return self.session.scalar(
            select(Concept.data).where(Concept.tenant_id == self.tenant_id, Concept.id == concept_id)
        )

    def titles(self, concept_ids: list[str]) -> dict[str, str]:
        if not concept_ids:
            return {}
        statement = select(Concept.id, Concept.title).where(
            Concept.tenant_id == self.tenant_id, Concept.id.in_(concept_ids)
        )
        return {concept: title for concept, title in self.session.execute(statement)}

    def video_states(self, video_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, str | None]]:
        """Each video's status and error (videos that no longer exist are left out)."""
        if not video_ids:
            return {}
        statement = select(Video.id, Video.status, Video.error_message).where(
            Video.tenant_id == self.tenant_id, Video.id.in_(video_ids)
        )
        return {row.id: (row.status, row.error_message) for row in self.session.execute(statement)}

    def video_since(self, concept_id: str, platform: str, since: datetime) -> uuid.UUID | None:
        """A video of the concept and platform requested since `since` (a run that died before recording it)."""
        return self.session.scalar(
            select(Video.id)
            .where(
                Video.tenant_id == self.tenant_id,
                Video.concept_id == concept_id,
                Video.platform == platform,
                Video.created_at >= since,
            )
            .order_by(Video.created_at)
            .limit(1)
        )

    def posts_of_video(self, video_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
        """The video's posts by account (any status): what a run that died before recording them had made."""
        statement = select(SocialPost.account_id, SocialPost.id).where(
            SocialPost.tenant_id == self.tenant_id, SocialPost.video_id == video_id
        )
        return {account: post for account, post in self.session.execute(statement)}

    # --- picks --------------------------------------------------------------------------------------------

    def picks_of(self, day: date) -> list[PickRecord]:
        statement = select(AutopilotPick).where(AutopilotPick.tenant_id == self.tenant_id, AutopilotPick.day == day)
        return [_pick(row) for row in self.session.scalars(statement.order_by(AutopilotPick.slot))]

    def picks_in(self, status: str) -> list[PickRecord]:
        statement = select(AutopilotPick).where(
            AutopilotPick.tenant_id == self.tenant_id, AutopilotPick.status == status
        )
        return [_pick(row) for row in self.session.scalars(statement.order_by(AutopilotPick.day, AutopilotPick.slot))]

    def add_picks(self, values: list[dict[str, Any]]) -> list[PickRecord]:
        """Insert picks; one whose day and slot, or concept, is taken already is skipped. The ones inserted."""
        if not values:
            return []
        statement = (
            insert(AutopilotPick)
            .values([self._stamp(v) for v in values])
            .on_conflict_do_nothing()
            .returning(AutopilotPick)
        )
        return [_pick(row) for row in self.session.scalars(statement)]

    def update_pick(self, pick_id: uuid.UUID, **values: Any) -> None:
        self.session.execute(
            update(AutopilotPick)
            .where(AutopilotPick.tenant_id == self.tenant_id, AutopilotPick.id == pick_id)
            .values(**values)
        )

    def refuse_unsubmitted(self, *, error: str) -> int:
        """Every pick not yet submitted is refused (the quota said no): none is tried again."""
        result: Any = self.session.execute(
            update(AutopilotPick)
            .where(AutopilotPick.tenant_id == self.tenant_id, AutopilotPick.status == "picked")
            .values(status="refused", error=error)
        )
        return int(result.rowcount)

    # --- posted accounts ------------------------------------------------------------------------------------

    def claim_accounts(self, pick_id: uuid.UUID, account_ids: list[uuid.UUID]) -> None:
        """Claim each (pick, account) once: a second claim of the same pair does nothing."""
        if not account_ids:
            return
        statement = insert(AutopilotPost).values(
            [self._stamp({"pick_id": pick_id, "account_id": account}) for account in account_ids]
        )
        self.session.execute(statement.on_conflict_do_nothing())

    def posted(self, pick_ids: list[uuid.UUID]) -> list[PostedRecord]:
        if not pick_ids:
            return []
        statement = select(AutopilotPost).where(
            AutopilotPost.tenant_id == self.tenant_id, AutopilotPost.pick_id.in_(pick_ids)
        )
        return [_posted(row) for row in self.session.scalars(statement.order_by(AutopilotPost.created_at))]

    def record_post(
        self, pick_id: uuid.UUID, account_id: uuid.UUID, *, status: str, post_id: uuid.UUID | None, error: str | None
    ) -> None:
        self.session.execute(
            update(AutopilotPost)
            .where(
                AutopilotPost.tenant_id == self.tenant_id,
                AutopilotPost.pick_id == pick_id,
                AutopilotPost.account_id == account_id,
            )
            .values(status=status, post_id=post_id, error=error)
        )


class AutopilotSystemRepository:
    """The schedule's system path: which tenants have the autopilot on (nothing else of their settings)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def enabled_tenants(self) -> list[uuid.UUID]:
        statement = (
            select(AutopilotSettings.tenant_id)
            .where(AutopilotSettings.enabled.is_(True))
            .order_by(AutopilotSettings.tenant_id)
        )
        return list(self.session.scalars(statement))

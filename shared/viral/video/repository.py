"""The tenant's videos (with their state machine), the concepts they render and the monthly video quota."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from viral.db.models import VIDEO_IN_FLIGHT, Concept, Job, Video
from viral.db.repository import TenantRepositoryBase


@dataclass(frozen=True)
class VideoRecord:
    """A video as services see it (the ORM row stays in the repository)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    concept_id: str | None
    category: str | None
    platform: str
    provider: str
    status: str
    provider_job_id: str | None
    provider_chain: list[Any]
    provider_history: list[Any]
    step: int
    attempts: int
    lease_until: datetime | None
    submitted_at: datetime | None
    next_poll_at: datetime | None
    s3_key: str | None
    source_etag: str | None
    duration_s: Decimal | None
    width: int | None
    height: int | None
    codec: str | None
    size_bytes: int | None
    quality_report: dict[str, Any] | None
    error_message: str | None
    generation_cost: Decimal
    generated_at: datetime | None
    created_at: datetime
    updated_at: datetime


_FIELDS = tuple(f.name for f in fields(VideoRecord))


def _record(row: Video) -> VideoRecord:
    return VideoRecord(**{name: getattr(row, name) for name in _FIELDS})


@dataclass(frozen=True)
class ConceptSource:
    """What a video is rendered from: the concept's id, category and full ViralConcept JSON."""

    id: str
    category: str
    data: dict[str, Any]


@dataclass(frozen=True)
class VideoQuota:
    granted: bool
    used: int
    total: int


# One statement, atomic under concurrency: the row lock serialises callers and each re-checks the limit. The
# limit is the plan's (:limits, JSON tier -> videos) or the tenant's own column, whichever is larger.
_PLAN = """
with plan as (
  select greatest(monthly_video_quota, coalesce((cast(:limits as jsonb) ->> subscription_tier)::int, 0)) as total
    from tenants where id = :tenant
)
"""
_CONSUME = text(
    _PLAN
    + """
update tenants set used_video_quota = used_video_quota + 1, updated_at = now()
  from plan
 where id = :tenant and used_video_quota < plan.total
returning used_video_quota, plan.total
"""
)
_QUOTA = text(
    _PLAN
    + """
select used_video_quota, plan.total from tenants, plan where id = :tenant
"""
)
# A refund goes back into the period the video was charged to: once the quota period rolled over (a reset set a
# later period start), the old period is closed and the new one owes nothing, so nothing is credited.
_REFUND = text("""
update tenants set used_video_quota = greatest(used_video_quota - 1, 0), updated_at = now()
 where id = :tenant and (quota_period_start is null or quota_period_start <= :taken_at)
""")


class VideoRepository(TenantRepositoryBase[Video]):
    model = Video

    def concept(self, concept_id: str) -> ConceptSource | None:
        row = self.session.execute(
            select(Concept.id, Concept.category, Concept.data).where(
                Concept.tenant_id == self.tenant_id, Concept.id == concept_id
            )
        ).one_or_none()
        return None if row is None else ConceptSource(id=row.id, category=row.category, data=row.data)

    def create_in_flight(
        self, *, concept_id: str, category: str, platform: str, provider_chain: list[str]
    ) -> VideoRecord | None:
        """A new queued video, or None when this concept and platform already have one in flight."""
        values = self._stamp(
            {
                "concept_id": concept_id,
                "category": category,
                "platform": platform,
                "provider": provider_chain[0],
                "provider_chain": provider_chain,
                "status": "queued",
            }
        )
        statement = (
            insert(Video)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=[Video.tenant_id, Video.concept_id, Video.platform],
                index_where=Video.status.in_(VIDEO_IN_FLIGHT),
            )
            .returning(Video)
        )
        row = self.session.scalars(statement).one_or_none()
        return None if row is None else _record(row)

    def in_flight(self, concept_id: str, platform: str) -> VideoRecord | None:
        statement = self._select().where(
            Video.concept_id == concept_id, Video.platform == platform, Video.status.in_(VIDEO_IN_FLIGHT)
        )
        row = self.session.scalars(statement).one_or_none()
        return None if row is None else _record(row)

    def register_upload(
        self, *, s3_key: str, etag: str, platform: str, concept_id: str | None, category: str | None
    ) -> tuple[VideoRecord, bool]:
        """The video of an uploaded object: created now (True) or registered by an earlier notification (False)."""
        values = self._stamp(
            {
                "s3_key": s3_key,
                "source_etag": etag,
                "platform": platform,
                "concept_id": concept_id,
                "category": category,
                "provider": "upload",
                "provider_chain": ["upload"],
                "status": "validating",
            }
        )
        statement = (
            insert(Video)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=[Video.tenant_id, Video.s3_key, Video.source_etag],
                index_where=Video.source_etag.is_not(None),
            )
            .returning(Video)
        )
        row = self.session.scalars(statement).one_or_none()
        if row is not None:
            return _record(row), True
        existing = self.session.scalars(
            self._select().where(Video.s3_key == s3_key, Video.source_etag == etag).with_for_update()
        ).one()
        return _record(existing), False

    def consume_quota(self, plan_limits: str = "{}") -> VideoQuota:
        """Take one video from this month's quota, or say it is used up (`plan_limits`: JSON tier -> videos)."""
        params = {"tenant": self.tenant_id, "limits": plan_limits}
        row = self.session.execute(_CONSUME, params).one_or_none()
        if row is not None:
            return VideoQuota(granted=True, used=row[0], total=row[1])
        used, total = self.session.execute(_QUOTA, params).one()
        return VideoQuota(granted=False, used=used, total=total)

    def refund_quota(self, *, taken_at: datetime) -> bool:
        """Give back the video charged at `taken_at`, if its quota period is still the current one; whether it was."""
        result: Any = self.session.execute(_REFUND, {"tenant": self.tenant_id, "taken_at": taken_at})
        return bool(result.rowcount)

    def get(self, video_id: uuid.UUID) -> VideoRecord | None:
        row = self.session.scalars(self._select().where(Video.id == video_id)).one_or_none()
        return None if row is None else _record(row)

    def lock(self, video_id: uuid.UUID) -> VideoRecord | None:
        """The video, locked until the transaction ends (a concurrent delivery waits, then sees the new state)."""
        row = self.session.scalars(self._select().where(Video.id == video_id).with_for_update()).one_or_none()
        return None if row is None else _record(row)

    def lock_with_concept(self, video_id: uuid.UUID) -> tuple[VideoRecord, dict[str, Any] | None] | None:
        """The video locked (as `lock`) and its concept's JSON (None for an upload or a deleted concept): one
        statement."""
        statement = (
            self._select(Video, Concept.data)
            .outerjoin(Concept, (Concept.tenant_id == Video.tenant_id) & (Concept.id == Video.concept_id))
            .where(Video.id == video_id)
            .with_for_update(of=Video)
        )
        row = self.session.execute(statement).one_or_none()
        return None if row is None else (_record(row[0]), row[1])

    def take_step(self, video_id: uuid.UUID, *, step: int, status: str, **values: Any) -> bool:
        """Move the video from `step` to the next one if it is still at `step` in `status` (one statement, which
        locks the row); False when another message owns it now."""
        statement = (
            update(Video)
            .where(Video.tenant_id == self.tenant_id, Video.id == video_id, Video.step == step, Video.status == status)
            .values(step=step + 1, lease_until=None, **values)
            .returning(Video.id)
        )
        return self.session.execute(statement).one_or_none() is not None

    def update(self, video_id: uuid.UUID, **values: Any) -> None:
        self.session.execute(
            update(Video).where(Video.tenant_id == self.tenant_id, Video.id == video_id).values(**values)
        )

    def latest_for_concept(self, concept_id: str, platform: str | None = None) -> VideoRecord | None:
        statement = self._select().where(Video.concept_id == concept_id)
        if platform is not None:
            statement = statement.where(Video.platform == platform)
        row = self.session.scalars(statement.order_by(Video.created_at.desc(), Video.id).limit(1)).first()
        return None if row is None else _record(row)

    def _filtered(self, statement: Any, status: str | None, concept_id: str | None) -> Any:
        if status is not None:
            statement = statement.where(Video.status == status)
        if concept_id is not None:
            statement = statement.where(Video.concept_id == concept_id)
        return statement

    def newest(
        self, *, limit: int, offset: int = 0, status: str | None = None, concept_id: str | None = None
    ) -> list[VideoRecord]:
        statement = self._filtered(self._select(), status, concept_id)
        statement = statement.order_by(Video.created_at.desc(), Video.id).limit(limit).offset(offset)
        return [_record(row) for row in self.session.scalars(statement)]

    def count(self, *, status: str | None = None, concept_id: str | None = None) -> int:
        statement = self._filtered(self._select(func.count()), status, concept_id)
        return int(self.session.execute(statement).scalar_one())

    def start_job(self, job_id: uuid.UUID) -> None:
        """Mark the video's ledger job running (the job ledger's own repository has no such step)."""
        self.session.execute(
            update(Job)
            .where(Job.tenant_id == self.tenant_id, Job.id == job_id, Job.status == "pending")
            .values(status="running", started_at=func.now())
        )

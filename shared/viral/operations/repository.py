"""The tenant's job ledger, rate-limit windows and feedback aggregates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, text, update
from sqlalchemy.dialects.postgresql import insert

from viral.db.models import Job, RateLimitWindow
from viral.db.repository import TenantRepositoryBase


@dataclass(frozen=True)
class JobRecord:
    id: uuid.UUID
    job_type: str
    status: str
    priority: int
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error_message: str | None
    attempts: int
    max_attempts: int
    scheduled_for: datetime
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


def _job(row: Job) -> JobRecord:
    return JobRecord(
        id=row.id,
        job_type=row.job_type,
        status=row.status,
        priority=row.priority,
        payload=row.payload,
        result=row.result,
        error_message=row.error_message,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        scheduled_for=row.scheduled_for,
        started_at=row.started_at,
        completed_at=row.completed_at,
        created_at=row.created_at,
    )


class JobRepository(TenantRepositoryBase[Job]):
    model = Job

    def add(self, *, job_type: str, payload: dict[str, Any], priority: int = 5) -> JobRecord:
        values = self._stamp({"job_type": job_type, "payload": payload, "priority": priority})
        return _job(self.session.scalars(insert(Job).values(values).returning(Job)).one())

    def enqueue(
        self, *, job_type: str, payload: dict[str, Any], idempotency_key: str, priority: int = 5
    ) -> tuple[JobRecord, bool]:
        """The job for this key: created now (True), or the one created before (False)."""
        values = self._stamp(
            {"job_type": job_type, "payload": payload, "priority": priority, "idempotency_key": idempotency_key}
        )
        created = self.session.scalars(
            insert(Job).values(values).on_conflict_do_nothing(constraint="uq_jobs_idempotency").returning(Job)
        ).one_or_none()
        if created is not None:
            return _job(created), True
        existing = self.session.scalars(self._select().where(Job.idempotency_key == idempotency_key)).one()
        return _job(existing), False

    def lock(self, job_id: uuid.UUID) -> JobRecord | None:
        """The job, locked until the transaction ends (a duplicate delivery waits, then sees the outcome)."""
        row = self.session.scalars(self._select().where(Job.id == job_id).with_for_update()).one_or_none()
        return None if row is None else _job(row)

    def start(self, job_id: uuid.UUID) -> None:
        """Mark a job running (when it started shows in the ledger; the sweeper finds it if it never finishes)."""
        self.session.execute(
            self._update_one(job_id).values(status="running", started_at=func.now(), attempts=Job.attempts + 1)
        )

    def _update_one(self, job_id: uuid.UUID) -> Any:
        return update(Job).where(Job.tenant_id == self.tenant_id, Job.id == job_id)

    def finish(
        self, job_id: uuid.UUID, *, status: str, result: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        self.session.execute(
            self._update_one(job_id).values(
                status=status,
                result=result,
                error_message=error,
                # A job claimed with start() counted its attempt then; one finished directly counts it now.
                attempts=case((Job.status == "running", Job.attempts), else_=Job.attempts + 1),
                started_at=func.coalesce(Job.started_at, func.now()),
                completed_at=func.now(),
            )
        )

    def newest(
        self, *, limit: int, offset: int = 0, status: str | None = None, job_type: str | None = None
    ) -> list[JobRecord]:
        statement = self._select()
        if status is not None:
            statement = statement.where(Job.status == status)
        if job_type is not None:
            statement = statement.where(Job.job_type == job_type)
        statement = statement.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
        return [_job(row) for row in self.session.scalars(statement)]


@dataclass(frozen=True)
class WindowState:
    count: int
    window_start: datetime
    tier: str


class RateLimitRepository(TenantRepositoryBase[RateLimitWindow]):
    model = RateLimitWindow

    def hit(self, bucket: str, *, window_seconds: int) -> WindowState:
        """Count one request in the current fixed window (a new window once the old one expired).

        One statement that also binds the tenant for its transaction (see unit_of_work(bind=False)): the insert's
        row comes from the CTE that calls set_config, so the binding precedes every row-level-security check.
        """
        row = self.session.execute(
            _HIT, {"tenant": str(self.tenant_id), "bucket": bucket, "window": int(window_seconds)}
        ).one()
        return WindowState(count=row[0], window_start=row[1], tier=row[2] or "FREE")

    def refund(self, bucket: str, *, window_start: datetime) -> None:
        """Take back one request counted in that window (if the window is still the current one)."""
        self.session.execute(
            update(RateLimitWindow)
            .where(
                RateLimitWindow.tenant_id == self.tenant_id,
                RateLimitWindow.bucket == bucket,
                RateLimitWindow.window_start == window_start,
                RateLimitWindow.count > 0,
            )
            .values(count=RateLimitWindow.count - 1)
        )


_HIT = text("""
with bound as (select set_config('app.tenant_id', :tenant, true) as tenant)
insert into rate_limits (tenant_id, bucket, count, window_start)
select cast(bound.tenant as uuid), :bucket, 1, now() from bound
on conflict (tenant_id, bucket) do update set
  count = case when rate_limits.window_start <= now() - make_interval(secs => :window) then 1
               else rate_limits.count + 1 end,
  window_start = case when rate_limits.window_start <= now() - make_interval(secs => :window) then now()
                      else rate_limits.window_start end
returning count, window_start, (select t.subscription_tier from tenants t where t.id = rate_limits.tenant_id)
""")


FEEDBACK_SUMMARY = text("""
with fb as (
  select * from performance_feedback where tenant_id = :tenant
), per_category as (
  select category, count(*) as entries, avg(views)::float as avg_views, avg(engagement_rate)::float as avg_rate
    from fb group by category
), best as (
  select distinct on (category) category, concept_id, engagement_rate::float as rate
    from fb order by category, engagement_rate desc, reported_at desc
), category_platform as (
  select category, platform, count(*) as entries, avg(engagement_rate)::float as avg_rate
    from fb group by category, platform
)
select
  (select coalesce(jsonb_object_agg(platform, jsonb_build_object(
            'totalEntries', n, 'avgEngagement', round(avg_rate::numeric, 2), 'avgViews', round(avg_views::numeric))),
          '{}'::jsonb)
     from (select platform, count(*) as n, avg(engagement_rate)::float as avg_rate, avg(views)::float as avg_views
             from fb group by platform) p) as platforms,
  (select coalesce(jsonb_agg(jsonb_build_object(
            'category', c.category,
            'stats', jsonb_build_object(
              'totalEntries', c.entries,
              'avgViews', round(c.avg_views::numeric),
              'avgEngagementRate', round(c.avg_rate::numeric, 2),
              'bestPerforming', jsonb_build_object('conceptId', b.concept_id, 'engagementRate', b.rate),
              'platformBreakdown', (select jsonb_object_agg(cp.platform, jsonb_build_object(
                                        'entries', cp.entries, 'avgEngagement', round(cp.avg_rate::numeric, 2)))
                                      from category_platform cp where cp.category = c.category)))
          order by c.avg_rate desc), '[]'::jsonb)
     from (select * from per_category order by avg_rate desc limit 5) c
     join best b on b.category = c.category) as top_categories
""")


def feedback_summary(repo: TenantRepositoryBase[Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per-platform comparison and the five categories with the best engagement, aggregated in SQL."""
    row = repo.session.execute(FEEDBACK_SUMMARY, {"tenant": repo.tenant_id}).one()
    return row.platforms, row.top_categories

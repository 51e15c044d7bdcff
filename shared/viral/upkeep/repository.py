"""The sweeper's repositories: the system listing (ids only, every tenant) and the tenant-side conditional claims.

Every claim is one conditional UPDATE: it takes the row lock and re-checks "still stuck" at once, so of two sweepers
running together only one claims a row; the other finds it fresh and leaves it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, text, update
from sqlalchemy.orm import Session

from viral.db.models import Job, SocialPost, Video
from viral.db.repository import TenantRepositoryBase


@dataclass(frozen=True)
class StuckRow:
    """What the system listing reveals of a stuck row: whose it is and which one, nothing else."""

    tenant_id: uuid.UUID
    id: uuid.UUID


_QUEUED_VIDEOS = text("""
select tenant_id, id from videos
 where status = 'queued' and updated_at < now() - make_interval(secs => :idle)
 order by updated_at
 limit :limit
""")
# Pending jobs are measured from when they were (last) sent, running ones from when they (last) started.
_STALLED_JOBS = text("""
select tenant_id, id from job_queue
 where status in ('pending', 'running')
   and (cast(:only as text[]) is null or job_type = any(cast(:only as text[])))
   and job_type <> all(cast(:skip as text[]))
   and (case when status = 'running' then started_at else scheduled_for end) < now() - make_interval(secs => :idle)
 order by created_at
 limit :limit
""")
_SILENT_POSTS = text("""
select tenant_id, id from social_posts
 where status in ('publishing', 'processing') and updated_at < now() - make_interval(secs => :idle)
 order by updated_at
 limit :limit
""")


def _rows(found: Sequence[Any]) -> list[StuckRow]:
    return [StuckRow(tenant_id=row[0], id=row[1]) for row in found]


class StuckWorkSystemRepository:
    """The system path of the sweeper: lists stuck rows of every tenant by id (the role reads no content, 0013)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def queued_videos(self, *, idle_s: int, limit: int) -> list[StuckRow]:
        """Videos still `queued` with no change for `idle_s` seconds (their message was never sent, or lost)."""
        return _rows(self.session.execute(_QUEUED_VIDEOS, {"idle": idle_s, "limit": limit}).all())

    def stalled_jobs(
        self, *, idle_s: int, limit: int, only: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()
    ) -> list[StuckRow]:
        """Ledger jobs `pending` or `running` for `idle_s` seconds, of the `only` types (default: all) but `skip`."""
        params = {"idle": idle_s, "limit": limit, "only": None if only is None else list(only), "skip": list(skip)}
        return _rows(self.session.execute(_STALLED_JOBS, params).all())

    def silent_posts(self, *, idle_s: int, limit: int) -> list[StuckRow]:
        """Posts `publishing` or `processing` with no change for `idle_s` seconds (their next message was lost)."""
        return _rows(self.session.execute(_SILENT_POSTS, {"idle": idle_s, "limit": limit}).all())


def _idle_since(seconds: int) -> Any:
    return func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds)


@dataclass(frozen=True)
class ClaimedVideo:
    id: uuid.UUID
    step: int
    provider: str
    concept_id: str | None
    created_at: datetime


class StuckVideoRepository(TenantRepositoryBase[Video]):
    """The tenant's side of the video sweep."""

    model = Video

    def claim_queued(self, video_id: uuid.UUID, *, idle_s: int) -> ClaimedVideo | None:
        """Stamp a still-stuck queued video as seen now (so no other sweep takes it this round); None if it moved."""
        row = self.session.execute(
            update(Video)
            .where(
                Video.tenant_id == self.tenant_id,
                Video.id == video_id,
                Video.status == "queued",
                Video.updated_at < _idle_since(idle_s),
            )
            .values(updated_at=func.now())
            .returning(Video.id, Video.step, Video.provider, Video.concept_id, Video.created_at)
        ).one_or_none()
        if row is None:
            return None
        return ClaimedVideo(id=row[0], step=row[1], provider=row[2], concept_id=row[3], created_at=row[4])

    def fail_queued(self, video_id: uuid.UUID, *, status: str, reason: str) -> None:
        """Fail a claimed queued video; the step moves on so a late message for it is dropped as stale."""
        self.session.execute(
            update(Video)
            .where(Video.tenant_id == self.tenant_id, Video.id == video_id, Video.status == "queued")
            .values(status=status, error_message=reason, step=Video.step + 1, lease_until=None)
        )


@dataclass(frozen=True)
class ClaimedJob:
    id: uuid.UUID
    job_type: str
    status: str
    attempts: int
    max_attempts: int
    payload: dict[str, Any]
    created_at: datetime


class StuckJobRepository(TenantRepositoryBase[Job]):
    """The tenant's side of the job sweep."""

    model = Job

    def claim_stalled(self, job_id: uuid.UUID, *, idle_s: int) -> ClaimedJob | None:
        """Restamp a still-stalled job (pending: sent now; running: started now); None if it moved meanwhile."""
        idle = _idle_since(idle_s)
        row = self.session.execute(
            update(Job)
            .where(Job.tenant_id == self.tenant_id, Job.id == job_id)
            .where(
                ((Job.status == "pending") & (Job.scheduled_for < idle))
                | ((Job.status == "running") & (Job.started_at < idle))
            )
            .values(
                scheduled_for=case((Job.status == "pending", func.now()), else_=Job.scheduled_for),
                started_at=case((Job.status == "running", func.now()), else_=Job.started_at),
            )
            .returning(Job.id, Job.job_type, Job.status, Job.attempts, Job.max_attempts, Job.payload, Job.created_at)
        ).one_or_none()
        if row is None:
            return None
        return ClaimedJob(*row)

    def id_for(self, idempotency_key: str) -> uuid.UUID | None:
        """The id of the job recorded under this key (e.g. a video's ledger job)."""
        return self.session.scalars(self._select(Job.id).where(Job.idempotency_key == idempotency_key)).one_or_none()


class StuckPostRepository(TenantRepositoryBase[SocialPost]):
    """The tenant's side of the post sweep."""

    model = SocialPost

    def claim_silent(self, post_id: uuid.UUID, *, idle_s: int) -> int | None:
        """Stamp a still-silent publishing/processing post as seen now; its step (the message to re-send), or None."""
        return self.session.execute(
            update(SocialPost)
            .where(
                SocialPost.tenant_id == self.tenant_id,
                SocialPost.id == post_id,
                SocialPost.status.in_(("publishing", "processing")),
                SocialPost.updated_at < _idle_since(idle_s),
            )
            .values(updated_at=func.now())
            .returning(SocialPost.step)
        ).scalar_one_or_none()

"""Snapshots of the bound tenant's posts, the posts due for one, and the figures behind /api/metrics."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from viral.db.models import (
    SNAPSHOT_BUCKETS,
    AnalyticsSnapshot,
    Concept,
    PerformanceFeedback,
    SelfCritique,
    SocialPost,
    Video,
)
from viral.db.repository import TenantRepositoryBase

BUCKET_AGES: dict[str, timedelta] = dict(
    zip(
        SNAPSHOT_BUCKETS,
        (
            timedelta(hours=1),
            timedelta(hours=6),
            timedelta(hours=24),
            timedelta(hours=72),
            timedelta(days=7),
            timedelta(days=30),
        ),
        strict=True,
    )
)
# How long after its age a bucket stays due (never past the next bucket's age): a run missed, or a budget paused
# until the platform's next window (YouTube's units reset daily), is caught up within it. Only these windows are
# looked at, so choosing every tenant's due posts reads a few percent of the posts, not every post of 35 days; a
# bucket still missing at the window's end stays missing (the next bucket comes at its own age).
CATCH_UP = timedelta(hours=24)


def bucket_for(age: timedelta) -> str | None:
    """The largest age bucket an age has reached (None before the first): a snapshot taken late is filed under
    the age it stands for, and the smaller ages it skipped stay missing rather than mislabelled."""
    reached = [bucket for bucket, threshold in BUCKET_AGES.items() if age >= threshold]
    return reached[-1] if reached else None


def due_windows() -> list[tuple[str, timedelta, timedelta]]:
    """(bucket, from age, until age) of each bucket: due from its age for CATCH_UP, never into the next bucket."""
    ages = list(BUCKET_AGES.items())
    windows = []
    for index, (bucket, age) in enumerate(ages):
        until = age + CATCH_UP
        if index + 1 < len(ages):
            until = min(until, ages[index + 1][1])
        windows.append((bucket, age, until))
    return windows


def due_bucket(age: timedelta) -> str | None:
    """The bucket a post of this age is due for, if it has no snapshot of it (None outside every window)."""
    bucket = bucket_for(age)
    if bucket is None:
        return None
    _, _, until = next(w for w in due_windows() if w[0] == bucket)
    return bucket if age < until else None


@dataclass(frozen=True)
class DueSnapshot:
    post_id: uuid.UUID
    platform: str
    bucket: str
    account_id: uuid.UUID | None = None
    platform_post_id: str | None = None


@dataclass(frozen=True)
class PostConcept:
    """What a derived feedback needs of a post: its video's concept and the platform the video was made for."""

    concept_id: str
    title: str
    category: str
    platform: str


class SnapshotRepository(TenantRepositoryBase[AnalyticsSnapshot]):
    model = AnalyticsSnapshot

    def due(self, now: datetime) -> list[DueSnapshot]:
        """The tenant's published posts within their current age bucket's window (`due_bucket`) and without its
        snapshot yet (two statements). The same rule as `DueSnapshotSystemRepository.due`, for one tenant."""
        oldest = now - max(until for _, _, until in due_windows())
        posts = self.session.execute(
            select(
                SocialPost.id,
                SocialPost.platform,
                SocialPost.posted_at,
                SocialPost.account_id,
                SocialPost.platform_post_id,
            ).where(
                SocialPost.tenant_id == self.tenant_id,
                SocialPost.status == "published",
                SocialPost.platform_post_id.is_not(None),
                SocialPost.posted_at.is_not(None),
                SocialPost.posted_at >= oldest,
                SocialPost.posted_at <= now - BUCKET_AGES[SNAPSHOT_BUCKETS[0]],
            )
        ).all()
        if not posts:
            return []
        taken: dict[uuid.UUID, set[str]] = defaultdict(set)
        rows = self.session.execute(
            self._select(AnalyticsSnapshot.post_id, AnalyticsSnapshot.bucket).where(
                AnalyticsSnapshot.post_id.in_([p.id for p in posts])
            )
        )
        for post_id, bucket in rows:
            taken[post_id].add(bucket)
        due = []
        for post in posts:
            bucket = due_bucket(now - post.posted_at)
            if bucket is not None and bucket not in taken[post.id]:
                due.append(DueSnapshot(post.id, post.platform, bucket, post.account_id, post.platform_post_id))
        return due

    def add_once(self, values: dict[str, Any]) -> uuid.UUID | None:
        """Insert a snapshot unless the post has one for this bucket already; the new id, or None."""
        statement = (
            insert(AnalyticsSnapshot)
            .values(self._stamp(values))
            .on_conflict_do_nothing(constraint="uq_snapshots_post_bucket")
            .returning(AnalyticsSnapshot.id)
        )
        return self.session.execute(statement).scalar()

    def add_many(self, rows: list[dict[str, Any]]) -> list[tuple[uuid.UUID, str, uuid.UUID]]:
        """Insert snapshots in one statement, skipping each post and bucket that has one already; (post id, bucket,
        new id) of those written (the skipped ones are simply absent)."""
        if not rows:
            return []
        # Executed with a list of rows: SQLAlchemy sends them as one multi-row INSERT ("insertmanyvalues") from a
        # statement compiled once and cached, where .values([...]) would be compiled again for every batch.
        statement = (
            insert(AnalyticsSnapshot)
            .on_conflict_do_nothing(constraint="uq_snapshots_post_bucket")
            .returning(AnalyticsSnapshot.post_id, AnalyticsSnapshot.bucket, AnalyticsSnapshot.id)
        )
        written = self.session.execute(statement, [self._stamp(dict(row)) for row in rows])
        return [(r[0], r[1], r[2]) for r in written]

    def concepts_to_derive(self, post_ids: list[uuid.UUID]) -> dict[uuid.UUID, PostConcept]:
        """The concept behind each of these posts whose concept and platform have no derived feedback yet (one
        statement): the posts a feedback-age snapshot may still turn into feedback."""
        if not post_ids:
            return {}
        derived = (
            select(PerformanceFeedback.id)
            .where(
                PerformanceFeedback.tenant_id == Concept.tenant_id,
                PerformanceFeedback.concept_id == Concept.id,
                PerformanceFeedback.platform == Video.platform,
                PerformanceFeedback.data_source == "api",
            )
            .exists()
        )
        statement = (
            select(SocialPost.id, Concept.id, Concept.title, Concept.category, Video.platform)
            .select_from(SocialPost)
            .join(Video, (Video.tenant_id == SocialPost.tenant_id) & (Video.id == SocialPost.video_id))
            .join(Concept, (Concept.tenant_id == Video.tenant_id) & (Concept.id == Video.concept_id))
            .where(SocialPost.tenant_id == self.tenant_id, SocialPost.id.in_(post_ids), ~derived)
        )
        return {r[0]: PostConcept(r[1], r[2], r[3], r[4]) for r in self.session.execute(statement)}

    def series(self, post_id: uuid.UUID) -> list[AnalyticsSnapshot]:
        """The post's snapshots, oldest first."""
        statement = self._select().where(AnalyticsSnapshot.post_id == post_id)
        return list(self.session.scalars(statement.order_by(AnalyticsSnapshot.collected_at, AnalyticsSnapshot.id)))

    def post_exists(self, post_id: uuid.UUID) -> bool:
        statement = select(SocialPost.id).where(SocialPost.tenant_id == self.tenant_id, SocialPost.id == post_id)
        return self.session.execute(statement).first() is not None

    def post_concept(self, post_id: uuid.UUID) -> PostConcept | None:
        """The concept behind a post (None for a post of a video made without one)."""
        statement = (
            select(Concept.id, Concept.title, Concept.category, Video.platform)
            .select_from(SocialPost)
            .join(Video, (Video.tenant_id == SocialPost.tenant_id) & (Video.id == SocialPost.video_id))
            .join(Concept, (Concept.tenant_id == Video.tenant_id) & (Concept.id == Video.concept_id))
            .where(SocialPost.tenant_id == self.tenant_id, SocialPost.id == post_id)
        )
        row = self.session.execute(statement).first()
        return None if row is None else PostConcept(row[0], row[1], row[2], row[3])

    def derived_feedback_exists(self, concept_id: str, platform: str) -> bool:
        statement = select(PerformanceFeedback.id).where(
            PerformanceFeedback.tenant_id == self.tenant_id,
            PerformanceFeedback.concept_id == concept_id,
            PerformanceFeedback.platform == platform,
            PerformanceFeedback.data_source == "api",
        )
        return self.session.execute(statement).first() is not None


class MetricsRepository(TenantRepositoryBase[AnalyticsSnapshot]):
    """The tenant's operational figures, each one grouped statement over an indexed tenant prefix."""

    model = AnalyticsSnapshot

    def videos(self, since: datetime) -> list[tuple[str, str, int, Decimal | None, int]]:
        """(status, provider, count, average non-zero cost, count of the costed videos) of the videos made since
        `since`: an average weighs by the costed count, never by every video of the group."""
        costed = Video.generation_cost > 0
        statement = (
            select(
                Video.status,
                func.coalesce(Video.provider, "unknown"),
                func.count(),
                func.avg(Video.generation_cost).filter(costed),
                func.count().filter(costed),
            )
            .where(Video.tenant_id == self.tenant_id, Video.created_at >= since)
            .group_by(Video.status, Video.provider)
        )
        return [(r[0], r[1], int(r[2]), r[3], int(r[4])) for r in self.session.execute(statement)]

    def posts(self, since: datetime | None = None) -> list[tuple[str, str, int]]:
        """(platform, status, count) of the tenant's posts (created since `since`, if given)."""
        statement = select(SocialPost.platform, SocialPost.status, func.count()).where(
            SocialPost.tenant_id == self.tenant_id
        )
        if since is not None:
            statement = statement.where(SocialPost.created_at >= since)
        statement = statement.group_by(SocialPost.platform, SocialPost.status)
        return [(r[0], r[1], int(r[2])) for r in self.session.execute(statement)]

    def predictions(self, since: datetime) -> list[tuple[float, float]]:
        """(predicted, actual) virality of the critiques written since `since` (the critic's performance gaps)."""
        gap = SelfCritique.performance_gap
        statement = select(gap["predictedVirality"].astext, gap["actualViralityScore"].astext).where(
            SelfCritique.tenant_id == self.tenant_id, SelfCritique.created_at >= since
        )
        pairs = []
        for predicted, actual in self.session.execute(statement):
            try:
                pairs.append((float(predicted), float(actual)))
            except (TypeError, ValueError):
                continue  # a critique without both figures says nothing about calibration
        return pairs

    def snapshots(self) -> list[tuple[str, int, datetime | None]]:
        """(platform, count, newest collected_at) of the tenant's snapshots: collection health."""
        statement = self._select(
            AnalyticsSnapshot.platform, func.count(), func.max(AnalyticsSnapshot.collected_at)
        ).group_by(AnalyticsSnapshot.platform)
        return [(r[0], int(r[1]), r[2]) for r in self.session.execute(statement)]


@dataclass(frozen=True)
class DuePostRef:
    """A post due for a snapshot, as the system path sees it: whose it is and which one, nothing else."""

    tenant_id: uuid.UUID
    post_id: uuid.UUID


# Each bucket's window of published posts (a range scan of ix_social_posts_published_posted per bucket), without
# the snapshot of that bucket (a probe of uq_snapshots_post_bucket). A post is in at most one window.
_DUE_ALL_TENANTS = text("""
select p.tenant_id, p.id
  from unnest(cast(:buckets as text[]), cast(:from_s as float8[]), cast(:until_s as float8[]))
       as w(bucket, from_s, until_s)
  join social_posts p
    on p.status = 'published' and p.platform_post_id is not null
   and p.posted_at <= cast(:now as timestamptz) - make_interval(secs => w.from_s)
   and p.posted_at > cast(:now as timestamptz) - make_interval(secs => w.until_s)
 where not exists (select 1 from analytics_snapshots s
                    where s.tenant_id = p.tenant_id and s.post_id = p.id and s.bucket = w.bucket)
""").columns(tenant_id=PG_UUID(as_uuid=True), id=PG_UUID(as_uuid=True))


def _due_params(now: datetime) -> dict[str, object]:
    windows = due_windows()
    return {
        "now": now,
        "buckets": [bucket for bucket, _, _ in windows],
        "from_s": [age.total_seconds() for _, age, _ in windows],
        "until_s": [until.total_seconds() for _, _, until in windows],
    }


class DueSnapshotSystemRepository:
    """The analytics schedule's system path: which posts of every tenant are due for a snapshot, as tenant and post
    ids only (the system role reads no figures, captions or tokens). The tenant's own worker collects them under
    row-level security."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def due(self, now: datetime) -> list[DuePostRef]:
        rows = self.session.execute(_DUE_ALL_TENANTS, _due_params(now))
        return [DuePostRef(tenant, post) for tenant, post in rows]

    def tenants_due(self, now: datetime) -> list[uuid.UUID]:
        """The tenants with at least one post due (one statement)."""
        due = _DUE_ALL_TENANTS.subquery("due")
        statement = select(due.c.tenant_id).distinct()
        return [row[0] for row in self.session.execute(statement, _due_params(now))]

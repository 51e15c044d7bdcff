"""Snapshots of the bound tenant's posts, the posts due for one, and the figures behind /api/metrics."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

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
# A post older than its last age plus this is no longer looked at (its 30-day snapshot is then missed).
LATE_LIMIT = timedelta(days=5)


def bucket_for(age: timedelta) -> str | None:
    """The largest age bucket an age has reached (None before the first): a snapshot taken late is filed under
    the age it stands for, and the smaller ages it skipped stay missing rather than mislabelled."""
    reached = [bucket for bucket, threshold in BUCKET_AGES.items() if age >= threshold]
    return reached[-1] if reached else None


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
        """The tenant's published posts whose current age bucket has no snapshot yet (two statements)."""
        oldest = now - BUCKET_AGES[SNAPSHOT_BUCKETS[-1]] - LATE_LIMIT
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
            bucket = bucket_for(now - post.posted_at)
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

    def videos(self, since: datetime) -> list[tuple[str, str, int, Decimal | None]]:
        """(status, provider, count, average non-zero cost) of the videos made since `since`."""
        statement = (
            select(
                Video.status,
                func.coalesce(Video.provider, "unknown"),
                func.count(),
                func.avg(Video.generation_cost).filter(Video.generation_cost > 0),
            )
            .where(Video.tenant_id == self.tenant_id, Video.created_at >= since)
            .group_by(Video.status, Video.provider)
        )
        return [(r[0], r[1], int(r[2]), r[3]) for r in self.session.execute(statement)]

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

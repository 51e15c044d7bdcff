"""The collector: a tenant's published posts, snapshotted at fixed ages after publishing, and the loop closed.

Per post: one platform call with no transaction held, then one short transaction that writes the snapshot once
(unique per post and age bucket) and records `metrics.collected` with it. An answer with no figure at all is "not
yet": nothing is written, and the next run asks again. At the feedback age (ANALYTICS_FEEDBACK_AGE_H, 72 h by
default) the snapshot becomes performance feedback for the post's concept, marked as read from the platform with
the snapshot it came from, and the critic runs on it: one derived feedback per concept and platform, however often
the collector runs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from viral.analytics.normalise import Figures, normalise
from viral.analytics.repository import BUCKET_AGES, DueSnapshot, SnapshotRepository
from viral.db.uow import unit_of_work
from viral.learning.critic import configured_critic
from viral.learning.reflexion import critic_text, reflect
from viral.learning.repository import FeedbackRepository
from viral.learning.schemas import FeedbackMetrics, PerformanceFeedback
from viral.learning.storage import engagement_rate
from viral.observability import logger
from viral.outbound.events import emit
from viral.settings import get_settings
from viral.social.metrics import fetch_post_metrics
from viral.tenancy import tenant_scope


@dataclass
class CollectionResult:
    collected: int = 0
    not_yet: int = 0
    failed: int = 0
    derived_feedback: int = 0
    snapshot_ids: list[uuid.UUID] = field(default_factory=list)

    def wire(self) -> dict[str, int]:
        return {
            "collected": self.collected,
            "notYet": self.not_yet,
            "failed": self.failed,
            "derivedFeedback": self.derived_feedback,
        }


def collect_tenant(tenant_id: uuid.UUID, *, now: datetime | None = None) -> CollectionResult:
    """Snapshot every post of the tenant due at `now` (default: the clock), and derive feedback where due."""
    now = now or datetime.now(UTC)
    result = CollectionResult()
    with tenant_scope(tenant_id):
        with unit_of_work() as uow:
            due = uow.repository(SnapshotRepository).due(now)
        for item in due:
            try:
                _collect_one(item, result)
            except Exception:  # one post's failure never stops the others; the next run asks again
                result.failed += 1
                logger.warning(
                    "could not collect a post's metrics", extra={"post_id": str(item.post_id)}, exc_info=True
                )
    return result


def _collect_one(item: DueSnapshot, result: CollectionResult) -> None:
    raw = fetch_post_metrics(item.post_id)  # the platform call, outside any transaction
    figures = normalise(item.platform, raw)
    if figures.empty:
        result.not_yet += 1
        return
    with unit_of_work() as uow:
        snapshot_id = uow.repository(SnapshotRepository).add_once(_values(item, raw, figures))
        if snapshot_id is not None:
            emit(
                uow,
                "metrics.collected",
                {
                    "postId": str(item.post_id),
                    "platform": item.platform,
                    "bucket": item.bucket,
                    "snapshotId": str(snapshot_id),
                    "views": figures.views,
                    "likes": figures.likes,
                    "comments": figures.comments,
                    "shares": figures.shares,
                },
            )
    if snapshot_id is None:
        return  # another run wrote this bucket first
    result.collected += 1
    result.snapshot_ids.append(snapshot_id)
    feedback_age = timedelta(hours=get_settings().analytics_feedback_age_h)
    if BUCKET_AGES[item.bucket] >= feedback_age and derive_feedback(item.post_id, snapshot_id, figures):
        result.derived_feedback += 1


def _values(item: DueSnapshot, raw: dict[str, object], figures: Figures) -> dict[str, object]:
    return {
        "post_id": item.post_id,
        "platform": item.platform,
        "bucket": item.bucket,
        "raw": raw,
        "views": figures.views,
        "likes": figures.likes,
        "comments": figures.comments,
        "shares": figures.shares,
        "saves": figures.saves,
        "watch_time_s": figures.watch_time_s,
        "avg_view_duration_s": figures.avg_view_duration_s,
        "completion_rate": figures.completion_rate,
        "methodology": figures.methodology,
    }


def derive_feedback(post_id: uuid.UUID, snapshot_id: uuid.UUID, figures: Figures) -> bool:
    """The snapshot as performance feedback for the post's concept, critiqued; False when the post has no concept,
    the figures lack a count, or the concept and platform have their derived feedback already."""
    counts = {name: getattr(figures, name) for name in ("views", "likes", "shares", "comments")}
    if any(value is None for value in counts.values()):
        return False
    views, likes, shares, comments = (int(counts[n]) for n in ("views", "likes", "shares", "comments"))
    with unit_of_work() as uow:
        repository = uow.repository(SnapshotRepository)
        concept = repository.post_concept(post_id)
        if concept is None or repository.derived_feedback_exists(concept.concept_id, concept.platform):
            return False
    feedback = PerformanceFeedback(
        id=str(uuid.uuid4()),
        concept_id=concept.concept_id,
        concept_title=concept.title,
        category=concept.category,
        platform=concept.platform,
        metrics=FeedbackMetrics(
            views=views, likes=min(likes, views), shares=min(shares, views), comments=min(comments, views)
        ),
        engagement_rate=round(engagement_rate(views, likes, shares, comments), 2),
        data_source="api",
    )
    written = critic_text(feedback, configured_critic())  # an LLM critic answers before the transaction opens
    with unit_of_work() as uow:
        if not uow.repository(FeedbackRepository).add_derived(feedback, snapshot_id):
            return False  # a concurrent run derived it first
        reflect(uow, feedback, written=written)
    return True


def schedule_collection(*, now: datetime | None = None) -> dict[str, int]:
    """The schedule's work: one message per tenant on the analytics queue (batched sends)."""
    from viral.analytics.messages import AnalyticsJobMessage
    from viral.aws.sqs import send_batch
    from viral.identity.tenants import list_tenants

    now = now or datetime.now(UTC)
    messages = [AnalyticsJobMessage(tenant_id=tenant.id, scheduled_at=now) for tenant in list_tenants()]
    return {"tenants": len(messages), "enqueued": send_batch(get_settings().analytics_queue_url, messages)}


def run_collection_job(tenant_id: uuid.UUID) -> CollectionResult:
    """One tenant's collection run. Idempotent: a redelivered message finds the snapshots it wrote already there
    (unique per post and bucket) and the derived feedback too (unique per concept and platform)."""
    return collect_tenant(tenant_id)

"""The collector: a tenant's published posts, snapshotted at fixed ages after publishing, and the loop closed.

The due posts are grouped by account; each account's posts are read in the platform's batches (TikTok 20 ids a
call, YouTube 50, Instagram one media a call), and every call first draws from the shared budgets (the app's and
the account's token buckets in PostgreSQL, one statement, no transaction held across the call). A refused draw,
or a platform's 429 or quota error, closes that bucket for the rest of the run (the platform's answer also pauses
it until the time it states); its posts stay due and are asked for on a later run. A refused token is refreshed
once through the social accounts path, then the call is made again; a dead grant marks the account for
reconnection and its posts count as failed.

Per batch: the platform call, then one short transaction that writes the batch's snapshots in one statement (each
once: unique per post and age bucket) and a `metrics.collected` event for each new one. An answer with no figure at
all is "not yet": nothing is written, and the next run asks again. The hourly schedule finds the tenants with a
post due in one statement as the system path (tenant and post ids only) and enqueues only those.

At the feedback age (ANALYTICS_FEEDBACK_AGE_H, 72 h by default) the snapshot becomes performance feedback for the
post's concept, marked as read from the platform with the snapshot it came from, and the critic runs on it: one
derived feedback per concept and platform, however often the collector runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from viral.analytics.budgets import Bucket, BudgetRepository, Refusal, buckets_for
from viral.analytics.normalise import Figures, normalise
from viral.analytics.repository import (
    BUCKET_AGES,
    DueSnapshot,
    DueSnapshotSystemRepository,
    PostConcept,
    SnapshotRepository,
)
from viral.db.uow import system_unit_of_work, unit_of_work
from viral.errors import DomainError
from viral.learning.critic import configured_critic
from viral.learning.reflexion import critic_text, reflect
from viral.learning.repository import FeedbackRepository
from viral.learning.schemas import FeedbackMetrics, PerformanceFeedback
from viral.learning.storage import engagement_rate
from viral.observability import logger
from viral.outbound.events import emit_many
from viral.settings import Settings, get_settings
from viral.social.accounts import AccountUnusable, access_token, mark_reconnect_required
from viral.social.platforms import (
    BudgetSpent,
    RateLimited,
    Rejected,
    SocialPlatform,
    TokenRejected,
)
from viral.social.platforms.registry import platform
from viral.tenancy import tenant_scope

# The call each platform's batch read starts with (the one whose buckets decide whether to try at all).
FIRST_CALL = {"tiktok": "video.query", "youtube": "videos.list", "instagram": "insights"}


@dataclass
class CollectionResult:
    collected: int = 0
    not_yet: int = 0
    failed: int = 0
    derived_feedback: int = 0
    deferred: int = 0  # left due because a budget was spent or paused: asked for on a later run
    snapshot_ids: list[uuid.UUID] = field(default_factory=list)

    def wire(self) -> dict[str, int]:
        return {
            "collected": self.collected,
            "notYet": self.not_yet,
            "failed": self.failed,
            "derivedFeedback": self.derived_feedback,
            "deferred": self.deferred,
        }


class RunBudget:
    """One account's calls in this run, metered by the shared buckets (a CallBudget for the adapter). Buckets that
    refused or were paused are remembered in `closed`, shared by every account of the run, and never asked again."""

    def __init__(
        self,
        platform_name: str,
        app: str,
        account_id: uuid.UUID,
        *,
        settings: Settings,
        clock: Callable[[], datetime],
        closed: dict[str, Refusal],
    ) -> None:
        self.platform = platform_name
        self.app = app
        self.account_id = account_id
        self.settings = settings
        self.clock = clock
        self.closed = closed

    def buckets(self, call: str) -> tuple[Bucket, Bucket]:
        return buckets_for(
            self.platform, call, app=self.app, account_id=self.account_id, settings=self.settings, now=self.clock()
        )

    def blocked(self, call: str) -> Refusal | None:
        return next((self.closed[b.key] for b in self.buckets(call) if b.key in self.closed), None)

    def spend(self, call: str) -> None:
        if (refusal := self.blocked(call)) is None:
            with unit_of_work() as uow:
                refusal = uow.repository(BudgetRepository).draw(self.buckets(call), now=self.clock())
            if refusal is not None:
                self.closed[refusal.key] = refusal
                logger.info(
                    "analytics budget refused a call",
                    extra={"bucket": refusal.key, "until": refusal.until.isoformat(), "reason": refusal.reason},
                )
        if refusal is not None:
            raise BudgetSpent(f"the {self.platform} budget {refusal.key} is closed until {refusal.until.isoformat()}")

    def limited(self, call: str, error: RateLimited) -> None:
        """Pause the bucket whose limit the platform says we hit, until the time it states."""
        app_bucket, account_bucket = self.buckets(call)
        bucket = app_bucket if error.scope == "app" else account_bucket
        now = self.clock()
        until = now + timedelta(seconds=max(1.0, error.wait_s))
        with unit_of_work() as uow:
            uow.repository(BudgetRepository).pause(bucket, until=until, reason=error.message, now=now)
        self.closed[bucket.key] = Refusal(bucket.key, until, True, error.message)
        logger.warning(
            "platform rate limit: bucket paused",
            extra={"platform": self.platform, "bucket": bucket.key, "until": until.isoformat()},
        )


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def collect_tenant(tenant_id: uuid.UUID, *, now: datetime | None = None) -> CollectionResult:
    """Snapshot every post of the tenant due at `now` (default: the clock), and derive feedback where due.

    The shared budgets run on the same clock: `now` when given (a simulated run), else the wall clock."""
    clock = _fixed(now) if now is not None else _wall_clock
    now = now or datetime.now(UTC)
    result = CollectionResult()
    settings = get_settings()
    closed: dict[str, Refusal] = {}
    with tenant_scope(tenant_id):
        with unit_of_work() as uow:
            due = uow.repository(SnapshotRepository).due(now)
        groups: dict[tuple[uuid.UUID | None, str], list[DueSnapshot]] = {}
        for item in due:
            groups.setdefault((item.account_id, item.platform), []).append(item)
        for (account_id, platform_name), items in groups.items():
            try:
                _collect_account(account_id, platform_name, items, result, settings, clock, closed)
            except Exception:  # one account's failure never stops the others; the next run asks again
                logger.warning(
                    "could not collect an account's metrics",
                    extra={"account_id": str(account_id), "platform": platform_name},
                    exc_info=True,
                )
    return result


def _collect_account(
    account_id: uuid.UUID | None,
    platform_name: str,
    items: list[DueSnapshot],
    result: CollectionResult,
    settings: Settings,
    clock: Callable[[], datetime],
    closed: dict[str, Refusal],
) -> None:
    """One account's due posts, batch by batch; each post ends counted once (collected, not yet, failed, deferred)."""
    try:
        if account_id is None:
            raise Rejected("the post has no account")
        adapter = platform(platform_name, settings)
    except DomainError as refused:
        result.failed += len(items)
        logger.warning("no platform to read metrics from", extra={"platform": platform_name, "reason": refused.message})
        return
    budget = RunBudget(platform_name, adapter.app_key, account_id, settings=settings, clock=clock, closed=closed)
    first_call = FIRST_CALL.get(platform_name, "metrics")
    pending = list(items)
    try:
        if budget.blocked(first_call) is not None:
            raise BudgetSpent("the budget is closed for this run")
        while pending:
            _collect_batch(adapter, account_id, pending, result, settings, budget)
    except BudgetSpent:
        result.deferred += len(pending)
    except RateLimited as limited:
        budget.limited(first_call, limited)
        result.deferred += len(pending)
    except DomainError as failed:  # a dead grant, a refused token, an unreachable platform...
        result.failed += len(pending)
        logger.warning(
            "an account's metrics could not be read",
            extra={"platform": platform_name, "account_id": str(account_id), "reason": failed.message},
        )
    except Exception:
        result.failed += len(pending)
        raise


def _collect_batch(
    adapter: SocialPlatform,
    account_id: uuid.UUID,
    pending: list[DueSnapshot],
    result: CollectionResult,
    settings: Settings,
    budget: RunBudget,
) -> None:
    """Read and record the next batch of `pending` (taken off it only once the platform answered)."""
    batch = pending[: max(1, adapter.metrics_batch_size)]
    try:
        answers = _read(adapter, account_id, batch, budget)
    except Rejected:  # refused for these posts only (e.g. a deleted media): the others are still asked
        del pending[: len(batch)]
        result.failed += len(batch)
        logger.warning("the platform refused a metrics read", extra={"platform": adapter.name}, exc_info=True)
        return
    del pending[: len(batch)]
    _record_batch(batch, answers, result, settings)


def _read(
    adapter: SocialPlatform, account_id: uuid.UUID, batch: list[DueSnapshot], budget: RunBudget
) -> dict[str, dict[str, Any]]:
    """The platform call for a batch, with a refused token refreshed once (the social accounts path)."""
    ids = [item.platform_post_id for item in batch if item.platform_post_id]
    try:
        return adapter.metrics_batch(access_token(account_id), ids, budget=budget)
    except TokenRejected:
        token = access_token(account_id, force_refresh=True)
    try:
        return adapter.metrics_batch(token, ids, budget=budget)
    except TokenRejected as again:
        mark_reconnect_required(account_id, "the platform refused a freshly refreshed token")
        raise AccountUnusable("the account must be reconnected: the platform refused its token") from again


def _record_batch(
    batch: list[DueSnapshot], answers: dict[str, dict[str, Any]], result: CollectionResult, settings: Settings
) -> None:
    """Write one platform call's snapshots (each once per bucket) with their events in one short transaction, then
    derive feedback from those at the feedback age."""
    answered: list[tuple[DueSnapshot, dict[str, Any], Figures]] = []
    for item in batch:
        raw = {
            "postId": str(item.post_id),
            "platform": item.platform,
            "platformPostId": item.platform_post_id,
            **(answers.get(item.platform_post_id or "") or {}),
        }
        figures = normalise(item.platform, raw)
        if figures.empty:
            result.not_yet += 1
        else:
            answered.append((item, raw, figures))
    if not answered:
        return
    try:
        written, concepts = _write(answered, settings)
    except Exception:
        result.failed += len(answered)
        logger.warning("could not write a batch of snapshots", extra={"snapshots": len(answered)}, exc_info=True)
        return
    # A post and bucket missing from `written` was written by another run first.
    for item, _, figures in answered:
        snapshot_id = written.get((item.post_id, item.bucket))
        if snapshot_id is None:
            continue
        result.collected += 1
        result.snapshot_ids.append(snapshot_id)
        concept = concepts.get(item.post_id)
        if concept is not None and derive_feedback(item.post_id, snapshot_id, figures, concept=concept):
            result.derived_feedback += 1


def _write(
    answered: list[tuple[DueSnapshot, dict[str, Any], Figures]], settings: Settings
) -> tuple[dict[tuple[uuid.UUID, str], uuid.UUID], dict[uuid.UUID, PostConcept]]:
    """One transaction: the snapshots (one multi-row insert), a `metrics.collected` event per new one (one insert),
    and the concepts that the new feedback-age snapshots may still turn into feedback (one select)."""
    feedback_age = timedelta(hours=settings.analytics_feedback_age_h)
    with unit_of_work() as uow:
        repository = uow.repository(SnapshotRepository)
        written = {
            (post_id, bucket): snapshot_id
            for post_id, bucket, snapshot_id in repository.add_many([_values(i, r, f) for i, r, f in answered])
        }
        events = [
            {
                "postId": str(item.post_id),
                "platform": item.platform,
                "bucket": item.bucket,
                "snapshotId": str(written[(item.post_id, item.bucket)]),
                "views": figures.views,
                "likes": figures.likes,
                "comments": figures.comments,
                "shares": figures.shares,
            }
            for item, _, figures in answered
            if (item.post_id, item.bucket) in written
        ]
        emit_many(uow, "metrics.collected", events)
        ripe = [
            item.post_id
            for item, _, _ in answered
            if (item.post_id, item.bucket) in written and BUCKET_AGES[item.bucket] >= feedback_age
        ]
        concepts = repository.concepts_to_derive(ripe)
    return written, concepts


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


def derive_feedback(
    post_id: uuid.UUID, snapshot_id: uuid.UUID, figures: Figures, *, concept: PostConcept | None = None
) -> bool:
    """The snapshot as performance feedback for the post's concept, critiqued; False when the post has no concept,
    the figures lack a count, or the concept and platform have their derived feedback already. `concept`: the
    post's concept as the batch write found it (without a derived feedback then), saving the lookup."""
    counts = {name: getattr(figures, name) for name in ("views", "likes", "shares", "comments")}
    if any(value is None for value in counts.values()):
        return False
    views, likes, shares, comments = (int(counts[n]) for n in ("views", "likes", "shares", "comments"))
    if concept is None:
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


def tenants_due(now: datetime) -> list[uuid.UUID]:
    """The tenants with a post due for a snapshot at `now` (system path, one statement over every tenant)."""
    with system_unit_of_work() as system:
        return DueSnapshotSystemRepository(system.session).tenants_due(now)


def schedule_collection(*, now: datetime | None = None) -> dict[str, int]:
    """The schedule's work: one message per tenant that has a post due (batched sends); the others are left alone."""
    from viral.analytics.messages import AnalyticsJobMessage
    from viral.aws.sqs import send_batch

    now = now or datetime.now(UTC)
    messages = [AnalyticsJobMessage(tenant_id=tenant, scheduled_at=now) for tenant in tenants_due(now)]
    return {"tenants": len(messages), "enqueued": send_batch(get_settings().analytics_queue_url, messages)}


def run_collection_job(tenant_id: uuid.UUID) -> CollectionResult:
    """One tenant's collection run. Idempotent: a redelivered message finds the snapshots it wrote already there
    (unique per post and bucket) and the derived feedback too (unique per concept and platform)."""
    return collect_tenant(tenant_id)

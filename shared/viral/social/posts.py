"""Posts: schedule a video on accounts, list, reschedule and cancel; all within plan allowances and platform limits.

Allowances and slots are checked and taken in one transaction with the tenant row and the accounts locked, so
two concurrent requests cannot both take the last one. Posts due now are sent to the post-jobs queue after the
commit (stamped dispatched, so the schedule does not send them again unless the send failed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from viral.aws.sqs import send
from viral.billing.plans import plan_for
from viral.db.uow import UnitOfWork, unit_of_work
from viral.errors import Conflict, InvalidInput, NotFound, QuotaExceeded
from viral.observability import logger
from viral.operations.repository import JobRepository
from viral.settings import get_settings
from viral.social.lifecycle import TERMINAL, Event, InvalidTransition, transition
from viral.social.limits import (
    DAY,
    LimitReached,
    check_content,
    check_slot,
    release_app_budget,
    reserve_app_budget,
)
from viral.social.messages import PostJobMessage
from viral.social.platforms.registry import platform
from viral.social.repository import AccountRepository, PostRecord, PostRepository
from viral.social.tokens import token_box
from viral.tenancy import current_tenant

JOB_TYPE = "publish-post"
PAST_TOLERANCE = timedelta(minutes=5)
FURTHEST = timedelta(days=180)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PostRequest:
    video_id: uuid.UUID
    account_ids: tuple[uuid.UUID, ...]
    caption: str | None = None
    hashtags: tuple[str, ...] = ()
    scheduled_at: datetime | None = None
    privacy: str | None = None
    disclosure: dict[str, Any] | None = None


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _when(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    if value.tzinfo is None:
        raise InvalidInput(
            "scheduledAt needs a time zone (e.g. 2026-12-24T18:00:00Z)",
            details=[{"field": "scheduledAt", "message": "ISO 8601 with a time zone"}],
        )
    at = value.astimezone(UTC)
    if at < now - PAST_TOLERANCE:
        raise InvalidInput("scheduledAt is in the past", details=[{"field": "scheduledAt", "message": "in the past"}])
    if at > now + FURTHEST:
        raise InvalidInput(
            "scheduledAt is more than 180 days ahead", details=[{"field": "scheduledAt", "message": "too far ahead"}]
        )
    return max(at, now)


def create_posts(request: PostRequest) -> list[PostRecord]:
    """One post per account, scheduled at `scheduled_at` (default now); refused whole if any one cannot be."""
    settings = get_settings()
    now = _now()
    at = _when(request.scheduled_at, now)
    account_ids = list(dict.fromkeys(request.account_ids))
    live = _live_remaining(account_ids) if at < now + DAY else {}
    created: list[PostRecord] = []
    with unit_of_work() as uow:
        posts = uow.repository(PostRepository)
        video = posts.video(request.video_id)
        if video is None:
            raise NotFound("Video not found")
        if video.status != "ready" or not video.s3_key:
            raise Conflict("the video is not ready yet", details={"videoStatus": video.status})
        tier = posts.lock_tenant_plan()
        plan = plan_for(tier)
        used = posts.count_since(_month_start(now))
        if used + len(account_ids) > plan.posts_per_month:
            raise QuotaExceeded(
                "Post quota exceeded",
                details=f"Your plan allows {plan.posts_per_month} posts a month; {used} are used.",
            )
        accounts = {a.id: a for a in uow.repository(AccountRepository).many(account_ids)}
        disclosure = _disclosure(request.disclosure, ai_default=video.provider != "upload")
        for account_id in account_ids:
            account = accounts.get(account_id)
            if account is None:
                raise NotFound("Account not found", details={"accountId": str(account_id)})
            if account.status != "active":
                raise Conflict(
                    f"the {account.platform} account {account.username} must be reconnected",
                    details={"accountId": str(account_id), "status": account.status},
                )
            privacy = check_content(account, privacy=request.privacy, duration_s=video.duration_s)
            times = _slot_times(uow, account_id, at)
            check_slot(account, at, {"times": times}, settings)
            if account_id in live:
                _check_live(account, live[account_id], posts.count_open_until(account_id, now + DAY), now)
            reserved = reserve_app_budget(uow, account, at, settings)
            post_id = uuid.uuid4()
            job, _ = uow.repository(JobRepository).enqueue(
                job_type=JOB_TYPE,
                payload={"postId": str(post_id), "accountId": str(account_id), "videoId": str(video.id)},
                idempotency_key=f"post:{post_id}",
            )
            created.append(
                posts.create(
                    id=post_id,
                    video_id=video.id,
                    account_id=account_id,
                    platform=account.platform,
                    status="scheduled",
                    scheduled_for=at,
                    caption=(request.caption or "")[:2200],
                    hashtags=list(request.hashtags),
                    privacy=privacy,
                    disclosure=disclosure,
                    job_id=job.id,
                    upload_state={"reserved": reserved} if reserved else {},
                    dispatched_at=now if at <= now else None,
                )
            )
            posts.sync_job(job.id, status="pending", error=None, scheduled_for=at)
    if at <= now:
        _send_now(created)
    return created


def _live_remaining(account_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Instagram's publishing allowance left in the last 24 h, read live from the platform (outside any
    transaction) for the Instagram accounts among `account_ids`; an account whose read fails is left to the
    stored cap."""
    from viral.social.accounts import access_token
    from viral.social.platforms.instagram import InstagramAdapter
    from viral.social.platforms.registry import platforms

    adapter = platforms(get_settings()).get("instagram")
    if not isinstance(adapter, InstagramAdapter):
        return {}
    with unit_of_work() as uow:
        found = [a for a in uow.repository(AccountRepository).many(account_ids) if a.platform == "instagram"]
    remaining: dict[uuid.UUID, int] = {}
    for account in found:
        try:
            limit = adapter.publishing_limit(access_token(account.id), account.platform_account_id or "")
        except Exception:
            logger.warning("publishing limit not read", extra={"account_id": str(account.id)})
            continue
        remaining[account.id] = max(0, int(limit["dailyCap"]) - int(limit["quotaUsage"]))
    return remaining


def _check_live(account: Any, remaining: int, pending: int, now: datetime) -> None:
    """Posts still to publish in the next 24 h must fit in what the platform says is left."""
    if pending + 1 > remaining:
        raise LimitReached(
            f"Instagram allows {account.username} {remaining} more posts in the next 24 hours",
            account_id=account.id,
            next_free_at=now + DAY,
        )


def _disclosure(given: dict[str, Any] | None, *, ai_default: bool) -> dict[str, Any]:
    """Compliance by default: AI label on for generated videos, made-for-kids declared (no), interactions off."""
    given = given or {}
    return {
        "aiGenerated": bool(given.get("aiGenerated", ai_default)),
        "madeForKids": bool(given.get("madeForKids", False)),
        "brandedContent": bool(given.get("brandedContent", False)),
        "allowComments": bool(given.get("allowComments", False)),
        "allowDuet": bool(given.get("allowDuet", False)),
        "allowStitch": bool(given.get("allowStitch", False)),
    }


def _slot_times(
    uow: UnitOfWork, account_id: uuid.UUID, at: datetime, exclude: uuid.UUID | None = None
) -> list[datetime]:
    window = timedelta(hours=24)
    return uow.repository(PostRepository).slot_times(account_id, at - window, at + window, exclude=exclude)


def _send_now(posts: list[PostRecord]) -> None:
    """Due posts go to the queue at once; a failed send is retried by the schedule (the stamp goes stale)."""
    queue = get_settings().post_queue_url
    tenant = current_tenant()
    for post in posts:
        try:
            send(queue, PostJobMessage(tenant_id=tenant, post_id=post.id, step=post.step))
        except Exception:
            logger.warning("post not sent now; the schedule will send it", extra={"post_id": str(post.id)})


def get_post(post_id: uuid.UUID) -> PostRecord:
    with unit_of_work() as uow:
        post = uow.repository(PostRepository).get(post_id)
    if post is None:
        raise NotFound("Post not found")
    return post


def list_posts(*, limit: int, offset: int, status: str | None, video_id: uuid.UUID | None) -> list[PostRecord]:
    with unit_of_work() as uow:
        return uow.repository(PostRepository).newest(limit=limit, offset=offset, status=status, video_id=video_id)


def reschedule_post(post_id: uuid.UUID, scheduled_at: datetime) -> PostRecord:
    """Move a scheduled post; any message already sent for its old time becomes stale (the step moves on)."""
    settings = get_settings()
    now = _now()
    at = _when(scheduled_at, now)
    with unit_of_work() as uow:
        posts = uow.repository(PostRepository)
        post = posts.lock(post_id)
        if post is None:
            raise NotFound("Post not found")
        if post.status != "scheduled":
            raise InvalidTransition(f"a {post.status} post cannot be rescheduled", details={"status": post.status})
        account = uow.repository(AccountRepository).lock(post.account_id)
        if account is None:
            raise NotFound("Account not found")
        check_slot(account, at, {"times": _slot_times(uow, account.id, at, exclude=post.id)}, settings)
        reserved = post.upload_state.get("reserved") or {}
        if reserved:
            release_app_budget(uow, reserved)
            reserved = reserve_app_budget(uow, account, at, settings)
        updated = transition(
            uow,
            post,
            Event.RESCHEDULE,
            scheduled_for=at,
            step=post.step + 1,
            dispatched_at=now if at <= now else None,
            upload_state={**post.upload_state, "reserved": reserved},
        )
    if at <= now:
        _send_now([updated])
    return updated


def cancel_post(post_id: uuid.UUID) -> PostRecord:
    """Cancel a post before publishing began (409 after)."""
    with unit_of_work() as uow:
        post = uow.repository(PostRepository).lock(post_id)
        if post is None:
            raise NotFound("Post not found")
        return _cancel(uow, post, "canceled by the user")


def _cancel(uow: UnitOfWork, post: PostRecord, reason: str) -> PostRecord:
    if post.status != "scheduled":
        what = "publishing has begun" if post.status not in TERMINAL else f"the post is {post.status}"
        raise InvalidTransition(f"the post cannot be canceled: {what}", details={"status": post.status})
    release_app_budget(uow, post.upload_state.get("reserved") or {})
    return transition(uow, post, Event.CANCEL, step=post.step + 1, error_message=reason, error_code="CANCELED")


def cancel_open_posts(uow: UnitOfWork, account_id: uuid.UUID) -> int:
    """Cancel the account's scheduled posts (on disconnect); posts already publishing go on to their end."""
    count = 0
    for post in uow.repository(PostRepository).open_for_account(account_id):
        locked = uow.repository(PostRepository).lock(post.id)
        if locked is not None and locked.status == "scheduled":
            _cancel(uow, locked, "the account was disconnected")
            count += 1
    return count


def post_wire(post: PostRecord) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    error = {"code": post.error_code, "message": post.error_message} if post.error_message else None
    return {
        "id": str(post.id),
        "accountId": str(post.account_id),
        "videoId": str(post.video_id),
        "platform": post.platform,
        "status": post.status,
        "scheduledAt": iso(post.scheduled_for),
        "caption": post.caption,
        "hashtags": post.hashtags,
        "privacy": post.privacy,
        "disclosure": post.disclosure,
        "platformPostId": post.platform_post_id,
        "postUrl": post.post_url,
        "publishedAt": iso(post.posted_at),
        "error": error,
        "jobId": str(post.job_id) if post.job_id else None,
        "createdAt": iso(post.created_at),
        "updatedAt": iso(post.updated_at),
    }


def disconnect(account_id: uuid.UUID, *, user_id: uuid.UUID | None) -> dict[str, Any]:
    """Soft disconnect: tokens wiped, the account's scheduled posts canceled (in one transaction); the platform's
    revoke is asked afterwards where it has one. It lives with the posts because it cancels them."""
    with unit_of_work() as uow:
        account = uow.repository(AccountRepository).lock(account_id)
        if account is None:
            raise NotFound("Account not found")
        sealed, key_id = account.access_token, account.token_key_id
        metadata = {
            "disconnectedAt": datetime.now(UTC).isoformat(),
            "disconnectedBy": str(user_id) if user_id else None,
        }
        uow.repository(AccountRepository).update(
            account_id,
            status="disconnected",
            is_active=False,
            access_token=None,
            refresh_token=None,
            disconnected_at=datetime.now(UTC),
            status_reason="disconnected by the user",
            metadata_=metadata,
        )
        canceled = cancel_open_posts(uow, account_id)
    if sealed:
        try:
            platform(account.platform, get_settings()).revoke(token_box().open(sealed, key_id or ""))
        except Exception:  # best effort: the tokens are gone from our side either way
            logger.warning("token revoke failed", extra={"platform": account.platform}, exc_info=True)
    return {"success": True, "message": "Account disconnected successfully", "canceledPosts": canceled}

"""The post worker: moves one post through the state machine (viral/social/lifecycle.py) per delivery.

At most one publish per post row:
* `publishing` is committed (under the row lock, with a lease) before any platform call;
* the platform's upload id is committed the moment `begin` answers; a later delivery continues from that id
  (transfer resumes from the platform's own offset; check only reads) and never begins a second upload;
* a delivery that finds `publishing` with no upload id after a lease ran out cannot know whether the platform
  made one: where `begin` alone can publish, the post becomes `unconfirmed`; elsewhere a new handle is safe
  (an upload that never receives its media never publishes);
* `publish_sent` is committed before the one call that publishes (Instagram); after an ambiguous answer the
  worker only reads the container's state, and when that cannot tell, the post becomes `unconfirmed`.

Waiting (processing, a platform's stated wait) never sleeps: the next check is a message sent with a delay in the
transaction that moves the post to its next step, and a post sent back to `scheduled` is found by the schedule.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from viral.aws import client
from viral.aws.sqs import send
from viral.db.uow import UnitOfWork, unit_of_work
from viral.errors import DomainError, Permanent, Retryable
from viral.observability import logger
from viral.settings import Settings, get_settings
from viral.social.accounts import AccountUnusable, access_token, mark_reconnect_required
from viral.social.lifecycle import TERMINAL, Event, transition
from viral.social.limits import release_app_budget
from viral.social.messages import PostJobMessage
from viral.social.platforms import (
    Ambiguous,
    Check,
    CheckState,
    Media,
    PublishRequest,
    RateLimited,
    Rejected,
    SocialPlatform,
    TokenRejected,
    Unavailable,
    Upload,
    UploadGone,
)
from viral.social.platforms.registry import platform
from viral.social.repository import AccountRepository, PostRecord, PostRepository, VideoSource
from viral.tenancy import tenant_scope

WORK_LEASE = timedelta(minutes=5)  # longer than the worker's timeout, shorter than the queue's visibility
RETRY_BACKOFF_S = (30, 120, 600, 1800)
MAX_ATTEMPTS = 5  # claims of one post before "the platform kept failing" is final
MAX_RESTARTS = 2
RECONCILE_CHECKS = 3  # reads after an ambiguous publish call before the post is unconfirmed
MAX_DELAY_S = 900  # SQS's longest message delay
POST_ID_CHECKS = 96  # a day of checks, 15 minutes apart, for a public id that comes after moderation

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


def process_post_job(message: PostJobMessage, *, receive_count: int = 1, receipt_handle: str | None = None) -> str:
    """Advance one post; what happened. Retryable errors propagate (after setting a backoff on the message's
    visibility) so SQS delivers the message again."""
    settings = get_settings()
    try:
        with tenant_scope(message.tenant_id):
            return _PostWorker(message, settings, receive_count).run()
    except Retryable:
        _back_off(settings, receipt_handle, receive_count)
        raise


def _back_off(settings: Settings, receipt_handle: str | None, receive_count: int) -> None:
    """Exponential backoff with jitter: the failed message becomes visible again after the delay, not after the
    queue's whole visibility timeout."""
    if not receipt_handle or not settings.post_queue_url:
        return
    delay = min(MAX_DELAY_S, RETRY_BACKOFF_S[0] * 2 ** max(0, receive_count - 1) + random.randint(0, 10))
    try:
        client("sqs").change_message_visibility(
            QueueUrl=settings.post_queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay
        )
    except Exception:  # best effort: without it SQS retries after the visibility timeout
        logger.warning("could not set the retry backoff", exc_info=True)


@dataclass(frozen=True)
class _Claim:
    action: str  # work | missing | done | stale | not-due
    post: PostRecord | None = None
    video: VideoSource | None = None
    platform_account_id: str = ""


class _PostWorker:
    def __init__(self, message: PostJobMessage, settings: Settings, receive_count: int) -> None:
        self.message = message
        self.settings = settings
        self.receive_count = receive_count
        self.token = ""
        self.platform_account_id = ""

    # --- the one delivery --------------------------------------------------------------------------------

    def run(self) -> str:
        claim = self._claim()
        if claim.post is None or claim.video is None:
            return claim.action
        post, video = claim.post, claim.video
        self.platform_account_id = claim.platform_account_id
        try:
            adapter = platform(post.platform, self.settings)
            self.token = access_token(post.account_id)
        except AccountUnusable as unusable:
            return self._account_lost(post, unusable.message)
        except Retryable:
            self._release(post)
            raise
        except DomainError as error:
            return self._end(post, Event.FAILED, error.message, error.code)
        if claim.action == "post-id":
            return self._late_post_id(post, adapter)
        request = self._request(post, video)
        try:
            return self._advance(post, adapter, request)
        except AccountUnusable as unusable:
            return self._account_lost(post, unusable.message)

    def _account_lost(self, post: PostRecord, reason: str) -> str:
        """The account cannot be used any more: before the platform has an upload, the post fails; after, the
        platform may still publish it, so it is unconfirmed (the user checks the account)."""
        with unit_of_work() as uow:
            current = self._locked(uow, post)
            if current is None:
                return "stale"
            if current.upload_id is None:
                return self._finish(uow, current, Event.FAILED, reason, "RECONNECT_REQUIRED").status
            unclear = f"{reason}; the platform may still publish the upload, check the account"
            return self._finish(uow, current, Event.AMBIGUOUS, unclear, "RECONNECT_REQUIRED").status

    def _advance(self, post: PostRecord, adapter: SocialPlatform, request: PublishRequest) -> str:
        for _ in range(6):  # begin -> transfer -> check -> (publish) -> check, each committed in between
            if post.status == "publishing" and post.upload_id is None:
                outcome = self._begin(post, adapter, request)
            elif post.status == "publishing":
                outcome = self._transfer(post, adapter, request)
            elif post.status == "processing":
                outcome = self._check(post, adapter)
            else:
                return post.status
            if isinstance(outcome, str):
                return outcome
            post = outcome
        return post.status

    # --- transactions ------------------------------------------------------------------------------------

    def _claim(self) -> _Claim:
        now = _now()
        with unit_of_work() as uow:
            posts = uow.repository(PostRepository)
            post = posts.lock(self.message.post_id)
            if post is None:
                logger.warning("post not found", extra={"post_id": str(self.message.post_id)})
                return _Claim("missing")
            early = self._first_look(post, now)
            if early is not None:
                return early if early.action != "post-id" else _Claim("post-id", post, posts.video(post.video_id))
            video = posts.video(post.video_id)
            account = uow.repository(AccountRepository).get(post.account_id)
            if video is None or video.status != "ready" or not video.s3_key:
                self._finish(uow, post, Event.FAILED, "the video is no longer available", "VIDEO_GONE")
                return _Claim("done")
            if account is None or (post.status == "scheduled" and account.status == "disconnected"):
                self._finish(uow, post, Event.FAILED, "the account was disconnected", "ACCOUNT_GONE")
                return _Claim("done")
            if post.status == "scheduled":
                post = transition(
                    uow,
                    post,
                    Event.CLAIM,
                    lease_until=now + WORK_LEASE,
                    attempts=post.attempts + 1,
                    publishing_started_at=post.publishing_started_at or now,
                    upload_state={**post.upload_state, "phase": "begin"},
                    error_message=None,
                    error_code=None,
                )
            elif post.status == "publishing" and post.upload_id is None and self._begin_may_have_published(post):
                # An earlier delivery died between committing `publishing` and committing the upload id.
                reason = "we cannot tell whether the platform published it"
                self._finish(uow, post, Event.AMBIGUOUS, reason, "UNCONFIRMED")
                return _Claim("done")
            else:
                posts.update(post.id, lease_until=now + WORK_LEASE)
            return _Claim("work", posts.get(post.id), video, account.platform_account_id or "")

    def _first_look(self, post: PostRecord, now: datetime) -> _Claim | None:
        """What a delivery does without working on the post, if that is all it does."""
        if post.step != self.message.step:
            return _Claim("stale")
        if post.status == "published" and post.upload_state.get("awaitingPostId"):
            return _Claim("post-id")
        if post.status in TERMINAL:
            return _Claim("done")
        if post.lease_until is not None and post.lease_until > now:
            raise Retryable("another delivery is working on this post")
        if post.status == "scheduled" and post.scheduled_for > now + timedelta(seconds=5):
            return _Claim("not-due")  # rescheduled later: the schedule sends it again when it is due
        return None

    def _begin_may_have_published(self, post: PostRecord) -> bool:
        return platform(post.platform, self.settings).begin_publishes

    def _locked(self, uow: UnitOfWork, post: PostRecord) -> PostRecord | None:
        """The post locked, if this delivery still owns it (the message's step, not finished)."""
        current = uow.repository(PostRepository).lock(post.id)
        if current is None or current.step != self.message.step or current.status in TERMINAL:
            return None
        return current

    def _finish(self, uow: UnitOfWork, post: PostRecord, event: Event, reason: str, code: str) -> PostRecord:
        if event == Event.FAILED and (
            post.status == "scheduled" or (post.status == "publishing" and not post.upload_id)
        ):
            # The platform never received the upload: its per-app unit is given back.
            release_app_budget(uow, post.upload_state.get("reserved") or {})
        return transition(
            uow, post, event, error_message=reason[:2000], error_code=code[:64], lease_until=None, note=reason
        )

    def _end(self, post: PostRecord, event: Event, reason: str, code: str) -> str:
        with unit_of_work() as uow:
            current = self._locked(uow, post)
            if current is None:
                return "stale"
            return self._finish(uow, current, event, reason, code).status

    def _release(self, post: PostRecord) -> None:
        """Let the next delivery continue at once (a retryable error left the post mid-way)."""
        with unit_of_work() as uow:
            current = self._locked(uow, post)
            if current is not None:
                uow.repository(PostRepository).update(current.id, lease_until=None)

    def _retry_later(self, post: PostRecord, wait_s: float, reason: str) -> str:
        """Nothing was accepted: back to the schedule after `wait_s` (the platform's stated wait, or backoff)."""
        with unit_of_work() as uow:
            current = self._locked(uow, post)
            if current is None:
                return "stale"
            if current.attempts >= MAX_ATTEMPTS:
                return self._finish(
                    uow, current, Event.FAILED, f"the platform kept failing: {reason}", "RETRIES"
                ).status
            transition(
                uow,
                current,
                Event.RETRY_LATER,
                note=reason,
                scheduled_for=_now() + timedelta(seconds=max(1.0, wait_s)),
                step=current.step + 1,
                lease_until=None,
                dispatched_at=None,
                upload_state={k: v for k, v in current.upload_state.items() if k != "phase"},
            )
        return "retry-later"

    def _check_later(self, post: PostRecord, delay_s: float, *, note: str | None = None, **state: Any) -> str:
        """Check again later: the next step's message, sent with a delay inside the transaction that takes it."""
        with unit_of_work() as uow:
            current = self._locked(uow, post)
            if current is None:
                return "stale"
            started = current.publishing_started_at or _now()
            if _now() - started > timedelta(seconds=self.settings.post_processing_timeout_s):
                reason = "the platform did not confirm the post in time; check the account before posting again"
                return self._finish(uow, current, Event.AMBIGUOUS, reason, "UNCONFIRMED").status
            step = current.step + 1
            transition(
                uow,
                current,
                Event.STILL_PROCESSING if current.status == "processing" else Event.RESUME_LATER,
                note=note,
                step=step,
                lease_until=None,
                upload_state={**current.upload_state, **state},
            )
            delay = int(min(MAX_DELAY_S, max(0.0, delay_s)))
            send(self.settings.post_queue_url, self.message.model_copy(update={"step": step}), delay_s=delay)
        return "checking"

    # --- steps -------------------------------------------------------------------------------------------

    def _call(self, post: PostRecord, call: Callable[[str], T]) -> T:
        """A platform call with the token; on a 401 the token is refreshed once and the call made again."""
        try:
            return call(self.token)
        except TokenRejected:
            self.token = access_token(post.account_id, force_refresh=True)
        try:
            return call(self.token)
        except TokenRejected as again:
            mark_reconnect_required(post.account_id, "the platform refused a freshly refreshed token")
            raise AccountUnusable("the account must be reconnected: the platform refused its token") from again

    def _begin(self, post: PostRecord, adapter: SocialPlatform, request: PublishRequest) -> PostRecord | str:
        try:
            upload = self._call(post, lambda token: adapter.begin(token, request))
        except RateLimited as limited:
            return self._retry_later(post, limited.wait_s, limited.message)
        except Ambiguous as unclear:
            if adapter.begin_publishes:
                return self._end(post, Event.AMBIGUOUS, "the platform did not answer the publish call", "UNCONFIRMED")
            return self._retry_later(post, self._backoff(post), unclear.message)
        except Unavailable as down:
            return self._retry_later(post, self._backoff(post), down.message)
        except Rejected as refused:
            return self._end(post, Event.FAILED, refused.reason, refused.platform_code or refused.code)
        with unit_of_work() as uow:  # the upload id, committed before anything else can go wrong
            current = self._locked(uow, post)
            if current is None or current.upload_id is not None:
                logger.error("post changed while its upload began", extra={"post_id": str(post.id)})
                return "stale"
            return transition(
                uow,
                current,
                Event.UPLOAD_STARTED,
                upload_id=upload.upload_id,
                upload_state={**current.upload_state, **upload.data, "phase": "transfer"},
            )

    def _transfer(self, post: PostRecord, adapter: SocialPlatform, request: PublishRequest) -> PostRecord | str:
        upload = Upload(post.upload_id or "", post.upload_state)
        try:
            done = self._call(post, lambda token: adapter.transfer(token, upload, request))
        except UploadGone as gone:
            restarts = int(post.upload_state.get("restarts") or 0)
            if restarts >= MAX_RESTARTS:
                return self._end(post, Event.FAILED, f"the upload kept expiring: {gone.message}", "UPLOAD_EXPIRED")
            with unit_of_work() as uow:
                current = self._locked(uow, post)
                if current is None:
                    return "stale"
                # The handle expired before it completed: it never published, so a new one is safe.
                state = {k: v for k, v in current.upload_state.items() if k in ("reserved",)}
                return transition(
                    uow,
                    current,
                    Event.RESTART_UPLOAD,
                    upload_id=None,
                    upload_state={**state, "phase": "begin", "restarts": restarts + 1},
                )
        except RateLimited as limited:
            return self._check_later(post, limited.wait_s, note=limited.message)
        except (Ambiguous, Unavailable) as unclear:
            # The transfer resumes from the platform's own offset; the upload id never changes.
            return self._check_later(post, self._backoff(post), note=unclear.message)
        except Rejected as refused:
            return self._end(post, Event.FAILED, refused.reason, refused.platform_code or refused.code)
        with unit_of_work() as uow:
            current = self._locked(uow, post)
            if current is None:
                return "stale"
            return transition(
                uow, current, Event.ACCEPTED, upload_state={**current.upload_state, **done.data, "phase": "check"}
            )

    def _check(self, post: PostRecord, adapter: SocialPlatform) -> PostRecord | str:
        upload = Upload(post.upload_id or "", post.upload_state)
        try:
            found = self._call(post, lambda token: adapter.check(token, upload))
        except RateLimited as limited:
            return self._check_later(post, limited.wait_s, note=limited.message)
        except (Ambiguous, Unavailable) as unclear:
            return self._check_later(post, self._backoff(post), note=unclear.message)
        except UploadGone:
            return self._end(post, Event.AMBIGUOUS, "the platform no longer knows the upload", "UNCONFIRMED")
        except Rejected as refused:
            return self._end(post, Event.FAILED, refused.reason, refused.platform_code or refused.code)
        if found.state == CheckState.PUBLISHED:
            return self._published(post, found)
        if found.state == CheckState.FAILED:
            reason = found.reason or "the platform refused the post"
            return self._end(post, Event.FAILED, reason, found.platform_code or "PLATFORM_FAILED")
        if found.state == CheckState.READY:
            return self._ready(post, adapter, upload)
        if found.state == CheckState.UPLOADING and post.upload_state.get("phase") == "check":
            # The media went missing after it was accepted: let the transfer resume it from the platform's offset.
            return self._check_later(post, 0, note="resume the upload", phase="transfer")
        return self._check_later(post, self.settings.post_poll_interval_s)

    def _ready(self, post: PostRecord, adapter: SocialPlatform, upload: Upload) -> PostRecord | str:
        """Processed and waiting for the publish call: make it once; after an ambiguous one, only read."""
        if post.upload_state.get("phase") != "publish_sent":
            return self._publish(post, adapter, upload)
        tries = int(post.upload_state.get("reconciles") or 0) + 1
        if tries > RECONCILE_CHECKS:
            reason = "the publish call had no clear answer; check the account before posting again"
            return self._end(post, Event.AMBIGUOUS, reason, "UNCONFIRMED")
        return self._check_later(
            post, self.settings.post_poll_interval_s, note="reconciling the publish call", reconciles=tries
        )

    def _publish(self, post: PostRecord, adapter: SocialPlatform, upload: Upload) -> PostRecord | str:
        """The one call that makes the post public: `publish_sent` is committed first, so it is never repeated."""
        with unit_of_work() as uow:
            current = self._locked(uow, post)
            if current is None or current.upload_state.get("phase") == "publish_sent":
                return "stale"
            post = transition(
                uow, current, Event.PUBLISH_SENT, upload_state={**current.upload_state, "phase": "publish_sent"}
            )
        try:
            found = self._call(post, lambda token: adapter.publish(token, upload))
        except (Ambiguous, Unavailable) as unclear:
            return self._check_later(post, self.settings.post_poll_interval_s, note=unclear.message)
        except RateLimited as limited:
            # Refused before anything happened (e.g. the 24 h publishing cap): the container waits for us.
            return self._check_later(post, limited.wait_s, note=limited.message, phase="check")
        except Rejected as refused:
            return self._end(post, Event.FAILED, refused.reason, refused.platform_code or refused.code)
        if found.state == CheckState.PUBLISHED:
            return self._published(post, found)
        return self._check_later(post, self.settings.post_poll_interval_s)

    def _published(self, post: PostRecord, found: Check) -> str:
        """Published. Without a public id yet (TikTok gives it after moderation, maybe hours later), the id is
        asked for again later; the post stays published meanwhile."""
        awaiting = found.post_id is None
        with unit_of_work() as uow:
            current = self._locked(uow, post)
            if current is None:
                return "stale"
            state = {**current.upload_state, "phase": "done", "awaitingPostId": awaiting, "idChecks": 0}
            transition(
                uow,
                current,
                Event.PUBLISHED,
                platform_post_id=found.post_id,
                post_url=found.url,
                posted_at=_now(),
                lease_until=None,
                error_message=None,
                error_code=None,
                upload_state=state,
                step=current.step + (1 if awaiting else 0),
            )
            if awaiting:
                next_message = self.message.model_copy(update={"step": current.step + 1})
                send(self.settings.post_queue_url, next_message, delay_s=MAX_DELAY_S)
        logger.info("post published", extra={"platform": post.platform, "post_id": str(post.id)})
        return "published"

    def _late_post_id(self, post: PostRecord, adapter: SocialPlatform) -> str:
        """Ask for the public id of a published post; give up after a day of checks (the upload id stays)."""
        upload = Upload(post.upload_id or "", post.upload_state)
        try:
            found: Check | None = self._call(post, lambda token: adapter.check(token, upload))
        except (Retryable, Permanent):
            found = None
        with unit_of_work() as uow:
            current = uow.repository(PostRepository).lock(post.id)
            if current is None or current.step != self.message.step or current.status != "published":
                return "stale"
            if found is not None and found.post_id:
                state = {**current.upload_state, "awaitingPostId": False}
                transition(
                    uow,
                    current,
                    Event.POST_ID_KNOWN,
                    platform_post_id=found.post_id,
                    post_url=found.url,
                    upload_state=state,
                )
                return "post-id-known"
            checks = int(current.upload_state.get("idChecks") or 0) + 1
            waiting = checks < POST_ID_CHECKS
            state = {**current.upload_state, "idChecks": checks, "awaitingPostId": waiting}
            uow.repository(PostRepository).update(current.id, step=current.step + 1, upload_state=state)
            if waiting:
                next_message = self.message.model_copy(update={"step": current.step + 1})
                send(self.settings.post_queue_url, next_message, delay_s=MAX_DELAY_S)
        return "post-id-pending"

    # --- helpers -----------------------------------------------------------------------------------------

    def _backoff(self, post: PostRecord) -> float:
        base = RETRY_BACKOFF_S[min(len(RETRY_BACKOFF_S) - 1, max(0, post.attempts - 1))]
        return base + random.uniform(0, base / 4)

    def _request(self, post: PostRecord, video: VideoSource) -> PublishRequest:
        return PublishRequest(
            post_id=str(post.id),
            caption=post.caption,
            hashtags=tuple(str(h) for h in post.hashtags),
            privacy=post.privacy,
            disclosure=post.disclosure,
            media=_media(video, self.settings),
            title=(video.concept_title or post.caption or "Video")[:100],
            platform_account_id=self.platform_account_id,
        )


def _media(video: VideoSource, settings: Settings) -> Media:
    """The stored video: ranged reads from S3 (FILE_UPLOAD, resumable uploads) and a short-lived URL (pull flows)."""
    bucket, key = settings.media_bucket or "", video.s3_key or ""

    def read(offset: int, length: int) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}")
            return bytes(answer["Body"].read())
        except (BotoCoreError, ClientError) as exc:
            raise Unavailable("the stored video could not be read") from exc

    size = video.size_bytes
    if size is None:
        raise Permanent("the video's size is unknown")
    url = _presign(bucket, key) if bucket and key else None
    return Media(size=size, read=read, url=url, duration_s=video.duration_s)


def _presign(bucket: str, key: str, ttl_s: int = 3600) -> str:
    """A GET URL a platform may pull the video from (signed locally, Signature V4: no network call)."""
    import boto3  # the Lambda runtime provides it; imported on first use only
    from botocore.config import Config

    signer = boto3.client("s3", config=Config(signature_version="s3v4"))
    return str(signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl_s))


def new_message(tenant_id: uuid.UUID, post_id: uuid.UUID, step: int) -> PostJobMessage:
    return PostJobMessage(tenant_id=tenant_id, post_id=post_id, step=step)

"""Videos: request one for a concept, advance its state machine in the worker, register uploads, answer status.

The state machine (videos.status, its table in viral/video/state_machine.py): queued -> submitting ->
rendering -> downloading -> validating -> ready, with reconciling after a submission of unknown outcome, and
fall-back (the next provider) or failed from any working state. Every transition happens under
`SELECT ... FOR UPDATE`; the vendor is called between transactions, never inside one. Rules that keep a paid
vendor from being asked twice:

* `submitting` (with the provider and the attempt's time) is committed before the vendor is called, and the
  vendor's job id is committed the moment it answers, before anything else can fail. A timeout, a reset, a 5xx
  or a delivery that died mid-call leaves the outcome unknown: `reconciling` looks the job up where the vendor
  lists its jobs (Luma), otherwise waits `video_reconcile_window_s`, then falls back to the next provider and
  records the possibly orphaned cost. The vendor is never asked again for that video.
* `step` numbers the queue message that owns the video. Moving to a new step (a poll later, the next
  provider) sends the next message inside the transaction that bumps the step: if the commit fails, the sent
  message is stale and dropped; a duplicate or redelivered old message is dropped too.
* Long vendor jobs are polled by re-sending the message with DelaySeconds, never by sleeping.

Retryable errors (timeouts, 5xx, 429) propagate so SQS redelivers the message, after a backoff set on its
visibility; once a message has been delivered `video_retry_limit` times they count as the provider failing.
A permanent failure falls back to the next provider in the chain, or fails the video (quota refunded).
"""

from __future__ import annotations

import json
import math
import random
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import IO, Any

from viral.aws import client
from viral.aws.sqs import send
from viral.billing.plans import PLANS, video_picks
from viral.db.uow import UnitOfWork, unit_of_work
from viral.errors import Forbidden, NotFound, Permanent, QuotaExceeded, Retryable
from viral.identity.tenant_repository import TenantRepository
from viral.observability import business_metric, logger
from viral.operations.repository import JobRepository
from viral.outbound.events import emit
from viral.settings import Settings, get_settings
from viral.tenancy import current_tenant, tenant_scope
from viral.video.messages import VideoJobMessage
from viral.video.providers import (
    DEFAULT_DURATION_S,
    JobState,
    JobStatus,
    RenderRequest,
    ResultExpired,
    ScriptLine,
    SubmissionUncertain,
    VideoProvider,
)
from viral.video.providers.registry import cost_of, provider_chain, providers, tier_of
from viral.video.quality import QualityReport, Requirements, inspect
from viral.video.repository import VideoRecord, VideoRepository
from viral.video.state_machine import TERMINAL, Event, State, transition

JOB_TYPE = "generate-video"
UPLOAD_JOB_TYPE = "ingest-upload"
# The original's priority per category (the job ledger orders by it).
PRIORITY = {
    "finance": 10,
    "tech": 9,
    "luxury": 8,
    "emotional": 7,
    "music": 6,
    "relationships": 5,
    "fitness": 4,
    "news": 3,
    "gaming": 2,
    "food": 2,
    "absurd": 1,
    "cartoon": 1,
}
SUBMIT_LEASE = timedelta(seconds=120)
WORK_LEASE = timedelta(seconds=360)  # longer than the worker's timeout, shorter than the queue's visibility
BACKOFF_BASE_S = 10
MAX_DELAY_S = 900  # SQS's longest DelaySeconds
SPOOL_BYTES = 16 * 1024 * 1024  # larger videos spill from memory to /tmp
UPLOAD_KEY = re.compile(r"^uploads/(?P<tenant>[0-9a-fA-F-]{36})/(?P<name>[^/].*\.mp4)$", re.IGNORECASE)


def _now() -> datetime:
    return datetime.now(UTC)


def _bucket(settings: Settings) -> str:
    if not settings.media_bucket:
        raise RuntimeError("MEDIA_BUCKET is not configured")
    return settings.media_bucket


def _plan_limits() -> str:
    return json.dumps({tier: plan.videos_per_month for tier, plan in PLANS.items()})


# --- requests -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoRequestResult:
    video: VideoRecord
    created: bool

    def wire(self) -> dict[str, Any]:
        """The original's answer, plus the video's id, status and provider."""
        return {
            "success": True,
            "conceptId": self.video.concept_id,
            "message": "Video generation started" if self.created else "Video generation already in progress",
            "status": self.video.status,
            "videoId": str(self.video.id),
            "provider": self.video.provider,
        }


def request_video(concept_id: str, *, platform: str = "tiktok", provider: str | None = None) -> VideoRequestResult:
    """Queue a video of the concept for the platform, charging one video of the monthly quota.

    While a video of the same concept and platform is in flight, the same video is answered (nothing charged,
    its message sent again if no worker has picked it up). The quota check and the insert are atomic.
    """
    settings = get_settings()
    available = providers(settings)
    with unit_of_work() as uow:
        concept = uow.repository(VideoRepository).concept(concept_id)
        if concept is None:
            raise NotFound("Concept not found")
        if provider is not None:
            _check_pick(uow, provider, concept.category, available, settings)
        chain = provider_chain(concept.category, available, settings, requested=provider)
        video = uow.repository(VideoRepository).create_in_flight(
            concept_id=concept.id, category=concept.category, platform=platform, provider_chain=chain
        )
        created = video is not None
        if video is None:
            video = uow.repository(VideoRepository).in_flight(concept.id, platform)
            if video is None:  # it finished between our insert and this read
                raise Retryable("the previous video of this concept just finished: ask again")
        else:
            quota = uow.repository(VideoRepository).consume_quota(_plan_limits())
            if not quota.granted:
                raise QuotaExceeded(
                    "Video quota exceeded",
                    details=f"You've used all {quota.total} videos this month. "
                    "Upgrade your plan or wait for quota reset.",
                )
        job, _ = uow.repository(JobRepository).enqueue(
            job_type=JOB_TYPE,
            payload={"videoId": str(video.id), "conceptId": concept.id, "platform": platform},
            idempotency_key=f"video:{video.id}",
            priority=PRIORITY.get(concept.category, 5),
        )
        resend = created or (video.status == "queued" and video.step == 0)
    if resend:
        message = VideoJobMessage(video_id=video.id, tenant_id=current_tenant(), job_id=job.id, step=video.step)
        send(settings.video_queue_url, message)
    return VideoRequestResult(video=video, created=created)


def _check_pick(
    uow: UnitOfWork, provider: str, category: str, available: dict[str, VideoProvider], settings: Settings
) -> None:
    """Forbidden (naming the allowed ones) when the tenant's plan may not pick `provider` for this category's tier."""
    tenant = uow.repository(TenantRepository).get()
    plan_tier = tenant.subscription_tier if tenant is not None else "FREE"
    category_tier = tier_of(category, settings)
    picks = video_picks(plan_tier, category_tier)
    if provider not in picks:
        allowed = [p for p in picks if p in available and available[p].configured()]
        raise Forbidden(
            f"the {plan_tier} plan cannot pick the provider '{provider}' for a {category_tier} concept; "
            f"allowed: {', '.join(allowed)}",
            details={"provider": provider, "allowed": allowed, "plan": plan_tier, "categoryTier": category_tier},
        )


# --- status and listing ---------------------------------------------------------------------------------


def presigned_url(video: VideoRecord, settings: Settings) -> str | None:
    """A short-lived GET URL of a ready video (signed locally: no network call)."""
    if video.status != "ready" or not video.s3_key or not settings.media_bucket:
        return None
    return str(
        _signer().generate_presigned_url(
            "get_object",
            Params={"Bucket": settings.media_bucket, "Key": video.s3_key},
            ExpiresIn=settings.video_url_ttl_s,
        )
    )


@lru_cache(maxsize=1)
def _signer() -> Any:
    """An S3 client that presigns with Signature V4 (botocore's default V2 is refused by buckets made since 2020)."""
    import boto3  # the Lambda runtime provides it; imported on first use only
    from botocore.config import Config

    return boto3.client("s3", config=Config(signature_version="s3v4"))


def reset_signer() -> None:
    _signer.cache_clear()


def video_wire(video: VideoRecord, settings: Settings) -> dict[str, Any]:
    """The original's status shape (status, videoId, videoUrl, provider, generatedAt, duration, cost, error)
    plus what the pipeline knows about the file."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "status": video.status,
        "videoId": str(video.id),
        "videoUrl": presigned_url(video, settings),
        "provider": video.provider,
        "generatedAt": iso(video.generated_at),
        "duration": float(video.duration_s) if video.duration_s is not None else None,
        "cost": float(video.generation_cost),
        "error": video.error_message,
        "conceptId": video.concept_id,
        "platform": video.platform,
        "width": video.width,
        "height": video.height,
        "codec": video.codec,
        "sizeBytes": video.size_bytes,
        "quality": video.quality_report,
        "createdAt": iso(video.created_at),
        "updatedAt": iso(video.updated_at),
    }


def video_status(concept_id: str, *, platform: str | None = None) -> dict[str, Any]:
    """The newest video of a concept of this tenant; `not_started` when there is none (or no such concept, as the
    original answered: the same answer either way, so it says nothing about other tenants' ids)."""
    settings = get_settings()
    with unit_of_work() as uow:
        video = uow.repository(VideoRepository).latest_for_concept(concept_id, platform)
    if video is None:
        return {"status": "not_started", "message": "Video generation not started"}
    return video_wire(video, settings)


def list_videos(
    *, limit: int, offset: int = 0, status: str | None = None, concept_id: str | None = None
) -> dict[str, Any]:
    settings = get_settings()
    with unit_of_work() as uow:
        found = uow.repository(VideoRepository).newest(limit=limit, offset=offset, status=status, concept_id=concept_id)
        total = uow.repository(VideoRepository).count(status=status, concept_id=concept_id)
    return {"videos": [video_wire(v, settings) for v in found], "total": total, "limit": limit, "offset": offset}


# --- the worker -----------------------------------------------------------------------------------------


def render_request(video: VideoRecord, concept: dict[str, Any]) -> RenderRequest:
    """What the providers are asked for, from the concept's stored JSON."""
    script = tuple(
        ScriptLine(
            time_range=str(line.get("timeRange") or ""),
            visual=str(line.get("visual") or ""),
            on_screen_text=line.get("onScreenText") if isinstance(line.get("onScreenText"), str) else None,
        )
        for line in concept.get("script") or []
        if isinstance(line, dict)
    )
    title = str(concept.get("title") or "Untitled")
    prompt = str(concept.get("veoPrompt") or concept.get("soraPrompt") or title)
    hashtags = tuple(str(h) for h in concept.get("hashtags") or [] if isinstance(h, str))
    return RenderRequest(
        video_id=str(video.id),
        title=title,
        prompt=prompt,
        category=video.category or "news",
        platform=video.platform,
        script=script,
        hashtags=hashtags,
    )


@dataclass(frozen=True)
class _Claim:
    action: str  # submit | reconcile | poll | done | stale | missing
    video: VideoRecord | None = None
    concept: dict[str, Any] | None = None


def advance_video(message: VideoJobMessage, *, receive_count: int = 1, receipt_handle: str | None = None) -> str:
    """Advance one video by one step; what happened. Retryable errors propagate (after setting a backoff on the
    message's visibility) so SQS delivers it again."""
    settings = get_settings()
    try:
        with tenant_scope(message.tenant_id):
            return _Worker(message, settings, receive_count).run()
    except Retryable:
        _back_off(settings, receipt_handle, receive_count)
        raise


def _back_off(settings: Settings, receipt_handle: str | None, receive_count: int) -> None:
    """Exponential backoff with jitter: the failed message becomes visible again after the delay."""
    if not receipt_handle or not settings.video_queue_url:
        return
    delay = min(900, BACKOFF_BASE_S * 2 ** max(0, receive_count - 1) + random.randint(0, BACKOFF_BASE_S))
    try:
        client("sqs").change_message_visibility(
            QueueUrl=settings.video_queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay
        )
    except Exception:  # best effort: without it SQS retries after the visibility timeout
        logger.warning("could not set the retry backoff", exc_info=True)


_RECORD_FIELDS = frozenset(f.name for f in fields(VideoRecord))


class _Worker:
    """One delivery of one video message: one step of the state machine (viral/video/state_machine.py)."""

    def __init__(self, message: VideoJobMessage, settings: Settings, receive_count: int) -> None:
        self.message = message
        self.settings = settings
        self.receive_count = receive_count
        self.providers = providers(settings)

    def _exhausted(self) -> bool:
        return self.receive_count >= self.settings.video_retry_limit

    def run(self) -> str:
        claim = self._claim()
        if claim.video is None or claim.concept is None:
            return claim.action
        video, request = claim.video, render_request(claim.video, claim.concept)
        provider = self.providers.get(video.provider)
        if provider is None:
            return self._provider_failed(video, f"unknown provider '{video.provider}'")
        try:
            if claim.action == "submit":
                return self._submit(video, provider, request)
            if claim.action == "reconcile":
                return self._reconcile(video, provider, request)
            return self._poll(video, provider, request)
        except ResultExpired as error:
            return self._result_expired(video, error.message)
        except Permanent as error:
            return self._provider_failed(video, error.message)
        except Retryable as error:
            if self._exhausted():
                return self._provider_failed(video, f"kept failing: {error.message}")
            self._release(video)
            raise

    # transactions ------------------------------------------------------------------------------------

    def _locked(self, uow: UnitOfWork) -> VideoRecord | None:
        """The video locked, if this message still owns it (same step, not finished)."""
        video = uow.repository(VideoRepository).lock(self.message.video_id)
        if video is None or video.status in TERMINAL or video.step != self.message.step:
            return None
        return video

    def _move(
        self, uow: UnitOfWork, video: VideoRecord, event: Event, *, delay_s: int | None = None, **changes: Any
    ) -> VideoRecord:
        """Take the transition `event` (the table decides the new status; anything else raises), with `changes`.
        With `delay_s`, hand the video to the next message too: bump the step and send it, inside the caller's
        transaction (if the commit fails, the sent message is stale and dropped)."""
        status = transition(video.status, event).value
        if delay_s is not None:
            changes.update(step=video.step + 1, lease_until=None)
        uow.repository(VideoRepository).update(video.id, status=status, **changes)
        if delay_s is not None:
            send(
                self.settings.video_queue_url, self.message.model_copy(update={"step": video.step + 1}), delay_s=delay_s
            )
        return replace(video, status=status, **{k: v for k, v in changes.items() if k in _RECORD_FIELDS})

    def _claim(self) -> _Claim:
        """Decide what this delivery does. A poll only reads (its transaction writes nothing); starting or resuming
        work takes a lease and counts an attempt."""
        now = _now()
        with unit_of_work() as uow:
            found = uow.repository(VideoRepository).lock_with_concept(self.message.video_id)
            if found is None:
                logger.warning("video not found", extra={"video_id": str(self.message.video_id)})
                return _Claim("missing")
            video, concept = found
            if video.status in TERMINAL:
                return _Claim("done")
            if video.step != self.message.step:
                return _Claim("stale")
            if video.lease_until is not None and video.lease_until > now:
                raise Retryable("another delivery is working on this video")
            if concept is None:
                self._fail(uow, video, "the concept no longer exists")
                return _Claim("done")
            if video.status == State.RENDERING:
                return _Claim("poll", video, concept)
            attempts = video.attempts + 1
            if video.status == State.QUEUED:
                uow.repository(VideoRepository).start_job(self.message.job_id)
                # The attempt (provider, time) is committed before the vendor is called: a redelivery sees it.
                video = self._move(
                    uow, video, Event.CLAIM, attempts=attempts, submitted_at=now, lease_until=now + SUBMIT_LEASE
                )
                return _Claim("submit", video, concept)
            if video.status == State.SUBMITTING:  # the delivery asking the vendor died mid-call: outcome unknown
                history = [
                    *video.provider_history,
                    _history(video, "submit-unknown", "the outcome is unknown: the delivery asking the vendor died"),
                ]
                video = self._move(
                    uow,
                    video,
                    Event.UNKNOWN,
                    attempts=attempts,
                    provider_history=history,
                    lease_until=now + WORK_LEASE,
                )
                return _Claim("reconcile", video, concept)
            if video.status == State.RECONCILING:
                uow.repository(VideoRepository).update(video.id, attempts=attempts, lease_until=now + WORK_LEASE)
                return _Claim("reconcile", video, concept)
            # downloading/validating cut short: poll again for a fresh result URL
            video = self._move(uow, video, Event.INTERRUPTED, attempts=attempts)
            return _Claim("poll", video, concept)

    def _release(self, video: VideoRecord) -> None:
        """Let the next delivery work on the video at once (a retryable error left it half-done)."""
        with unit_of_work() as uow:
            current = self._locked(uow)
            if current is None:
                return
            if current.status == State.SUBMITTING and current.provider_job_id is None:
                # A retryable submit error means the vendor surely took nothing (429, no connection).
                self._move(uow, current, Event.REFUSED, lease_until=None, submitted_at=None)
                return
            uow.repository(VideoRepository).update(current.id, lease_until=None)

    def _fail(self, uow: UnitOfWork, video: VideoRecord, reason: str) -> None:
        self._move(uow, video, Event.FAIL, error_message=reason[:2000], lease_until=None)
        if video.provider != "upload":
            uow.repository(VideoRepository).refund_quota(taken_at=video.created_at)
        uow.repository(JobRepository).finish(self.message.job_id, status="failed", error=reason[:2000])
        emit(uow, "video.failed", {"videoId": str(video.id), "conceptId": video.concept_id, "error": reason[:500]})
        business_metric("Videos", provider=video.provider, status="failed")

    # steps -------------------------------------------------------------------------------------------

    def _submit(self, video: VideoRecord, provider: VideoProvider, request: RenderRequest) -> str:
        try:
            job_id = provider.submit(request)
        except SubmissionUncertain as error:
            return self._uncertain(video, provider, error.message)
        with unit_of_work() as uow:  # the vendor's job id, committed before anything else can go wrong
            current = uow.repository(VideoRepository).lock(video.id)
            if current is None or current.status != State.SUBMITTING or current.step != self.message.step:
                # Our lease ran out mid-call and the video moved on: keep the vendor's job id for the cost audit.
                logger.error("video changed while it was being submitted", extra={"video_id": str(video.id)})
                if current is not None:
                    orphan = {**_history(video, "orphaned", "submitted after the lease expired"), "jobId": job_id}
                    uow.repository(VideoRepository).update(
                        video.id, provider_history=[*current.provider_history, orphan]
                    )
                return "stale"
            video = self._move(uow, current, Event.ACCEPTED, provider_job_id=job_id, lease_until=None)
        logger.info("video submitted", extra={"provider": provider.name, "video_id": str(video.id)})
        return self._schedule_poll(video, provider, submitted=True)

    def _uncertain(self, video: VideoRecord, provider: VideoProvider, reason: str) -> str:
        """The vendor may have accepted the job: never ask it again for this video; reconcile after a delay."""
        logger.warning("video submission outcome unknown", extra={"provider": provider.name, "reason": reason[:300]})
        with unit_of_work() as uow:
            current = self._locked(uow)
            if current is None or current.status != State.SUBMITTING:
                return "stale"
            history = [*current.provider_history, _history(current, "submit-unknown", reason)]
            self._move(
                uow, current, Event.UNKNOWN, delay_s=self._recheck_delay(current, provider), provider_history=history
            )
        return "reconciling"

    def _reconcile_left_s(self, video: VideoRecord) -> float:
        attempted = video.submitted_at or video.updated_at
        deadline = attempted + timedelta(seconds=self.settings.video_reconcile_window_s)
        return (deadline - _now()).total_seconds()

    def _recheck_delay(self, video: VideoRecord, provider: VideoProvider) -> int:
        """Look again after a poll interval; a vendor that cannot be asked is simply waited for, once."""
        left = max(0, math.ceil(self._reconcile_left_s(video)))
        wait = self.settings.video_poll_interval_s if provider.can_look_up else left
        return min(wait, left, MAX_DELAY_S)

    def _reconcile(self, video: VideoRecord, provider: VideoProvider, request: RenderRequest) -> str:
        """Find the job a submission of unknown outcome may have created; adopt it, look again, or fall back."""
        attempted = video.submitted_at or video.updated_at
        job_id = provider.look_up(request, since=attempted) if provider.can_look_up else None
        with unit_of_work() as uow:
            current = self._locked(uow)
            if current is None or current.status != State.RECONCILING:
                return "stale"
            if job_id is not None:
                found = {**_history(current, "reconciled", "found in the vendor's job list"), "jobId": job_id}
                history = [*current.provider_history, found]
                self._move(uow, current, Event.FOUND, delay_s=0, provider_job_id=job_id, provider_history=history)
                logger.info("video submission reconciled", extra={"provider": provider.name})
                return "reconciled"
            if self._reconcile_left_s(current) > 0:
                self._move(uow, current, Event.RECHECK, delay_s=self._recheck_delay(current, provider))
                return "reconciling"
            how = "not in the vendor's job list" if provider.can_look_up else "the vendor cannot list its jobs"
            return self._fall_back(uow, current, f"the submission's outcome is unknown ({how}); not asking again")

    def _schedule_poll(self, video: VideoRecord, provider: VideoProvider, *, submitted: bool = False) -> str:
        """Poll again later: the next step's message, sent with a delay. A job running past the render timeout
        counts as this provider failing."""
        delay = self.settings.video_poll_interval_s if provider.poll_interval_s else 0
        started = video.submitted_at or _now()  # fixed while the video renders
        if not submitted and _now() - started > timedelta(seconds=self.settings.video_render_timeout_s):
            return self._provider_failed(video, f"not finished after {self.settings.video_render_timeout_s} s")
        step = self.message.step + 1
        status = transition(State.RENDERING, Event.RUNNING)
        with unit_of_work() as uow:
            # One conditional update takes the step: it is the row lock and the ownership check at once.
            if not uow.repository(VideoRepository).take_step(
                video.id, step=self.message.step, status=status, next_poll_at=_now() + timedelta(seconds=delay)
            ):
                return "stale"
            send(self.settings.video_queue_url, self.message.model_copy(update={"step": step}), delay_s=delay)
        return "submitted" if submitted else "polling"

    def _poll(self, video: VideoRecord, provider: VideoProvider, request: RenderRequest) -> str:
        if not video.provider_job_id:
            raise Permanent("the video has no vendor job to poll")
        status = provider.poll(video.provider_job_id)
        if status.state == JobState.RUNNING:
            return self._schedule_poll(video, provider)
        if status.state == JobState.FAILED:
            return self._provider_failed(video, status.error or "the vendor job failed")
        return self._fetch(video, provider, request, status)

    def _set_status(self, video: VideoRecord, event: Event, *, exclusive: bool = False) -> bool:
        """Take `event` under a fresh lease; False when this delivery no longer owns the video (or, with
        `exclusive`, when a duplicate of this message holds the lease)."""
        now = _now()
        with unit_of_work() as uow:
            current = self._locked(uow)
            if current is None or (exclusive and current.lease_until is not None and current.lease_until > now):
                return False
            self._move(uow, current, event, lease_until=now + WORK_LEASE)
            return True

    def _fetch(self, video: VideoRecord, provider: VideoProvider, request: RenderRequest, status: JobStatus) -> str:
        """Download (or render) the result, check it, store it in S3 and mark the video ready."""
        if not self._set_status(video, Event.SUCCEEDED, exclusive=True):
            return "stale"
        bucket = _bucket(self.settings)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as sink:
            size = provider.download(status, sink, request)
            if not self._set_status(video, Event.DOWNLOADED):
                return "stale"
            report = inspect(sink, size, Requirements.from_settings(self.settings))
            if not report.passed:
                return self._provider_failed(video, f"quality checks failed: {report.reason()}", report)
            key = f"videos/{self.message.tenant_id}/{video.id}.mp4"
            _upload(sink, bucket, key)
        return self._ready(video, key, report, bucket)

    def _ready(self, video: VideoRecord, key: str, report: QualityReport, bucket: str) -> str:
        info = report.info
        duration = info.duration_s or 0.0
        cost = cost_of(video.provider, duration, self.settings)
        with unit_of_work() as uow:
            current = self._locked(uow)
            if current is None:
                return "stale"
            self._move(
                uow,
                current,
                Event.PASSED,
                lease_until=None,
                error_message=None,
                s3_key=key,
                video_url=f"s3://{bucket}/{key}",
                duration_s=Decimal(str(duration)),
                width=info.width,
                height=info.height,
                codec=info.codec,
                size_bytes=info.size_bytes,
                quality_report=report.wire(),
                generation_cost=cost,
                generated_at=_now(),
                metadata_={"duration": duration, "fps": info.fps, "hasAudio": info.has_audio},
            )
            uow.repository(JobRepository).finish(
                self.message.job_id,
                status="completed",
                result={"videoId": str(video.id), "provider": video.provider, "s3Key": key, "cost": float(cost)},
            )
            emit(
                uow,
                "video.ready",
                {"videoId": str(video.id), "conceptId": video.concept_id, "provider": video.provider},
            )
        logger.info("video ready", extra={"provider": video.provider, "video_id": str(video.id)})
        business_metric("Videos", provider=video.provider, status="ready")
        business_metric("VendorCostUSD", float(cost), unit="None", provider=video.provider)
        return "ready"

    def _result_expired(self, video: VideoRecord, reason: str) -> str:
        """The result URL stopped working: poll once more for a fresh one; a second time, give up on it."""
        with unit_of_work() as uow:
            current = self._locked(uow)
            if current is None:
                return "stale"
            expired_before = any(
                h.get("event") == "result-expired" and h.get("jobId") == current.provider_job_id
                for h in current.provider_history
            )
            if expired_before:
                return self._fall_back(uow, current, reason)
            history = [*current.provider_history, _history(current, "result-expired", reason)]
            self._move(uow, current, Event.RESULT_EXPIRED, delay_s=0, provider_history=history)
        return "refreshing"

    def _provider_failed(self, video: VideoRecord, reason: str, report: QualityReport | None = None) -> str:
        with unit_of_work() as uow:
            current = self._locked(uow)
            if current is None:
                return "stale"
            return self._fall_back(uow, current, reason, report)

    def _fall_back(self, uow: UnitOfWork, video: VideoRecord, reason: str, report: QualityReport | None = None) -> str:
        """Move on to the next provider of the chain, or fail the video when none is left. Leaving a submission of
        unknown outcome records the job the vendor may still bill (never found, so never used)."""
        logger.warning("video provider failed", extra={"provider": video.provider, "reason": reason[:300]})
        history = [*video.provider_history, _history(video, "failed", reason)]
        if video.status in (State.SUBMITTING, State.RECONCILING) and video.provider_job_id is None:
            possible = cost_of(video.provider, DEFAULT_DURATION_S, self.settings)
            orphan = {
                **_history(video, "possibly-orphaned", "a job may exist that we never got"),
                "possibleCost": float(possible),
            }
            history.append(orphan)
            logger.warning(
                "vendor job possibly orphaned", extra={"provider": video.provider, "possible_cost": float(possible)}
            )
        chain = [str(p) for p in video.provider_chain]
        position = chain.index(video.provider) if video.provider in chain else len(chain)
        quality = report.wire() if report is not None else video.quality_report
        if position + 1 < len(chain):
            self._move(
                uow,
                video,
                Event.FALL_BACK,
                delay_s=0,
                provider=chain[position + 1],
                provider_job_id=None,
                submitted_at=None,
                next_poll_at=None,
                provider_history=history,
                quality_report=quality,
            )
            return "fallback"
        uow.repository(VideoRepository).update(video.id, provider_history=history, quality_report=quality)
        self._fail(uow, video, reason)
        return "failed"


def _history(video: VideoRecord, event: str, reason: str) -> dict[str, Any]:
    return {
        "provider": video.provider,
        "jobId": video.provider_job_id,
        "event": event,
        "reason": reason[:500],
        "at": _now().isoformat(),
    }


# --- S3 -------------------------------------------------------------------------------------------------


class ObjectGone(Permanent):
    """The S3 object is not there (deleted before we got to it)."""


def _s3_call(what: str, call: Callable[[], Any]) -> Any:
    """An S3 call with its failures typed: a missing object is ObjectGone, anything else retryable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call()
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code")
        if status in (404, 412) or code in ("404", "NoSuchKey", "NotFound", "PreconditionFailed"):
            raise ObjectGone(f"S3 has no such object to {what}") from exc
        raise Retryable(f"S3 could not {what}", details={"status": status}) from exc
    except BotoCoreError as exc:
        raise Retryable(f"S3 could not {what}") from exc


def _upload(source: IO[bytes], bucket: str, key: str) -> None:
    """Store a video (multipart for large files, from the spooled temp file)."""
    source.seek(0)
    try:
        _s3_call(
            "store the video",
            lambda: client("s3").upload_fileobj(source, bucket, key, ExtraArgs={"ContentType": "video/mp4"}),
        )
    except ObjectGone as exc:  # NoSuchBucket: the deployment is wrong, not the provider
        raise RuntimeError("the media bucket does not exist") from exc


# --- uploads --------------------------------------------------------------------------------------------


def upload_tenant(key: str) -> uuid.UUID | None:
    """The tenant named by an upload's key (uploads/<tenant>/<name>.mp4), or None for any other key."""
    match = UPLOAD_KEY.match(key)
    if match is None:
        return None
    try:
        return uuid.UUID(match["tenant"])
    except ValueError:
        return None


def ingest_upload(*, bucket: str, key: str, etag: str, size: int) -> str:
    """Check an uploaded video and register it as the tenant's video (ready, or failed with the reasons).

    The tenant comes from the key and must exist (checked in its own RLS scope). S3 may notify twice: the
    object (key and ETag) is registered once. Uploads cost no video quota.
    """
    tenant = upload_tenant(key)
    if tenant is None:
        logger.warning("not an upload key; ignored", extra={"key": key[:200]})
        return "ignored"
    with tenant_scope(tenant):
        with unit_of_work() as uow:
            if uow.repository(TenantRepository).get() is None:
                logger.warning("upload for an unknown tenant; ignored", extra={"tenant_id": str(tenant)})
                return "unknown-tenant"
        try:
            head = _s3_call("read the upload", lambda: client("s3").head_object(Bucket=bucket, Key=key))
        except ObjectGone:
            return "gone"
        registered = _register_upload(key, etag, head.get("Metadata") or {})
        if isinstance(registered, str):
            return registered
        video, job_id = registered
        try:
            report = _inspect_upload(bucket, key, etag, size, get_settings())
        except ObjectGone:
            return _finish_upload(video.id, job_id, bucket, key, None)
        return _finish_upload(video.id, job_id, bucket, key, report)


def _register_upload(key: str, etag: str, metadata: dict[str, str]) -> tuple[VideoRecord, uuid.UUID] | str:
    """The upload's video and ledger job (created once), or the final status of an earlier registration.

    Optional object metadata links it: `x-amz-meta-concept-id` (a concept of this tenant), `x-amz-meta-platform`.
    """
    meta = {k.lower(): v for k, v in metadata.items()}
    platform = meta.get("platform", "tiktok")
    if platform not in ("tiktok", "youtube-shorts", "instagram-reels"):
        platform = "tiktok"
    with unit_of_work() as uow:
        concept = uow.repository(VideoRepository).concept(meta["concept-id"][:64]) if meta.get("concept-id") else None
        video, _ = uow.repository(VideoRepository).register_upload(
            s3_key=key,
            etag=etag.strip('"')[:128],
            platform=platform,
            concept_id=concept.id if concept else None,
            category=concept.category if concept else None,
        )
        if video.status in TERMINAL:
            return video.status
        job, _ = uow.repository(JobRepository).enqueue(
            job_type=UPLOAD_JOB_TYPE,
            payload={"videoId": str(video.id), "key": key},
            idempotency_key=f"upload:{video.id}",
        )
        uow.repository(VideoRepository).start_job(job.id)
        return video, job.id


def _finish_upload(video_id: uuid.UUID, job_id: uuid.UUID, bucket: str, key: str, report: QualityReport | None) -> str:
    with unit_of_work() as uow:
        current = uow.repository(VideoRepository).lock(video_id)
        if current is None or current.status in TERMINAL:
            return current.status if current else "missing"
        if report is None:
            reason = "the upload was deleted or replaced before it was checked"
            uow.repository(VideoRepository).update(
                video_id, status=transition(current.status, Event.FAIL), error_message=reason
            )
            uow.repository(JobRepository).finish(job_id, status="failed", error=reason)
            emit(uow, "video.failed", {"videoId": str(video_id), "conceptId": current.concept_id, "error": reason})
            return "failed"
        info = report.info
        changes: dict[str, Any] = {
            "quality_report": report.wire(),
            "size_bytes": info.size_bytes,
            "width": info.width,
            "height": info.height,
            "codec": info.codec,
            "duration_s": Decimal(str(info.duration_s)) if info.duration_s is not None else None,
            "video_url": f"s3://{bucket}/{key}",
        }
        if report.passed:
            status = transition(current.status, Event.PASSED)
            uow.repository(VideoRepository).update(video_id, status=status, generated_at=_now(), **changes)
            uow.repository(JobRepository).finish(
                job_id, status="completed", result={"videoId": str(video_id), "s3Key": key}
            )
            emit(uow, "video.ready", {"videoId": str(video_id), "conceptId": current.concept_id, "upload": True})
            return "ready"
        reason = f"quality checks failed: {report.reason()}"
        status = transition(current.status, Event.FAIL)
        uow.repository(VideoRepository).update(video_id, status=status, error_message=reason, **changes)
        uow.repository(JobRepository).finish(job_id, status="failed", error=reason)
        emit(uow, "video.failed", {"videoId": str(video_id), "conceptId": current.concept_id, "error": reason[:500]})
        return "failed"


def _inspect_upload(bucket: str, key: str, etag: str, size: int, settings: Settings) -> QualityReport:
    from viral.video.quality import MediaInfo, check

    rules = Requirements.from_settings(settings)
    if size > rules.max_bytes:  # refuse before downloading
        return check(MediaInfo(size_bytes=size, error="too large to inspect"), rules)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as sink:

        def fetch() -> None:
            # Exactly the notified version: a newer upload at the same key is registered by its own notification.
            extra = {"IfMatch": f'"{etag.strip(chr(34))}"'} if etag else {}
            body = client("s3").get_object(Bucket=bucket, Key=key, **extra)["Body"]
            for chunk in body.iter_chunks(1024 * 1024):
                sink.write(chunk)

        _s3_call("read the upload", fetch)
        return inspect(sink, sink.seek(0, 2), rules)

"""The Sweeper schedule (every five minutes): find work that stopped moving and re-send it, or fail it with a reason.

* Videos still `queued` long after their last change: the message was never sent (the send after the commit failed)
  or was lost. Re-send it (the worker drops a stale or duplicate message by its step). Past a longer deadline the
  video fails, its job fails and its quota is refunded into the period it was taken from.
* Ledger jobs `pending` or `running` past a deadline: generation jobs are re-sent (claim, work, finish: the worker
  tolerates redelivery) until their attempts run out; other kinds cannot be re-sent from here and fail. Video and
  post jobs follow their video or post, which the other sweeps handle.
* Posts `publishing` or `processing` with no change for long: their next message was lost. Re-send it at the
  post's step (the worker reconciles by the platform's upload id and never publishes twice). Due posts that were
  never dispatched are the DuePosts schedule's.

The listing runs once per kind on the system path and reveals ids only; every fix runs in the row's tenant's own
unit of work as one conditional claim (so two sweepers at once never act on a row twice), and every message is
sent after that commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from viral.aws.sqs import send
from viral.content.daily import JOB_TYPE as GENERATION_JOB_TYPE
from viral.content.messages import GenerationJobMessage
from viral.db.uow import system_unit_of_work, unit_of_work
from viral.observability import logger
from viral.operations.repository import JobRepository
from viral.outbound.events import emit
from viral.settings import get_settings
from viral.social.messages import PostJobMessage
from viral.social.posts import JOB_TYPE as POST_JOB_TYPE
from viral.upkeep.repository import (
    ClaimedJob,
    StuckJobRepository,
    StuckPostRepository,
    StuckRow,
    StuckVideoRepository,
    StuckWorkSystemRepository,
)
from viral.video.messages import VideoJobMessage
from viral.video.repository import VideoRepository
from viral.video.service import JOB_TYPE as VIDEO_JOB_TYPE
from viral.video.state_machine import Event, State, transition

LIMIT = 500  # rows per kind and run; more wait for the next run
# A queued video waits at most SQS's longest delay (15 minutes) for a retry; quiet for longer, its message is lost.
VIDEO_RESEND_S = 20 * 60
VIDEO_FAIL_S = 2 * 60 * 60  # since it was requested: no video waits longer than this in the queue
# The generation worker runs for minutes at most; a job quiet for longer lost its message or its worker.
GENERATION_RESEND_S = 20 * 60
JOB_FAIL_S = 60 * 60  # other kinds of jobs, which the sweeper cannot re-send
# A post waits at most 15 minutes between checks (SQS's longest delay) and a lease is shorter still.
POST_RESEND_S = 30 * 60


FAILED: Literal["failed"] = "failed"


@dataclass
class SweepReport:
    """What one sweep did, per kind ("videos", "jobs", "posts"): re-sent, failed, and the rows it could not fix."""

    resent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    not_sent: list[str] = field(default_factory=list)


# What fixing one row gives: the message to send after the commit, FAILED, or None (it moved: nothing to do).
Outcome = BaseModel | Literal["failed"] | None


def sweep(*, now: datetime | None = None, limit: int = LIMIT) -> SweepReport:
    """One sweep over every tenant; one failing row never stops the others."""
    now = now or datetime.now(UTC)
    with system_unit_of_work() as system:
        listing = StuckWorkSystemRepository(system.session)
        videos = listing.queued_videos(idle_s=VIDEO_RESEND_S, limit=limit)
        generation_jobs = listing.stalled_jobs(idle_s=GENERATION_RESEND_S, limit=limit, only=(GENERATION_JOB_TYPE,))
        other_jobs = listing.stalled_jobs(
            idle_s=JOB_FAIL_S, limit=limit, skip=(GENERATION_JOB_TYPE, VIDEO_JOB_TYPE, POST_JOB_TYPE)
        )
        posts = listing.silent_posts(idle_s=POST_RESEND_S, limit=limit)
    report = SweepReport()
    settings = get_settings()
    for row in videos:
        _each(report, "videos", row, lambda r: _video(r, now), settings.video_queue_url)
    for row in generation_jobs:
        _each(report, "jobs", row, _generation_job, settings.generation_queue_url)
    for row in other_jobs:
        _each(report, "jobs", row, _other_job, None)
    for row in posts:
        _each(report, "posts", row, _post, settings.post_queue_url)
    if report.errors or report.not_sent:
        logger.warning("sweep incomplete", extra={"errors": report.errors, "not_sent": len(report.not_sent)})
    return report


def _each(
    report: SweepReport, kind: str, row: StuckRow, fix: Callable[[StuckRow], Outcome], queue_url: str | None
) -> None:
    """Fix one row in its tenant's transaction, then send its message (if any) after the commit."""
    try:
        outcome = fix(row)
    except Exception:  # isolate rows: record and go on
        logger.exception("stuck row not swept", extra={"tenant_id": str(row.tenant_id), "row_id": str(row.id)})
        report.errors += 1
        return
    if outcome is None:
        return
    if outcome == FAILED:
        report.failed[kind] += 1
        return
    try:
        send(queue_url, outcome)
    except Exception:
        # Claimed but not sent: the claim's stamp brings the row back after the next deadline.
        logger.warning("swept message not sent", extra={"row_id": str(row.id)}, exc_info=True)
        report.not_sent.append(str(row.id))
        return
    report.resent[kind] += 1


def _video(row: StuckRow, now: datetime) -> Outcome:
    with unit_of_work(row.tenant_id) as uow:
        video = uow.repository(StuckVideoRepository).claim_queued(row.id, idle_s=VIDEO_RESEND_S)
        if video is None:
            return None  # it moved, or another sweep took it
        job_id = uow.repository(StuckJobRepository).id_for(f"video:{video.id}")
        if video.created_at > now - timedelta(seconds=VIDEO_FAIL_S):
            if job_id is None:  # nothing to re-send it with (never for a requested video): it fails at the deadline
                return None
            return VideoJobMessage(video_id=video.id, tenant_id=row.tenant_id, job_id=job_id, step=video.step)
        reason = "no worker picked the video up in time: it failed and its video quota was refunded"
        uow.repository(StuckVideoRepository).fail_queued(
            video.id, status=transition(State.QUEUED, Event.FAIL).value, reason=reason
        )
        if video.provider != "upload":
            uow.repository(VideoRepository).refund_quota(taken_at=video.created_at)
        if job_id is not None:
            uow.repository(JobRepository).finish(job_id, status="failed", error=reason)
        emit(uow, "video.failed", {"videoId": str(video.id), "conceptId": video.concept_id, "error": reason})
        return FAILED


def _generation_job(row: StuckRow) -> Outcome:
    with unit_of_work(row.tenant_id) as uow:
        job = uow.repository(StuckJobRepository).claim_stalled(row.id, idle_s=GENERATION_RESEND_S)
        if job is None:
            return None
        if job.attempts >= job.max_attempts:
            _fail_job(uow.repository(JobRepository), job, f"no attempt finished ({job.attempts} started)")
            return FAILED
        trigger = job.payload.get("trigger")
        return GenerationJobMessage(
            job_id=job.id,
            tenant_id=row.tenant_id,
            trigger=trigger if trigger in ("daily", "api") else "daily",
            for_date=job.payload.get("forDate") or job.created_at.date(),
            count=job.payload.get("count"),
        )


def _other_job(row: StuckRow) -> Outcome:
    with unit_of_work(row.tenant_id) as uow:
        job = uow.repository(StuckJobRepository).claim_stalled(row.id, idle_s=JOB_FAIL_S)
        if job is None:
            return None
        _fail_job(uow.repository(JobRepository), job, f"no worker finished it within {JOB_FAIL_S // 60} minutes")
        return FAILED


def _fail_job(jobs: JobRepository, job: ClaimedJob, why: str) -> None:
    jobs.finish(job.id, status="failed", error=f"stalled {job.status}: {why}")


def _post(row: StuckRow) -> Outcome:
    with unit_of_work(row.tenant_id) as uow:
        step = uow.repository(StuckPostRepository).claim_silent(row.id, idle_s=POST_RESEND_S)
    return None if step is None else PostJobMessage(tenant_id=row.tenant_id, post_id=row.id, step=step)

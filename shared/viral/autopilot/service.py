"""The autopilot: per-tenant settings, and the step that turns the daily concepts into videos and posts.

One step, per tenant, safe to run any number of times (the schedule runs it every 15 minutes):

1. Once today's daily generation has finished, the free slots of the day are filled with its best-scored concepts
   that have no video yet, plus the exploration slots (the best concept of the least-tried category and platform).
   A pick is a row unique per (tenant, day, slot) and per (tenant, concept): a re-run or a duplicate message picks
   nothing twice.
2. Each pick not yet submitted asks the video service for its video, in its own unit of work as the route does.
   A run that died after the request but before recording it finds the video by concept and platform, so nothing
   renders twice. A quota refusal refuses the day's remaining picks: recorded in the status, never retried.
3. Each pick whose video became ready is posted once to its accounts through the posts service (the same
   validation as POST /api/posts), one post per account: each (pick, account) is claimed once, and a claim left by
   a run that died is settled from the video's posts before anything is scheduled again.

The step holds a lease on the tenant's settings row (committed, no transaction held while it works), so two
deliveries of the tenant's message never work at once; every network call (SQS sends in the video and posts
services, Instagram's live limit) happens outside any transaction this module opens.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from viral.autopilot.planning import (
    Target,
    candidate_of,
    exploration_picks,
    plan_picks,
    post_targets,
    posting_time,
    public_privacy,
)
from viral.autopilot.repository import DEFAULTS, AutopilotRepository, PickRecord, SettingsRecord
from viral.content.daily import JOB_TYPE as DAILY_JOB_TYPE
from viral.db.uow import unit_of_work
from viral.errors import DomainError, InvalidInput, NotFound, QuotaExceeded, Retryable
from viral.identity.tenants import set_daily_generation
from viral.observability import logger
from viral.social.limits import LimitReached
from viral.social.posts import PostRequest, create_posts
from viral.social.repository import AccountRecord, AccountRepository
from viral.social.schemas import PostCreateBody
from viral.tenancy import tenant_scope
from viral.video.service import request_video

# Longer than the worker's timeout (120 s): a lease outlives its run only when the run died, and then frees itself.
LEASE = timedelta(minutes=10)
HASHTAG = re.compile(r"^#?\w{1,100}$")
MAX_HASHTAGS = 30
MAX_CAPTION = 2200


# --- settings -------------------------------------------------------------------------------------------------


def read_settings() -> SettingsRecord:
    """The current tenant's settings (the defaults until it saves some)."""
    with unit_of_work() as uow:
        found = uow.repository(AutopilotRepository).settings()
    return found or DEFAULTS


def update_settings(changes: dict[str, Any]) -> SettingsRecord:
    """Change the given settings (snake_case names); the rest stay. Turning the autopilot on also turns the daily
    generation on, since its concepts are what the autopilot picks from."""
    with unit_of_work() as uow:
        repository = uow.repository(AutopilotRepository)
        current = repository.settings() or DEFAULTS
        posting = changes.get("posting", current.posting)
        hours = changes.get("posting_hours", current.posting_hours)
        if posting == "hours" and not hours:
            raise InvalidInput(
                "posting at set hours needs postingHours",
                details=[{"field": "postingHours", "message": "at least one hour (0-23, UTC) when posting is 'hours'"}],
            )
        if changes.get("account_ids") is not None:
            _check_accounts(uow.repository(AccountRepository).all(), changes["account_ids"])
        saved = repository.save_settings(**changes)
        if changes.get("enabled") is True:
            set_daily_generation(True)  # joins this unit of work: both change, or neither
    return saved


def _check_accounts(accounts: list[AccountRecord], wanted: list[uuid.UUID]) -> None:
    connected = {a.id for a in accounts if a.status != "disconnected"}
    unknown = [str(a) for a in wanted if a not in connected]
    if unknown:
        raise InvalidInput(
            "accountIds names accounts that are not connected to this tenant",
            details=[{"field": "accountIds", "message": f"not a connected account: {', '.join(unknown)}"}],
        )


def effective_exploration(settings: SettingsRecord) -> int:
    share = float(settings.exploration_share) if settings.exploration_share is not None else None
    return exploration_picks(settings.videos_per_day, share)


def settings_wire(settings: SettingsRecord, *, daily_generation: bool) -> dict[str, Any]:
    return {
        "enabled": settings.enabled,
        "videosPerDay": settings.videos_per_day,
        "accountIds": None if settings.account_ids is None else [str(a) for a in settings.account_ids],
        "explorationShare": None if settings.exploration_share is None else float(settings.exploration_share),
        "explorationPicks": effective_exploration(settings),
        "distribution": settings.distribution,
        "posting": settings.posting,
        "postingHours": sorted(settings.posting_hours),
        "dailyGeneration": daily_generation,
    }


def autopilot_answer(*, now: datetime | None = None) -> dict[str, Any]:
    """The settings and the status block: today's picks with their videos and posts, counts, the last run."""
    now = now or datetime.now(UTC)
    day = now.date()
    with unit_of_work() as uow:
        repository = uow.repository(AutopilotRepository)
        settings = repository.settings() or DEFAULTS
        daily = repository.daily_generation_enabled()
        picks = repository.picks_of(day)
        rendering = repository.picks_in("rendering")
        titles = repository.titles([p.concept_id for p in picks])
        states = repository.video_states([p.video_id for p in [*picks, *rendering] if p.video_id is not None])
        posted = repository.posted([p.id for p in picks])
    posts_by_pick: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in posted:
        posts_by_pick.setdefault(row.pick_id, []).append(
            {
                "accountId": str(row.account_id),
                "postId": None if row.post_id is None else str(row.post_id),
                "status": row.status,
                "error": row.error,
            }
        )
    in_progress = [p for p in rendering if p.video_id in states and states[p.video_id][0] not in ("ready", "failed")]
    status = {
        "day": day.isoformat(),
        "picks": [
            {
                "slot": p.slot,
                "conceptId": p.concept_id,
                "title": titles.get(p.concept_id),
                "category": p.category,
                "kind": p.kind,
                "platform": p.platform,
                "score": float(p.score),
                "status": p.status,
                "videoId": None if p.video_id is None else str(p.video_id),
                "videoStatus": states[p.video_id][0] if p.video_id in states else None,
                "accountId": None if p.account_id is None else str(p.account_id),
                "error": p.error,
                "posts": posts_by_pick.get(p.id, []),
            }
            for p in picks
        ],
        "videosInProgress": len(in_progress),
        "postsMade": sum(1 for row in posted if row.status == "scheduled"),
        "stopped": "quota" if any(p.status == "refused" for p in picks) else None,
        "lastRunAt": settings.last_run_at.isoformat() if settings.last_run_at else None,
        "lastRun": settings.last_run or None,
    }
    return {**settings_wire(settings, daily_generation=daily), "status": status}


# --- the step ---------------------------------------------------------------------------------------------------


@dataclass
class RunReport:
    outcome: str = "ran"  # ran | disabled | busy (another delivery holds the tenant's lease)
    day: str | None = None
    waiting: str | None = None  # why no new pick was made, when none was
    picked: int = 0
    submitted: int = 0
    refused: int = 0
    failed: int = 0
    posted: int = 0
    post_failures: int = 0
    in_progress: int = 0
    error: str | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "day": self.day,
            "waiting": self.waiting,
            "picked": self.picked,
            "submitted": self.submitted,
            "refused": self.refused,
            "failed": self.failed,
            "posted": self.posted,
            "postFailures": self.post_failures,
            "inProgress": self.in_progress,
            "error": self.error,
        }


@dataclass
class _Run:
    settings: SettingsRecord
    accounts: dict[uuid.UUID, AccountRecord]
    targets: list[Target]
    now: datetime
    report: RunReport = field(default_factory=RunReport)

    @property
    def round_robin(self) -> bool:
        return self.settings.distribution == "round_robin"


def run_autopilot(tenant_id: uuid.UUID, *, now: datetime | None = None) -> RunReport:
    """One autopilot step for the tenant (see the module's docstring); what it did."""
    now = now or datetime.now(UTC)
    with tenant_scope(tenant_id):
        with unit_of_work() as uow:
            repository = uow.repository(AutopilotRepository)
            settings = repository.take_lease(now, now + LEASE)
            if settings is None:
                current = repository.settings()
                return RunReport(outcome="busy" if current is not None and current.enabled else "disabled")
        run = _start(settings, now)
        try:
            _pick(run)
            _submit(run)
            _advance(run)
        except Exception as error:
            run.report.error = type(error).__name__
            raise
        finally:
            with unit_of_work() as uow:
                uow.repository(AutopilotRepository).finish_run(at=now, summary=run.report.wire())
    return run.report


def _start(settings: SettingsRecord, now: datetime) -> _Run:
    with unit_of_work() as uow:
        accounts = uow.repository(AccountRepository).all()
    chosen = None if settings.account_ids is None else set(settings.account_ids)
    usable = sorted(
        (a for a in accounts if a.status == "active" and (chosen is None or a.id in chosen)),
        key=lambda a: (a.created_at, a.id),
    )
    return _Run(
        settings=settings,
        accounts={a.id: a for a in accounts},
        targets=[Target(id=a.id, platform=a.platform) for a in usable],
        now=now,
        report=RunReport(day=now.date().isoformat()),
    )


def _pick(run: _Run) -> None:
    """Fill today's free slots from today's daily generation (once it has finished)."""
    day = run.now.date()
    settings = run.settings
    with unit_of_work() as uow:
        repository = uow.repository(AutopilotRepository)
        today = repository.picks_of(day)
        free = sorted(set(range(settings.videos_per_day)) - {p.slot for p in today})
        if any(p.status == "refused" for p in today):
            run.report.waiting = "the video quota is used up: no more picks today"
            return
        if not free:
            return
        if not run.targets:
            run.report.waiting = "no connected account to post to"
            return
        job = repository.daily_job(day, DAILY_JOB_TYPE)
        if job is None:
            run.report.waiting = "today's daily generation has not run yet"
            return
        status, generation_id, error = job
        if status == "failed":
            run.report.waiting = f"today's daily generation failed: {error or 'no reason given'}"
            return
        if status != "completed" or generation_id is None:
            run.report.waiting = "today's daily generation is still running"
            return
        planned = plan_picks(
            day=day,
            candidates=[candidate_of(*row) for row in repository.candidates(generation_id)],
            free_slots=free,
            videos_per_day=settings.videos_per_day,
            exploration=effective_exploration(settings),
            tried=repository.tries_per_cell(),
            targets=run.targets,
            round_robin=run.round_robin,
        )
        added = repository.add_picks(
            [
                {
                    "day": day,
                    "slot": p.slot,
                    "concept_id": p.concept_id,
                    "kind": p.kind,
                    "category": p.category,
                    "platform": p.platform,
                    "score": Decimal(str(p.score)),
                    "account_id": p.account_id,
                }
                for p in planned
            ]
        )
    run.report.picked = len(added)
    if not added:
        run.report.waiting = "no concept of today's generation is left to pick"


def _submit(run: _Run) -> None:
    """Ask for the video of every pick not submitted yet, until the quota says no."""
    with unit_of_work() as uow:
        waiting = uow.repository(AutopilotRepository).picks_in("picked")
    for pick in waiting:
        if not _submit_one(pick, run.report):
            return


def _submit_one(pick: PickRecord, report: RunReport) -> bool:
    """The pick's video requested (or found, if a run that died requested it); False once the quota refused."""
    with unit_of_work() as uow:
        repository = uow.repository(AutopilotRepository)
        found = repository.video_since(pick.concept_id, pick.platform, pick.created_at)
        if found is not None:
            repository.update_pick(pick.id, status="rendering", video_id=found, error=None)
            report.submitted += 1
            return True
    try:
        requested = request_video(pick.concept_id, platform=pick.platform)  # its own unit of work, then its send
    except QuotaExceeded as refused:
        with unit_of_work() as uow:
            report.refused += uow.repository(AutopilotRepository).refuse_unsubmitted(error=refused.message)
        report.waiting = "the video quota is used up: no more picks today"
        logger.info("autopilot stopped by the video quota", extra={"pick_id": str(pick.id)})
        return False
    except NotFound as missing:
        with unit_of_work() as uow:
            uow.repository(AutopilotRepository).update_pick(pick.id, status="failed", error=missing.message)
        report.failed += 1
        return True
    with unit_of_work() as uow:
        uow.repository(AutopilotRepository).update_pick(pick.id, status="rendering", video_id=requested.video.id)
    report.submitted += 1
    return True


def _advance(run: _Run) -> None:
    """Follow the picks' videos: a failed one fails its pick, a ready one is posted."""
    with unit_of_work() as uow:
        repository = uow.repository(AutopilotRepository)
        rendering = repository.picks_in("rendering")
        states = repository.video_states([p.video_id for p in rendering if p.video_id is not None])
    for pick in rendering:
        state = states.get(pick.video_id) if pick.video_id is not None else None
        if state is None or state[0] == "failed":
            error = "the video no longer exists" if state is None else (state[1] or "the video failed")
            with unit_of_work() as uow:
                uow.repository(AutopilotRepository).update_pick(pick.id, status="failed", error=error)
            run.report.failed += 1
        elif state[0] == "ready":
            _post(pick, run)
        else:
            run.report.in_progress += 1


def _post(pick: PickRecord, run: _Run) -> None:
    """One post per target account, each (pick, account) claimed once; the pick is posted when none is open."""
    assert pick.video_id is not None
    targets = post_targets(
        targets=run.targets,
        platform=pick.platform,
        assigned=pick.account_id,
        slot=pick.slot,
        round_robin=run.round_robin,
    )
    with unit_of_work() as uow:
        repository = uow.repository(AutopilotRepository)
        repository.claim_accounts(pick.id, [t.id for t in targets])
        claimed = [row for row in repository.posted([pick.id]) if row.status == "claimed"]
        made = repository.posts_of_video(pick.video_id)
        for row in claimed:
            if row.account_id in made:  # scheduled by a run that died before recording it
                repository.record_post(
                    pick.id, row.account_id, status="scheduled", post_id=made[row.account_id], error=None
                )
        concept = repository.concept_data(pick.concept_id) or {}
    for row in claimed:
        if row.account_id in made:
            continue
        post_id, error = _schedule(pick, row.account_id, concept, run)
        with unit_of_work() as uow:
            uow.repository(AutopilotRepository).record_post(
                pick.id, row.account_id, status="scheduled" if post_id else "failed", post_id=post_id, error=error
            )
        if post_id:
            run.report.posted += 1
        else:
            run.report.post_failures += 1
    with unit_of_work() as uow:
        repository = uow.repository(AutopilotRepository)
        rows = repository.posted([pick.id])
        if any(row.status == "scheduled" for row in rows):
            repository.update_pick(pick.id, status="posted", error=None)
        else:
            reason = next((row.error for row in rows if row.error), None)
            repository.update_pick(
                pick.id, status="failed", error=reason or f"no chosen account posts {pick.platform} videos"
            )


def _schedule(
    pick: PickRecord, account_id: uuid.UUID, concept: dict[str, Any], run: _Run
) -> tuple[uuid.UUID | None, str | None]:
    """Schedule the pick's video on one account through the posts service; (post id, None) or (None, why not).

    A platform limit moves the post to the limit's next free time, once. Retryable errors propagate (the message is
    delivered again; the claim stays open and the next run settles it from the video's posts).
    """
    account = run.accounts.get(account_id)
    options = [str(o) for o in (account.capabilities.get("privacyOptions") or [])] if account else []
    at = posting_time(run.settings.posting, run.settings.posting_hours, slot=pick.slot, now=run.now)
    hashtags = [h for h in concept.get("hashtags") or [] if isinstance(h, str) and HASHTAG.match(h)]
    try:
        body = PostCreateBody(  # the validation POST /api/posts applies
            video_id=pick.video_id,
            account_ids=[account_id],
            caption=str(concept.get("caption") or concept.get("title") or "")[:MAX_CAPTION],
            hashtags=hashtags[:MAX_HASHTAGS],
            scheduled_at=at,
            privacy=public_privacy(account.platform, options) if account else None,
        )
    except ValidationError as invalid:
        return None, f"the post is not valid: {invalid.errors()[0]['msg']}"
    request = PostRequest(
        video_id=body.video_id,
        account_ids=tuple(body.account_ids),
        caption=body.caption,
        hashtags=tuple(body.hashtags),
        scheduled_at=body.scheduled_at,
        privacy=body.privacy,
    )
    for attempt in (1, 2):
        try:
            [post] = create_posts(request)
            return post.id, None
        except Retryable:
            raise
        except LimitReached as limit:
            if attempt == 2:
                return None, limit.message
            request = replace(request, scheduled_at=limit.next_free_at)
        except DomainError as refused:
            return None, refused.message
    return None, "not scheduled"


# --- the schedule and the queue ---------------------------------------------------------------------------------


def schedule_runs(*, now: datetime | None = None) -> dict[str, int]:
    """The schedule's work: one message per tenant with the autopilot on (batched sends)."""
    from viral.autopilot.messages import AutopilotJobMessage
    from viral.autopilot.repository import AutopilotSystemRepository
    from viral.aws.sqs import send_batch
    from viral.db.uow import system_unit_of_work
    from viral.settings import get_settings

    now = now or datetime.now(UTC)
    with system_unit_of_work() as system:
        tenants = AutopilotSystemRepository(system.session).enabled_tenants()
    messages = [AutopilotJobMessage(tenant_id=tenant, scheduled_at=now) for tenant in tenants]
    return {"tenants": len(messages), "enqueued": send_batch(get_settings().autopilot_queue_url, messages)}

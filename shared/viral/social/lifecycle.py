"""The post state machine, in one table, and the one function that moves a post (and its ledger job).

    scheduled --claim--> publishing --accepted--> processing --published--> published
        |  ^                 |  |                      |  \\--failed--> failed
        |  +--retry_later----+  +--failed--> failed    +--ambiguous--> unconfirmed
        +--cancel--> canceled   +--ambiguous--> unconfirmed

`publishing` is committed before any platform call; the platform's upload id is committed the moment it is
known (event `upload_started`); `publish_sent` is committed before the call that makes a post public. A status
reached through `ambiguous` is final: an unconfirmed post is shown to the user and never retried blindly.

Every status change goes through `transition`, which also calls the registered hooks inside the same
transaction (e.g. an outbox row for outbound webhooks: `on_status_change(callback)`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from viral.db.uow import UnitOfWork
from viral.errors import Conflict
from viral.social.repository import PostRecord, PostRepository


class Event(enum.StrEnum):
    CLAIM = "claim"  # the worker takes a due post; committed before any platform call
    RESCHEDULE = "reschedule"  # the user moves the post
    CANCEL = "cancel"  # the user cancels it before publishing began
    RETRY_LATER = "retry_later"  # nothing was accepted (429, quota, 5xx before acceptance): back in the schedule
    UPLOAD_STARTED = "upload_started"  # the platform's upload id is known
    RESTART_UPLOAD = "restart_upload"  # the upload handle expired before it completed: a new one may be made
    RESUME_LATER = "resume_later"  # the transfer stopped mid-way: resume it later, from the platform's offset
    ACCEPTED = "accepted"  # the media is with the platform, which is processing it
    STILL_PROCESSING = "still_processing"
    PUBLISH_SENT = "publish_sent"  # committed before the call that publishes (Instagram media_publish)
    PUBLISHED = "published"
    POST_ID_KNOWN = "post_id_known"  # the public id arrived after publishing (TikTok moderation)
    FAILED = "failed"  # a permanent refusal, with the platform's reason in words
    AMBIGUOUS = "ambiguous"  # we cannot tell whether it was published


TRANSITIONS: dict[tuple[str, Event], str] = {
    ("scheduled", Event.CLAIM): "publishing",
    ("scheduled", Event.RESCHEDULE): "scheduled",
    ("scheduled", Event.CANCEL): "canceled",
    ("scheduled", Event.FAILED): "failed",  # e.g. the video or the account went away before publishing
    ("publishing", Event.UPLOAD_STARTED): "publishing",
    ("publishing", Event.RESTART_UPLOAD): "publishing",
    ("publishing", Event.RETRY_LATER): "scheduled",
    ("publishing", Event.RESUME_LATER): "publishing",
    ("publishing", Event.ACCEPTED): "processing",
    ("publishing", Event.PUBLISHED): "published",
    ("publishing", Event.FAILED): "failed",
    ("publishing", Event.AMBIGUOUS): "unconfirmed",
    ("processing", Event.STILL_PROCESSING): "processing",
    ("processing", Event.PUBLISH_SENT): "processing",
    ("processing", Event.PUBLISHED): "published",
    ("processing", Event.FAILED): "failed",
    ("processing", Event.AMBIGUOUS): "unconfirmed",
    ("published", Event.POST_ID_KNOWN): "published",
}

TERMINAL = ("published", "failed", "unconfirmed", "canceled")
# The ledger job's status for each post status.
JOB_STATUS = {
    "scheduled": "pending",
    "publishing": "running",
    "processing": "running",
    "published": "completed",
    "failed": "failed",
    "unconfirmed": "failed",
    "canceled": "failed",
}


class InvalidTransition(Conflict):
    """The post's current status does not allow this (e.g. canceling a post that is being published)."""

    code = "INVALID_TRANSITION"


StatusHook = Callable[[UnitOfWork, PostRecord, str], None]
_hooks: list[StatusHook] = []


def on_status_change(hook: StatusHook) -> StatusHook:
    """Register `hook(uow, post_after, previous_status)`, called in the transaction of every status change."""
    _hooks.append(hook)
    return hook


def next_status(current: str, event: Event) -> str:
    """The status `event` leads to from `current`, or InvalidTransition."""
    found = TRANSITIONS.get((current, event))
    if found is None:
        raise InvalidTransition(
            f"a {current} post cannot {event.value.replace('_', ' ')}",
            details={"status": current, "event": event.value},
        )
    return found


def transition(
    uow: UnitOfWork, post: PostRecord, event: Event, *, note: str | None = None, **changes: Any
) -> PostRecord:
    """Move a locked post by `event`, with `changes` to its columns, and keep its ledger job in step."""
    status = next_status(post.status, event)
    entry = {"at": datetime.now(UTC).isoformat(), "event": event.value, "from": post.status, "to": status}
    if note:
        entry["note"] = note[:300]
    values: dict[str, Any] = {"status": status, "history": [*post.history[-49:], entry], **changes}
    posts = uow.repository(PostRepository)
    posts.update(post.id, **values)
    after = posts.get(post.id)
    assert after is not None
    job_changed = JOB_STATUS[status] != JOB_STATUS[post.status] or "scheduled_for" in changes
    if post.job_id is not None and job_changed:
        error = None
        if status in ("failed", "unconfirmed", "canceled"):
            error = after.error_message or status
        posts.sync_job(post.job_id, status=JOB_STATUS[status], error=error, scheduled_for=after.scheduled_for)
    if status != post.status:
        for hook in tuple(_hooks):
            hook(uow, after, post.status)
    return after

"""The event catalogue, and `emit`: services record an event in the transaction of the change it reports.

An event is an outbox row (outbound_events) written by the caller's unit of work, so it commits or rolls back
with the change: none is lost and none is sent for a change that rolled back. After the commit, one best-effort
message nudges the dispatcher (the every-minute schedule catches anything a lost nudge leaves behind).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from viral.db.models import OutboundEvent
from viral.db.uow import UnitOfWork
from viral.errors import InvalidInput
from viral.observability import logger
from viral.settings import get_settings


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    emitted: bool  # False: defined and documented, emitted once the feature that causes it lands


CATALOGUE: dict[str, EventType] = {
    e.name: e
    for e in (
        EventType("video.ready", "A video finished rendering (or an upload passed its checks).", True),
        EventType("video.failed", "A video could not be made (every provider failed, or an upload failed).", True),
        EventType("post.published", "A post went live on a social platform.", False),
        EventType("post.failed", "A post was refused by the platform.", False),
        EventType("post.unconfirmed", "The platform did not confirm a post in time; it is being reconciled.", False),
        EventType("metrics.collected", "New performance figures of a post were collected.", True),
        EventType("critique.created", "A self-critique was written from a concept's real performance.", True),
        EventType("model.adjusted", "The viral score model was adjusted (a new model version).", True),
        EventType("quota.low", "80% of the month's concept quota is used.", True),
        EventType("import.finished", "A Dexie import finished (imported, or refused with its report).", True),
        EventType("endpoint.disabled", "A webhook endpoint was disabled after failing for days.", True),
    )
}
TEST_EVENT = "webhook.test"
"""Sent by POST /api/webhook-endpoints/{id}/test to that endpoint only; not subscribable."""

Subscribable = Literal[
    "video.ready",
    "video.failed",
    "post.published",
    "post.failed",
    "post.unconfirmed",
    "metrics.collected",
    "critique.created",
    "model.adjusted",
    "quota.low",
    "import.finished",
    "endpoint.disabled",
]
QUOTA_LOW_SHARE = 0.8
_NUDGE_KEY = "outbound_nudge"


def emit(uow: UnitOfWork, event_type: str, data: dict[str, Any], *, endpoint_id: uuid.UUID | None = None) -> uuid.UUID:
    """Record one event of this tenant in the caller's transaction; its id (the deliveries' webhook-id)."""
    if event_type not in CATALOGUE and event_type != TEST_EVENT:
        raise InvalidInput(f"unknown event type {event_type!r}")
    event_id = uuid.uuid4()
    values = {"id": event_id, "tenant_id": uow.tenant_id, "type": event_type, "data": data, "endpoint_id": endpoint_id}
    uow.session.execute(insert(OutboundEvent).values(values))
    _nudge_after_commit(uow.session, uow.tenant_id)
    return event_id


def emit_many(uow: UnitOfWork, event_type: str, items: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Record one event of this tenant per item in the caller's transaction, in one statement; their ids."""
    if event_type not in CATALOGUE:
        raise InvalidInput(f"unknown event type {event_type!r}")
    if not items:
        return []
    ids = [uuid.uuid4() for _ in items]
    rows = [
        {"id": event_id, "tenant_id": uow.tenant_id, "type": event_type, "data": data}
        for event_id, data in zip(ids, items, strict=True)
    ]
    uow.session.execute(insert(OutboundEvent), rows)  # one multi-row INSERT from a cached statement
    _nudge_after_commit(uow.session, uow.tenant_id)
    return ids


def emit_quota_low(uow: UnitOfWork, *, used: int, granted: int, total: int) -> uuid.UUID | None:
    """quota.low when this grant carried the month's use across 80% of the quota (once per period)."""
    threshold = total * QUOTA_LOW_SHARE
    if total <= 0 or granted <= 0 or not (used - granted < threshold <= used):
        return None
    return emit(uow, "quota.low", {"used": used, "total": total, "remaining": max(0, total - used)})


def _nudge_after_commit(session: Session, tenant_id: uuid.UUID) -> None:
    if session.info.get(_NUDGE_KEY):
        return
    session.info[_NUDGE_KEY] = True

    def nudge(committed: Session) -> None:
        committed.info.pop(_NUDGE_KEY, None)
        nudge_dispatcher(tenant_id)

    # A rolled-back transaction never commits: its session (one per unit of work) is closed without a nudge.
    sa_event.listen(session, "after_commit", nudge, once=True)


def nudge_dispatcher(tenant_id: uuid.UUID) -> None:
    """Ask the dispatcher to fan this tenant's new events out now (best effort: the schedule is the safety net)."""
    queue_url = get_settings().webhook_queue_url
    if not queue_url:
        return
    from viral.aws.sqs import send
    from viral.outbound.messages import DispatchMessage

    try:
        send(queue_url, DispatchMessage(tenant_id=tenant_id))
    except Exception:  # the change is committed; its events wait for the schedule
        logger.warning("could not nudge the webhook dispatcher", exc_info=True)

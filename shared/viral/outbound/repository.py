"""The tenant's webhook endpoints, outbox, deliveries and attempts; and the system path that finds waiting work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, union, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from viral.db.models import OutboundEvent, Tenant, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from viral.db.repository import TenantRepositoryBase


@dataclass(frozen=True)
class EndpointRecord:
    """An endpoint as services see it (the ORM row stays in the repository)."""

    id: uuid.UUID
    url: str
    description: str | None
    events: list[str]
    secret_sealed: str
    previous_secret_sealed: str | None
    previous_secret_expires_at: datetime | None
    status: str
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    last_success_at: datetime | None
    created_at: datetime
    updated_at: datetime


_ENDPOINT_FIELDS = tuple(f.name for f in fields(EndpointRecord))


def _endpoint(row: WebhookEndpoint) -> EndpointRecord:
    return EndpointRecord(**{name: getattr(row, name) for name in _ENDPOINT_FIELDS})


class EndpointRepository(TenantRepositoryBase[WebhookEndpoint]):
    model = WebhookEndpoint

    def tier_locked(self) -> str:
        """The tenant's plan tier, its row locked until the transaction ends (endpoint limits are checked under it)."""
        tier = self.session.scalar(
            select(Tenant.subscription_tier).where(Tenant.id == self.tenant_id).with_for_update()
        )
        return tier or "FREE"

    def count(self) -> int:
        return int(self.session.scalar(self._select(func.count()).select_from(WebhookEndpoint)) or 0)

    def add(
        self, endpoint_id: uuid.UUID, *, url: str, events: list[str], description: str | None, sealed: str
    ) -> EndpointRecord:
        values = self._stamp(
            {"id": endpoint_id, "url": url, "events": events, "description": description, "secret_sealed": sealed}
        )
        return _endpoint(self.session.scalars(insert(WebhookEndpoint).values(values).returning(WebhookEndpoint)).one())

    def get(self, endpoint_id: uuid.UUID, *, lock: bool = False) -> EndpointRecord | None:
        statement = self._select().where(WebhookEndpoint.id == endpoint_id)
        row = self.session.scalars(statement.with_for_update() if lock else statement).one_or_none()
        return None if row is None else _endpoint(row)

    def newest(self) -> list[EndpointRecord]:
        rows = self.session.scalars(self._select().order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id))
        return [_endpoint(row) for row in rows]

    def update(self, endpoint_id: uuid.UUID, **values: Any) -> EndpointRecord | None:
        row = self.session.scalars(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.tenant_id == self.tenant_id, WebhookEndpoint.id == endpoint_id)
            .values(**values, updated_at=func.now())
            .returning(WebhookEndpoint)
        ).one_or_none()
        return None if row is None else _endpoint(row)

    def delete(self, endpoint_id: uuid.UUID) -> bool:
        done = self.session.execute(
            delete(WebhookEndpoint)
            .where(WebhookEndpoint.tenant_id == self.tenant_id, WebhookEndpoint.id == endpoint_id)
            .returning(WebhookEndpoint.id)
        ).first()
        return done is not None

    def subscriptions(self) -> list[tuple[uuid.UUID, list[str]]]:
        """(id, event types) of every enabled endpoint."""
        rows = self.session.execute(
            self._select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.status == "enabled")
        )
        return [(row.id, list(row.events)) for row in rows]


@dataclass(frozen=True)
class PendingEvent:
    id: uuid.UUID
    type: str
    endpoint_id: uuid.UUID | None


class OutboxRepository(TenantRepositoryBase[OutboundEvent]):
    model = OutboundEvent

    def take_undispatched(self, limit: int) -> list[PendingEvent]:
        """The oldest events not yet fanned out, locked (a concurrent dispatcher skips them)."""
        rows = self.session.execute(
            self._select(OutboundEvent.id, OutboundEvent.type, OutboundEvent.endpoint_id)
            .where(OutboundEvent.dispatched_at.is_(None))
            .order_by(OutboundEvent.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [PendingEvent(row.id, row.type, row.endpoint_id) for row in rows]

    def mark_dispatched(self, event_ids: list[uuid.UUID]) -> None:
        if event_ids:
            self.session.execute(
                update(OutboundEvent)
                .where(OutboundEvent.tenant_id == self.tenant_id, OutboundEvent.id.in_(event_ids))
                .values(dispatched_at=func.now())
            )

    def types(self) -> list[str]:
        """Every event type recorded for this tenant (newest first; tests and diagnostics)."""
        rows = self.session.scalars(self._select(OutboundEvent.type).order_by(OutboundEvent.created_at.desc()))
        return list(rows)


@dataclass(frozen=True)
class DeliveryWork:
    """A delivery locked for one attempt, with what the attempt needs."""

    id: uuid.UUID
    status: str
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    created_at: datetime
    event_id: uuid.UUID
    event_type: str
    event_data: dict[str, Any]
    event_created_at: datetime
    endpoint: EndpointRecord


@dataclass(frozen=True)
class AttemptRecord:
    id: uuid.UUID
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    attempt: int
    status_code: int | None
    duration_ms: int
    error: str | None
    response_body: str | None
    next_retry_at: datetime | None
    delivery_status: str
    created_at: datetime


class DeliveryRepository(TenantRepositoryBase[WebhookDelivery]):
    model = WebhookDelivery

    def add_many(self, pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> list[tuple[uuid.UUID, int]]:
        """One pending delivery per (event, endpoint) pair, once; (id, attempts) of those created now."""
        if not pairs:
            return []
        values = [self._stamp({"event_id": event, "endpoint_id": endpoint}) for event, endpoint in pairs]
        rows = self.session.execute(
            insert(WebhookDelivery)
            .values(values)
            .on_conflict_do_nothing(constraint="uq_webhook_deliveries_endpoint_event")
            .returning(WebhookDelivery.id, WebhookDelivery.attempts)
        )
        return [(row.id, row.attempts) for row in rows]

    def due(self, *, older_than: timedelta, limit: int) -> list[tuple[uuid.UUID, int]]:
        """Pending deliveries due for a while and not in flight (their message was lost, or the wait was long)."""
        rows = self.session.execute(
            self._select(WebhookDelivery.id, WebhookDelivery.attempts)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= func.now() - older_than,
                (WebhookDelivery.lease_until.is_(None)) | (WebhookDelivery.lease_until < func.now()),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        return [(row.id, row.attempts) for row in rows]

    def lock_work(self, delivery_id: uuid.UUID) -> DeliveryWork | None:
        """The delivery locked, with its endpoint and event (one statement)."""
        row = self.session.execute(
            select(WebhookDelivery, WebhookEndpoint, OutboundEvent)
            .join(
                WebhookEndpoint,
                (WebhookEndpoint.tenant_id == WebhookDelivery.tenant_id)
                & (WebhookEndpoint.id == WebhookDelivery.endpoint_id),
            )
            .join(
                OutboundEvent,
                (OutboundEvent.tenant_id == WebhookDelivery.tenant_id) & (OutboundEvent.id == WebhookDelivery.event_id),
            )
            .where(WebhookDelivery.tenant_id == self.tenant_id, WebhookDelivery.id == delivery_id)
            .with_for_update(of=WebhookDelivery)
        ).one_or_none()
        if row is None:
            return None
        delivery, endpoint, event = row
        return DeliveryWork(
            id=delivery.id,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            lease_until=delivery.lease_until,
            created_at=delivery.created_at,
            event_id=event.id,
            event_type=event.type,
            event_data=event.data,
            event_created_at=event.created_at,
            endpoint=_endpoint(endpoint),
        )

    def claim(self, delivery_id: uuid.UUID, *, attempt: int, lease_s: float, slack_s: float) -> DeliveryWork | None:
        """Take attempt number `attempt` of a pending, due, unleased delivery of an enabled endpoint (one statement);
        None when any of that is not so (lock_work tells why).

        Its commit does not wait for the WAL flush (this transaction only), nor does record_attempt's: a claim or
        an outcome lost in a database crash costs at most one more attempt with the same webhook-id, which
        at-least-once delivery allows anyway; the outbox rows themselves are written by the services' own,
        fully durable, transactions.
        """
        row = self.session.execute(
            _CLAIM,
            {"tenant": self.tenant_id, "id": delivery_id, "attempt": attempt, "lease": lease_s, "slack": slack_s},
        ).one_or_none()
        if row is None:
            return None
        endpoint = EndpointRecord(**{name: getattr(row, f"e_{name}") for name in _ENDPOINT_FIELDS})
        return DeliveryWork(
            id=row.id,
            status="pending",
            attempts=attempt,
            next_attempt_at=row.next_attempt_at,
            lease_until=row.lease_until,
            created_at=row.created_at,
            event_id=row.event_id,
            event_type=row.event_type,
            event_data=row.event_data,
            event_created_at=row.event_created_at,
            endpoint=endpoint,
        )

    def record_attempt(
        self,
        delivery_id: uuid.UUID,
        *,
        attempt: int,
        status: str,
        retry_in_s: float | None,
        status_code: int | None,
        duration_ms: int,
        error: str | None,
        response_body: str | None,
    ) -> bool:
        """Close this attempt (succeeded, failed, or pending again after `retry_in_s`) and log it, in one statement;
        False when the delivery moved on meanwhile (the attempt's lease ran out and another took over)."""
        row = self.session.execute(
            _RECORD,
            {
                "tenant": self.tenant_id,
                "id": delivery_id,
                "attempt": attempt,
                "status": status,
                "retry": retry_in_s,
                "code": status_code,
                "ms": duration_ms,
                "error": error,
                "body": response_body,
            },
        ).one_or_none()
        return row is not None

    def set(self, delivery_id: uuid.UUID, **values: Any) -> None:
        self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.tenant_id == self.tenant_id, WebhookDelivery.id == delivery_id)
            .values(**values)
        )

    def cancel_pending(self, endpoint_id: uuid.UUID) -> int:
        done = self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.tenant_id == self.tenant_id,
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == "pending",
            )
            .values(status="cancelled", finished_at=func.now(), lease_until=None)
            .returning(WebhookDelivery.id)
        )
        return len(done.all())

    def add_attempt(self, *, delivery_id: uuid.UUID, endpoint_id: uuid.UUID, attempt: int, **values: Any) -> None:
        self.session.execute(
            insert(WebhookAttempt).values(
                self._stamp({"delivery_id": delivery_id, "endpoint_id": endpoint_id, "attempt": attempt, **values})
            )
        )

    def recent_attempts(self, endpoint_id: uuid.UUID, *, limit: int) -> list[AttemptRecord]:
        rows = self.session.execute(
            select(WebhookAttempt, WebhookDelivery.event_id, WebhookDelivery.status, OutboundEvent.type)
            .join(
                WebhookDelivery,
                (WebhookDelivery.tenant_id == WebhookAttempt.tenant_id)
                & (WebhookDelivery.id == WebhookAttempt.delivery_id),
            )
            .join(
                OutboundEvent,
                (OutboundEvent.tenant_id == WebhookDelivery.tenant_id) & (OutboundEvent.id == WebhookDelivery.event_id),
            )
            .where(WebhookAttempt.tenant_id == self.tenant_id, WebhookAttempt.endpoint_id == endpoint_id)
            .order_by(WebhookAttempt.created_at.desc(), WebhookAttempt.attempt.desc())
            .limit(limit)
        )
        return [
            AttemptRecord(
                id=attempt.id,
                delivery_id=attempt.delivery_id,
                event_id=event_id,
                event_type=event_type,
                attempt=attempt.attempt,
                status_code=attempt.status_code,
                duration_ms=attempt.duration_ms,
                error=attempt.error,
                response_body=attempt.response_body,
                next_retry_at=attempt.next_retry_at,
                delivery_status=status,
                created_at=attempt.created_at,
            )
            for attempt, event_id, status, event_type in rows
        ]


# The column list comes from our own dataclass's field names (no input reaches the SQL text).
_ENDPOINT_COLUMNS = ", ".join(f"e.{name} as e_{name}" for name in _ENDPOINT_FIELDS)
_CLAIM = text(f"""
with claimed as (
  update webhook_deliveries d
     set attempts = :attempt, lease_until = now() + make_interval(secs => :lease)
   where d.tenant_id = :tenant and d.id = :id and d.status = 'pending' and d.attempts = :attempt - 1
     and (d.lease_until is null or d.lease_until < now())
     and d.next_attempt_at <= now() + make_interval(secs => :slack)
     and exists (select 1 from webhook_endpoints w
                  where w.tenant_id = d.tenant_id and w.id = d.endpoint_id and w.status = 'enabled')
  returning d.id, d.endpoint_id, d.event_id, d.next_attempt_at, d.lease_until, d.created_at
)
select c.id, c.event_id, c.next_attempt_at, c.lease_until, c.created_at,
       ev.type as event_type, ev.data as event_data, ev.created_at as event_created_at, {_ENDPOINT_COLUMNS}
  from claimed c
  join outbound_events ev on ev.tenant_id = :tenant and ev.id = c.event_id
  join webhook_endpoints e on e.tenant_id = :tenant and e.id = c.endpoint_id
 cross join (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
""")  # noqa: S608
_RECORD = text("""
with closed as (
  update webhook_deliveries
     set status = :status,
         lease_until = null,
         finished_at = case when :status = 'pending' then null else now() end,
         next_attempt_at = case when :status = 'pending'
                                then now() + make_interval(secs => cast(:retry as double precision))
                                else next_attempt_at end
   where tenant_id = :tenant and id = :id and status = 'pending' and attempts = :attempt
  returning id, endpoint_id, next_attempt_at
)
insert into webhook_attempts
       (tenant_id, delivery_id, endpoint_id, attempt, status_code, duration_ms, error, response_body, next_retry_at)
select :tenant, closed.id, closed.endpoint_id, :attempt, :code, :ms, :error, :body,
       case when :status = 'pending' then closed.next_attempt_at end
  from closed
 cross join (select set_config('synchronous_commit', 'off', true)) as no_flush_wait
returning id
""")

_WAITING = union(
    select(OutboundEvent.tenant_id).where(OutboundEvent.dispatched_at.is_(None)),
    select(WebhookDelivery.tenant_id).where(
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= func.now() - text("make_interval(secs => :grace)"),
        (WebhookDelivery.lease_until.is_(None)) | (WebhookDelivery.lease_until < func.now()),
    ),
)


class OutboundSystemRepository:
    """The system path: which tenants have webhook work waiting (it can read no event or endpoint content)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def tenants_with_waiting_work(self, *, grace: timedelta) -> list[uuid.UUID]:
        rows = self.session.execute(_WAITING, {"grace": grace.total_seconds()})
        return [row[0] for row in rows]

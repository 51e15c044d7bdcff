"""Getting events to endpoints: the dispatcher fans the outbox out into deliveries; each attempt is one signed POST.

* Dispatch (per tenant, nudged after each commit that emitted, and listed every minute by the schedule): take the
  undispatched events (locked, SKIP LOCKED), create one delivery per subscribed endpoint and mark the events
  dispatched in one transaction, then queue one attempt message per delivery. Deliveries that are due and not in
  flight (a lost message, or a retry further away than SQS can delay) are queued again.
* Attempt: claim the delivery under `SELECT ... FOR UPDATE` (it must be pending, this message's attempt, due and
  not leased), commit, POST outside any transaction, then record the outcome. A failure is retried with the same
  webhook-id after an exponential, jittered delay, for about a day (MAX_ATTEMPTS); an endpoint whose attempts have
  failed for DISABLE_AFTER without one success is disabled and `endpoint.disabled` is emitted.

Delivery is at least once; order is not promised (retries and parallel workers reorder events).
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from viral.aws.sqs import send_batch
from viral.db.uow import system_unit_of_work, unit_of_work
from viral.errors import Permanent, Retryable
from viral.observability import logger
from viral.outbound.endpoints import webhook_id
from viral.outbound.events import emit
from viral.outbound.messages import DeliverMessage, DispatchMessage
from viral.outbound.repository import (
    DeliveryRepository,
    DeliveryWork,
    EndpointRepository,
    OutboundSystemRepository,
    OutboxRepository,
)
from viral.outbound.safety import Policy
from viral.outbound.sealing import opened_secrets, secret_box
from viral.outbound.sender import Outcome, envelope, post, signed_headers
from viral.settings import Settings, get_settings
from viral.tenancy import current_tenant, tenant_scope

MAX_ATTEMPTS = 12  # with a 5 s base: 5 s, 15 s, 45 s, ... capped at 6 h: about 22 hours in all
BACKOFF_FACTOR = 3
MAX_DELAY_S = 6 * 3600
SQS_MAX_DELAY_S = 900
DISABLE_AFTER = timedelta(days=5)
SWEEP_GRACE = timedelta(seconds=30)  # a due delivery's own message gets this long before the sweep re-sends it
EARLY_SLACK = timedelta(seconds=2)
DISPATCH_BATCH = 500
DISPATCH_ROUNDS = 20
SUCCESS_STAMP_EVERY = timedelta(minutes=1)

_jitter = random.Random()


def retry_delay_s(attempt: int, base_s: float, *, rng: random.Random | None = None) -> float:
    """The wait after failed attempt number `attempt`: base x 3^(attempt-1), capped, times a jitter of +-20%."""
    nominal = min(MAX_DELAY_S, base_s * BACKOFF_FACTOR ** (attempt - 1))
    return nominal * (rng or _jitter).uniform(0.8, 1.2)


# --- dispatch -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchReport:
    events: int
    deliveries: int
    requeued: int

    def wire(self) -> dict[str, int]:
        return {"events": self.events, "deliveries": self.deliveries, "requeued": self.requeued}


def _targets(
    event_type: str, endpoint_id: uuid.UUID | None, subscriptions: list[tuple[uuid.UUID, list[str]]]
) -> list[uuid.UUID]:
    if endpoint_id is not None:  # a test event: that endpoint only
        return [e for e, _ in subscriptions if e == endpoint_id]
    return [e for e, types in subscriptions if event_type in types]


def dispatch(tenant_id: uuid.UUID, *, settings: Settings | None = None) -> DispatchReport:
    """Fan this tenant's new events out into deliveries and queue their first attempts (and any overdue ones)."""
    settings = settings or get_settings()
    events = fresh = 0
    with tenant_scope(tenant_id):
        for _ in range(DISPATCH_ROUNDS):
            with unit_of_work() as uow:
                taken = uow.repository(OutboxRepository).take_undispatched(DISPATCH_BATCH)
                subscriptions = uow.repository(EndpointRepository).subscriptions() if taken else []
                pairs = [(e.id, target) for e in taken for target in _targets(e.type, e.endpoint_id, subscriptions)]
                created = uow.repository(DeliveryRepository).add_many(pairs)
                uow.repository(OutboxRepository).mark_dispatched([e.id for e in taken])
            # Sent after each round's commit: a lost send leaves pending deliveries that the sweep queues again.
            send_batch(settings.webhook_queue_url, _attempts(tenant_id, created))
            events, fresh = events + len(taken), fresh + len(created)
            if len(taken) < DISPATCH_BATCH:
                break
        with unit_of_work() as uow:
            overdue = uow.repository(DeliveryRepository).due(older_than=SWEEP_GRACE, limit=1000)
    send_batch(settings.webhook_queue_url, _attempts(tenant_id, overdue))
    return DispatchReport(events=events, deliveries=fresh, requeued=len(overdue))


def _attempts(tenant_id: uuid.UUID, deliveries: list[tuple[uuid.UUID, int]]) -> list[tuple[DeliverMessage, int]]:
    """The next attempt's message of each (delivery, attempts made so far)."""
    return [(DeliverMessage(tenant_id=tenant_id, delivery_id=d, attempt=n + 1), 0) for d, n in deliveries]


def dispatch_waiting_tenants(*, settings: Settings | None = None) -> dict[str, int]:
    """The every-minute schedule: one dispatch message per tenant with webhook work waiting."""
    settings = settings or get_settings()
    with system_unit_of_work() as system:
        tenants = OutboundSystemRepository(system.session).tenants_with_waiting_work(grace=SWEEP_GRACE)
    send_batch(settings.webhook_queue_url, [(DispatchMessage(tenant_id=t), 0) for t in tenants])
    return {"tenants": len(tenants)}


# --- attempts -------------------------------------------------------------------------------------------------


def attempt_delivery(message: DeliverMessage, *, settings: Settings | None = None) -> str:
    """Make this message's attempt of its delivery, once; what happened."""
    settings = settings or get_settings()
    with tenant_scope(message.tenant_id):
        claimed = _claim(message, settings)
        if isinstance(claimed, str):
            return claimed
        outcome = _send(claimed, settings)
        return _record(message, claimed, outcome, settings)


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.webhook_timeout_s * 3 + 10)


def _claim(message: DeliverMessage, settings: Settings) -> DeliveryWork | str:
    """Take this message's attempt (one statement on the happy path); else say why not."""
    with unit_of_work() as uow:
        deliveries = uow.repository(DeliveryRepository)
        work = deliveries.claim(
            message.delivery_id,
            attempt=message.attempt,
            lease_s=_lease(settings).total_seconds(),
            slack_s=EARLY_SLACK.total_seconds(),
        )
        if work is not None:
            return work
        found = deliveries.lock_work(message.delivery_id)
        if found is None:
            return "missing"
        if found.status != "pending":
            return "done"
        if found.attempts != message.attempt - 1:
            return "stale"
        if found.endpoint.status != "enabled":
            deliveries.set(found.id, status="cancelled", finished_at=datetime.now(UTC), lease_until=None)
            return "cancelled"
        return "busy" if found.lease_until is not None and found.lease_until > datetime.now(UTC) else "early"


def _secrets(work: DeliveryWork, settings: Settings) -> list[str]:
    """The endpoint's live signing secrets: the current one, and the one it replaced while that still signs."""
    box = secret_box(settings)
    endpoint = work.endpoint
    sealed = [endpoint.secret_sealed]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_sealed and expires is not None and expires > datetime.now(UTC):
        sealed.append(endpoint.previous_secret_sealed)
    tenant = current_tenant()
    opened = [opened_secrets.open(box, s, tenant_id=tenant, endpoint_id=endpoint.id) for s in sealed]
    return [secret.decode() for secret in opened]


def _send(work: DeliveryWork, settings: Settings) -> Outcome:
    try:
        secrets = _secrets(work, settings)
    except (Permanent, Retryable) as error:  # recorded as this attempt's failure, and retried like any other
        return Outcome(None, 0, error.message)
    body = envelope(work.event_type, work.event_created_at, work.event_data)
    headers = signed_headers(webhook_id(work.event_id), body, secrets)
    return post(
        work.endpoint.url,
        headers,
        body,
        policy=Policy.for_stage(settings.stage),
        timeout_s=settings.webhook_timeout_s,
    )


def _record(message: DeliverMessage, work: DeliveryWork, outcome: Outcome, settings: Settings) -> str:
    now = datetime.now(UTC)
    delay_s: float | None = None
    if outcome.ok:
        status, result = "succeeded", "delivered"
    elif message.attempt >= MAX_ATTEMPTS:
        status, result = "failed", "gave-up"
    else:
        delay_s = retry_delay_s(message.attempt, settings.webhook_retry_base_s)
        status, result = "pending", "retrying"
    with unit_of_work() as uow:
        recorded = uow.repository(DeliveryRepository).record_attempt(
            work.id,
            attempt=message.attempt,
            status=status,
            retry_in_s=delay_s,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            error=outcome.error[:500] if outcome.error else None,
            response_body=outcome.body,
        )
        if not recorded:
            return "stale"  # our lease ran out and another attempt took over
        if outcome.ok:
            _stamp_success(uow, work, now)
        elif _endpoint_failed(uow, work, now, outcome):
            result = "disabled"
    if delay_s is not None and delay_s <= SQS_MAX_DELAY_S and result != "disabled":
        retry = DeliverMessage(tenant_id=message.tenant_id, delivery_id=work.id, attempt=message.attempt + 1)
        try:
            send_batch(settings.webhook_queue_url, [(retry, math.ceil(delay_s))])
        except Exception:  # the sweep re-sends due deliveries whose message was lost
            logger.warning("could not queue the webhook retry", exc_info=True)
    return result


def _stamp_success(uow: Any, work: DeliveryWork, now: datetime) -> None:
    endpoint = work.endpoint
    stale = endpoint.last_success_at is None or now - endpoint.last_success_at > SUCCESS_STAMP_EVERY
    if endpoint.failing_since is not None or stale:
        uow.repository(EndpointRepository).update(endpoint.id, failing_since=None, last_success_at=now)


def _endpoint_failed(uow: Any, work: DeliveryWork, now: datetime, outcome: Outcome) -> bool:
    """Note the failure on the endpoint; True when it has failed for DISABLE_AFTER and is disabled now."""
    endpoint = work.endpoint
    if endpoint.failing_since is None:
        uow.repository(EndpointRepository).update(endpoint.id, failing_since=now)
        return False
    if endpoint.status != "enabled" or now - endpoint.failing_since < DISABLE_AFTER:
        return False
    days = (now - endpoint.failing_since).days
    reason = f"every attempt failed for {days} days (last: {outcome.error or 'no answer'})"
    uow.repository(EndpointRepository).update(
        endpoint.id, status="disabled", disabled_reason=reason[:500], disabled_at=now
    )
    uow.repository(DeliveryRepository).cancel_pending(endpoint.id)
    emit(
        uow,
        "endpoint.disabled",
        {"endpointId": str(endpoint.id), "url": endpoint.url, "failingSince": endpoint.failing_since.isoformat()},
    )
    logger.warning("webhook endpoint disabled", extra={"endpoint_id": str(endpoint.id), "days": days})
    return True


def handle_webhook_message(message: DispatchMessage | DeliverMessage, *, settings: Settings | None = None) -> str:
    """One webhook-deliveries message: a tenant's dispatch, or one attempt of one delivery."""
    if isinstance(message, DispatchMessage):
        report = dispatch(message.tenant_id, settings=settings)
        logger.info("webhook events dispatched", extra=report.wire())
        return "dispatched"
    return attempt_delivery(message, settings=settings)

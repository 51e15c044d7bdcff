"""Billing: Checkout and the billing portal for the current tenant, Stripe webhooks recorded once and applied once,
reconciliation with Stripe, and the monthly quota reset of tenants without a Stripe period.

Flow of a Stripe event: the webhook verifies the signature on the raw body, records the event id in
webhook_events and sends it to billing-events in one transaction (a failed send un-records it, so Stripe's retry
is not mistaken for a duplicate), and answers 2xx. The worker settles the event in webhook_events in the same
transaction that applies it to the tenant, so a redelivery, or two deliveries at once, apply it once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from viral.aws.sqs import send
from viral.billing.events import (
    ALLOWED_STRIPE_EVENTS,
    ENDED_STATUSES,
    FREE_PERIOD,
    customer_of,
    decide,
    decide_subscription,
    parse_stripe_event,
    subscription_snapshot,
    tenant_hint,
)
from viral.billing.messages import ReconcileMessage, StripeEventMessage, SubscriptionSnapshot
from viral.billing.plans import PAID_TIERS, PLANS, price_ids
from viral.billing.repository import (
    SETTLED,
    BillingRepository,
    BillingState,
    BillingSystemRepository,
    WebhookEventSystemRepository,
)
from viral.billing.stripe_gateway import BillingNotConfigured, StripeGateway, stripe_credentials, stripe_gateway
from viral.db.uow import system_unit_of_work, system_unit_of_work_without_flush_wait, unit_of_work
from viral.errors import Conflict, InvalidInput, NotFound, Permanent
from viral.observability import logger
from viral.settings import Settings, get_settings
from viral.tenancy import current_tenant
from viral.webhooks.payload import WebhookReceipt, allowed_event
from viral.webhooks.signatures import header, verify_stripe_signature

PROVIDER = "stripe"
SUBSCRIBED_STATUSES = ("active", "trialing", "past_due")


# --- Checkout and the billing portal (the current tenant) ---------------------------------------------------


@dataclass(frozen=True)
class BillingRedirect:
    """Where to send the browser: a Stripe-hosted page."""

    url: str
    session_id: str | None = None


def start_checkout(tier: str, *, settings: Settings | None = None) -> BillingRedirect:
    """A Stripe Checkout session (subscription mode) for the current tenant to buy `tier`."""
    settings = settings or get_settings()
    tier = tier.strip().upper() if isinstance(tier, str) else ""
    if tier not in PAID_TIERS:
        raise InvalidInput(
            "Invalid subscription tier",
            details=[{"field": "tier", "message": f"must be one of {', '.join(PAID_TIERS)}"}],
        )
    price = price_ids(settings).get(tier)
    if not price:
        raise BillingNotConfigured(f"no Stripe price is configured for {tier} (STRIPE_PRICE_{tier})")
    gateway = stripe_gateway(settings)
    state = _current_state()
    if state.subscription_id and state.status in SUBSCRIBED_STATUSES:
        raise Conflict("the tenant already has a subscription: change plans in the billing portal")
    customer = _customer(gateway, state)
    base = settings.dashboard_url.rstrip("/")
    session = gateway.create_checkout_session(
        tenant_id=state.tenant_id,
        customer_id=customer,
        tier=tier,
        price_id=price,
        success_url=f"{base}/dashboard?success=true&tier={tier}",
        cancel_url=f"{base}/dashboard/billing?canceled=true",
    )
    logger.info("checkout session created", extra={"tier": tier, "checkout_session": session.id})
    return BillingRedirect(url=session.url, session_id=session.id)


def open_billing_portal(*, settings: Settings | None = None) -> BillingRedirect:
    """A Stripe billing portal session for the current tenant (its customer is created on first use)."""
    settings = settings or get_settings()
    gateway = stripe_gateway(settings)
    customer = _customer(gateway, _current_state())
    url = gateway.create_portal_session(
        customer_id=customer, return_url=f"{settings.dashboard_url.rstrip('/')}/dashboard/billing"
    )
    return BillingRedirect(url=url)


def _current_state() -> BillingState:
    current_tenant()  # fail closed before any outside call
    with unit_of_work() as uow:
        state = uow.repository(BillingRepository).state()
    if state is None:
        raise NotFound("tenant not found")
    return state


def _customer(gateway: StripeGateway, state: BillingState) -> str:
    """The tenant's Stripe customer, created and stored on first use (no transaction held open across Stripe)."""
    if state.customer_id:
        return state.customer_id
    created = gateway.create_customer(tenant_id=state.tenant_id, name=state.name)
    with unit_of_work(state.tenant_id) as uow:
        stored = uow.repository(BillingRepository).attach_customer(created)
    return stored or created


# --- the Stripe webhook --------------------------------------------------------------------------------------


def receive_stripe_webhook(
    payload: bytes, headers: Mapping[str, str] | None, *, now: float | None = None, settings: Settings | None = None
) -> WebhookReceipt:
    """Verify, allow-list, record once and enqueue a Stripe delivery (InvalidSignature: nothing is touched)."""
    settings = settings or get_settings()
    secret = stripe_credentials(settings).webhook_secret
    verify_stripe_signature(
        payload, header(headers, "stripe-signature"), secret, now=time.time() if now is None else now
    )
    event = allowed_event(payload, ALLOWED_STRIPE_EVENTS)
    if event is None:
        return WebhookReceipt(status="ignored")
    message = parse_stripe_event(event)
    if not settings.billing_queue_url:
        raise BillingNotConfigured("the billing queue is not configured (BILLING_QUEUE_URL)")
    # Record, then send with no transaction held. Until the worker settles the event, a redelivery from Stripe
    # is sent again (harmless: the worker applies each event once, by its id), so a send that failed, or a
    # function that died before sending, never loses the event. The commit need not wait for the WAL flush: a
    # record lost in a database crash only means one more copy on the queue.
    with system_unit_of_work_without_flush_wait() as system:
        status = WebhookEventSystemRepository(system.session).record(
            provider=PROVIDER, event_id=message.event_id, event_type=message.event_type
        )
    if status in SETTLED:
        return WebhookReceipt(status="duplicate", event_id=message.event_id)
    send(settings.billing_queue_url, message)  # a failure here answers 5xx: Stripe retries the delivery
    return WebhookReceipt(status="queued", event_id=message.event_id)


# --- the billing worker ---------------------------------------------------------------------------------------


def handle_billing_message(message: StripeEventMessage | ReconcileMessage, *, settings: Settings | None = None) -> str:
    """Run one billing-events message; the outcome (processed, duplicate, ignored, repaired, ...)."""
    if isinstance(message, ReconcileMessage):
        return reconcile_tenant(message, settings=settings)
    return apply_stripe_event(message, settings=settings)


def apply_stripe_event(message: StripeEventMessage, *, settings: Settings | None = None) -> str:
    """Apply a recorded Stripe event to its tenant, once, in the transaction that settles it."""
    settings = settings or get_settings()
    # The tenant that owns the customer wins: metadata names a tenant only for a customer we don't know yet
    # (a subscription made elsewhere on the same Stripe account must not grant another tenant a plan).
    hinted, owner = tenant_hint(message), _tenant_of_customer(customer_of(message))
    tenant = None if hinted and owner and hinted != owner else (owner or hinted)
    if tenant is None:
        with system_unit_of_work() as system:
            WebhookEventSystemRepository(system.session).claim(
                provider=PROVIDER,
                event_id=message.event_id,
                event_type=message.event_type,
                tenant_id=None,
                status="ignored",
            )
        logger.info("stripe event for no known tenant", extra={"event_type": message.event_type})
        return "ignored"
    with unit_of_work(tenant) as uow:
        with uow.as_system() as session:
            claimed = WebhookEventSystemRepository(session).claim(
                provider=PROVIDER, event_id=message.event_id, event_type=message.event_type, tenant_id=tenant
            )
        if not claimed:
            return "duplicate"
        state = uow.repository(BillingRepository).state(lock=True)
        if state is None:
            applied, reason = False, "the tenant does not exist"
        else:
            decision = decide(state, message, settings)
            if decision.customer_id:
                uow.repository(BillingRepository).attach_customer(decision.customer_id)
            uow.repository(BillingRepository).apply(decision.changes)
            applied, reason = decision.applied, decision.reason
        if not applied:
            with uow.as_system() as session:
                WebhookEventSystemRepository(session).mark(
                    provider=PROVIDER, event_id=message.event_id, status="ignored"
                )
    logger.info(
        "stripe event settled",
        extra={"tenant_id": str(tenant), "event_type": message.event_type, "applied": applied, "reason": reason},
    )
    return "processed" if applied else "ignored"


def _tenant_of_customer(customer_id: str | None) -> uuid.UUID | None:
    if not customer_id:
        return None
    with system_unit_of_work() as system:
        return BillingSystemRepository(system.session).tenant_of_customer(customer_id)


# --- reconciliation and the monthly reset (schedules) -----------------------------------------------------------

_STATE_OF_COLUMN = {
    "subscription_tier": "tier",
    "subscription_status": "status",
    "stripe_subscription_id": "subscription_id",
    "monthly_quota": "monthly_quota",
    "billing_period_end": "billing_period_end",
    "cancel_at_period_end": "cancel_at_period_end",
    "used_quota": "used_quota",
}


def reconcile_tenant(
    message: ReconcileMessage, *, settings: Settings | None = None, gateway: StripeGateway | None = None
) -> str:
    """Read the tenant's subscription back from Stripe and repair what drifted; the outcome."""
    settings = settings or get_settings()
    gateway = gateway or stripe_gateway(settings)
    # Taken before the read: an event created while Stripe answers is newer than this snapshot and still applies.
    at = datetime.now(UTC)
    try:
        found = gateway.retrieve_subscription(message.subscription_id)
    except Permanent:
        logger.warning("subscription not readable from Stripe", extra={"tenant_id": str(message.tenant_id)})
        return "failed"
    if found is None:
        snapshot, deleted = SubscriptionSnapshot(id=message.subscription_id, status="canceled"), True
    else:
        snapshot = subscription_snapshot(found)
        deleted = snapshot.status in ENDED_STATUSES
    with unit_of_work(message.tenant_id) as uow:
        state = uow.repository(BillingRepository).state(lock=True)
        if state is None or state.subscription_id != message.subscription_id:
            return "skipped"  # the tenant is gone or changed subscription since the schedule ran
        decision = decide_subscription(state, snapshot, at, settings, deleted=deleted, reset_on_new_period=True)
        uow.repository(BillingRepository).apply(decision.changes)
    drift = sorted(
        column
        for column, value in decision.changes.items()
        if column in _STATE_OF_COLUMN and getattr(state, _STATE_OF_COLUMN[column]) != value
    )
    if drift:
        logger.warning("billing drift repaired", extra={"tenant_id": str(state.tenant_id), "columns": drift})
    return "repaired" if drift else "unchanged"


@dataclass
class BillingTaskReport:
    task: str
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        return {"task": self.task, "done": len(self.done), "failed": self.failed}


def schedule_reconciliation(*, now: datetime | None = None, settings: Settings | None = None) -> BillingTaskReport:
    """Enqueue one reconciliation per tenant linked to a Stripe subscription (one failure never stops the rest)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    report = BillingTaskReport(task="reconcile")
    with system_unit_of_work() as system:
        paying = BillingSystemRepository(system.session).paying_tenants()
    for tenant_id, subscription_id in paying:
        try:
            message = ReconcileMessage(tenant_id=tenant_id, subscription_id=subscription_id, requested_at=now)
            send(settings.billing_queue_url, message)
            report.done.append(str(tenant_id))
        except Exception as error:  # isolate tenants: record and go on
            logger.exception("reconciliation not enqueued", extra={"tenant_id": str(tenant_id)})
            report.failed[str(tenant_id)] = type(error).__name__
    return report


def reset_expired_quotas(*, now: datetime | None = None) -> BillingTaskReport:
    """Start a new monthly quota period for every tenant without a Stripe period whose period ended."""
    now = now or datetime.now(UTC)
    report = BillingTaskReport(task="reset-quotas")
    with system_unit_of_work() as system:
        due = BillingSystemRepository(system.session).tenants_due_for_reset(now)
    for tenant_id in due:
        try:
            with unit_of_work(tenant_id) as uow:
                if uow.repository(BillingRepository).reset_monthly_quota(now=now, next_reset=now + FREE_PERIOD):
                    report.done.append(str(tenant_id))
        except Exception as error:  # isolate tenants: record and go on
            logger.exception("quota not reset", extra={"tenant_id": str(tenant_id)})
            report.failed[str(tenant_id)] = type(error).__name__
    return report


BillingTask = Literal["reconcile", "reset-quotas"]


def run_billing_task(task: BillingTask, *, now: datetime | None = None) -> BillingTaskReport:
    """One scheduled billing task: enqueue reconciliations, or reset ended monthly quota periods."""
    if task == "reconcile":
        return schedule_reconciliation(now=now)
    return reset_expired_quotas(now=now)


# --- operator overrides (CLI) -----------------------------------------------------------------------------------


def set_plan(tier: str) -> BillingState:
    """Put the current tenant on `tier` (its monthly concept quota follows the plan); usage is left as it is.

    An operator's override: a tenant with a Stripe subscription gets Stripe's plan back at the next event or
    reconciliation.
    """
    plan = PLANS.get(tier)
    if plan is None:
        raise InvalidInput(f"unknown plan {tier!r}; one of {', '.join(PLANS)}")
    with unit_of_work() as uow:
        billing = uow.repository(BillingRepository)
        if billing.state(lock=True) is None:
            raise NotFound(f"tenant {current_tenant()} not found")
        billing.apply({"subscription_tier": plan.tier, "monthly_quota": plan.concepts_per_month})
        state = billing.state()
    assert state is not None  # the row was locked above
    return state


def reset_quota() -> BillingState:
    """Set the current tenant's used concept and video quota of this period back to zero."""
    with unit_of_work() as uow:
        billing = uow.repository(BillingRepository)
        if billing.state(lock=True) is None:
            raise NotFound(f"tenant {current_tenant()} not found")
        billing.apply({"used_quota": 0, "used_video_quota": 0})
        state = billing.state()
    assert state is not None
    return state

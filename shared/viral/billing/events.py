"""Stripe events as billing reads them: payloads reduced to snapshots, and what each one changes on a tenant.

The decisions are pure (state and snapshot in, changes out), so ordering rules are easy to read and test:
- Subscription snapshots (customer.subscription.*, or one read back from Stripe) are authoritative for the plan,
  status and period; one older than the state already applied (`stripe_state_at`) changes nothing.
- checkout.session.completed links the customer and grants the bought tier, but is not a full snapshot, so
  it never advances `stripe_state_at` (the subscription's own events, often a second older, still apply).
- invoice.paid resets the quota once per new billing period (`quota_period_start` only moves forward).
- invoice.payment_failed marks the tenant past_due, unless newer state says otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from viral.billing.messages import CheckoutSnapshot, InvoiceSnapshot, StripeEventMessage, SubscriptionSnapshot
from viral.billing.plans import is_paid_tier, plan_for, tier_of_prices
from viral.billing.repository import BillingState
from viral.db.models import SUBSCRIPTION_STATUSES
from viral.errors import InvalidInput
from viral.settings import Settings

ALLOWED_STRIPE_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)
ACCESS_STATUSES = ("active", "trialing", "past_due")
ENDED_STATUSES = ("canceled", "incomplete_expired")
# Invoices that start a paid period; prorations (subscription_update) and manual invoices do not reset quota.
PERIOD_INVOICES = (None, "subscription_create", "subscription_cycle")
FREE_PERIOD = timedelta(days=30)


# --- payloads to snapshots (old and new Stripe API field locations) ------------------------------------------


def _id(value: Any) -> str | None:
    """An object id, whether Stripe sent the id or the expanded object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC)


def _metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list[Mapping[str, Any]]:
    data = value.get("data") if isinstance(value, Mapping) else None
    return [item for item in data if isinstance(item, Mapping)] if isinstance(data, list) else []


def checkout_snapshot(session: Mapping[str, Any]) -> CheckoutSnapshot:
    return CheckoutSnapshot(
        id=str(session.get("id") or ""),
        mode=session.get("mode"),
        status=session.get("status"),
        payment_status=session.get("payment_status"),
        customer=_id(session.get("customer")),
        subscription=_id(session.get("subscription")),
        client_reference_id=session.get("client_reference_id"),
        metadata=_metadata(session.get("metadata")),
    )


def subscription_snapshot(subscription: Mapping[str, Any]) -> SubscriptionSnapshot:
    """A subscription; its period from the subscription (API versions before 2025-03-31) or from its items."""
    items = _items(subscription.get("items"))
    prices = [price for item in items if (price := _id(item.get("price")) or _id(item.get("plan")))]
    starts = [t for item in items if (t := _time(item.get("current_period_start")))]
    ends = [t for item in items if (t := _time(item.get("current_period_end")))]
    return SubscriptionSnapshot(
        id=str(subscription.get("id") or ""),
        customer=_id(subscription.get("customer")),
        status=str(subscription.get("status") or ""),
        price_ids=prices,
        metadata=_metadata(subscription.get("metadata")),
        current_period_start=_time(subscription.get("current_period_start")) or (min(starts) if starts else None),
        current_period_end=_time(subscription.get("current_period_end")) or (max(ends) if ends else None),
        cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
    )


def invoice_snapshot(invoice: Mapping[str, Any]) -> InvoiceSnapshot:
    """An invoice; its subscription from `subscription` (before 2025-03-31) or `parent.subscription_details`."""
    parent = _mapping(invoice.get("parent"))
    details = _mapping(parent.get("subscription_details"))
    legacy = _mapping(invoice.get("subscription_details"))
    periods = [line["period"] for line in _items(invoice.get("lines")) if isinstance(line.get("period"), Mapping)]
    latest = max(periods, key=lambda p: p.get("end") or 0, default=None)
    return InvoiceSnapshot(
        id=str(invoice.get("id") or ""),
        customer=_id(invoice.get("customer")),
        subscription=_id(invoice.get("subscription")) or _id(details.get("subscription")),
        subscription_metadata=_metadata(details.get("metadata")) or _metadata(legacy.get("metadata")),
        billing_reason=invoice.get("billing_reason"),
        period_start=_time(latest.get("start")) if latest else _time(invoice.get("period_start")),
        period_end=_time(latest.get("end")) if latest else _time(invoice.get("period_end")),
    )


def parse_stripe_event(event: Any) -> StripeEventMessage:
    """The message for a verified Stripe event (InvalidInput when it is not a Stripe event at all)."""
    if not isinstance(event, Mapping):
        raise InvalidInput("the event must be a JSON object")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    event_id, event_type, created = event.get("id"), event.get("type"), _time(event.get("created"))
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str) or created is None:
        raise InvalidInput("the event lacks an id, a type or a creation time")
    if not isinstance(obj, Mapping) or not obj.get("id"):
        raise InvalidInput("the event lacks data.object")
    try:
        message = StripeEventMessage(
            event_id=event_id, event_type=event_type, created=created, livemode=bool(event.get("livemode"))
        )
        if event_type.startswith("checkout.session."):
            message.checkout = checkout_snapshot(obj)
        elif event_type.startswith("customer.subscription."):
            message.subscription = subscription_snapshot(obj)
        elif event_type.startswith("invoice."):
            message.invoice = invoice_snapshot(obj)
    except ValidationError as exc:
        fields = [".".join(str(p) for p in e["loc"]) for e in exc.errors()]
        raise InvalidInput("the event has fields we cannot read", details=fields[:10]) from exc
    return message


def tenant_hint(message: StripeEventMessage) -> uuid.UUID | None:
    """The tenant our checkout named (client_reference_id or metadata), if the event carries it."""
    candidates: list[Any] = []
    if message.checkout is not None:
        candidates += [message.checkout.client_reference_id, *_tenant_keys(message.checkout.metadata)]
    if message.subscription is not None:
        candidates += _tenant_keys(message.subscription.metadata)
    if message.invoice is not None:
        candidates += _tenant_keys(message.invoice.subscription_metadata)
    for candidate in candidates:
        try:
            return uuid.UUID(str(candidate))
        except ValueError:
            continue
    return None


def _tenant_keys(metadata: Mapping[str, str]) -> list[str | None]:
    return [metadata.get("tenant_id"), metadata.get("tenantId")]


def customer_of(message: StripeEventMessage) -> str | None:
    for part in (message.checkout, message.subscription, message.invoice):
        if part is not None and part.customer:
            return part.customer
    return None


# --- decisions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What an event does to a tenant: `changes` to its billing columns, and a customer to link."""

    applied: bool
    reason: str
    changes: dict[str, Any] = field(default_factory=dict)
    customer_id: str | None = None


def _ignored(reason: str, customer_id: str | None = None) -> Decision:
    return Decision(applied=customer_id is not None, reason=reason, customer_id=customer_id)


def _older(state: BillingState, at: datetime) -> bool:
    return state.stripe_state_at is not None and at < state.stripe_state_at


def _foreign_customer(state: BillingState, customer: str | None) -> bool:
    return bool(state.customer_id and customer and customer != state.customer_id)


def _plan(tier: str) -> dict[str, Any]:
    return {"subscription_tier": tier, "monthly_quota": plan_for(tier).concepts_per_month}


def _downgrade(state: BillingState, at: datetime) -> dict[str, Any]:
    """Back to FREE; a tenant that was paying starts a fresh monthly period, as the original did on cancellation."""
    changes: dict[str, Any] = {
        **_plan("FREE"),
        "subscription_status": "canceled",
        "stripe_subscription_id": None,
        "billing_period_end": None,
        "cancel_at_period_end": False,
        "stripe_state_at": at,
    }
    if state.tier != "FREE":
        changes.update(used_quota=0, used_video_quota=0, quota_period_start=at, quota_reset_at=at + FREE_PERIOD)
    return changes


def decide_subscription(
    state: BillingState,
    snapshot: SubscriptionSnapshot,
    at: datetime,
    settings: Settings,
    *,
    deleted: bool = False,
    reset_on_new_period: bool = False,
) -> Decision:
    """Apply a subscription snapshot taken at `at` (the event's creation, or when it was read from Stripe)."""
    if _older(state, at):
        return _ignored("older than the state already applied")
    if _foreign_customer(state, snapshot.customer):
        return _ignored("the subscription belongs to another customer")
    if snapshot.status not in SUBSCRIPTION_STATUSES:
        return _ignored(f"unknown subscription status {snapshot.status[:40]!r}")
    ended = deleted or snapshot.status in ENDED_STATUSES
    current = state.subscription_id
    if current and current != snapshot.id and (ended or snapshot.status not in ("active", "trialing")):
        return _ignored("not the tenant's current subscription")
    if ended:
        return Decision(applied=True, reason="subscription ended", changes=_downgrade(state, at))
    tier = tier_of_prices(snapshot.price_ids, settings) or snapshot.metadata.get("tier")
    if not is_paid_tier(tier):
        return _ignored("the subscription's price is not one of our plans")
    assert tier is not None
    access = snapshot.status in ACCESS_STATUSES
    changes: dict[str, Any] = {
        **_plan(tier if access else "FREE"),
        "subscription_status": snapshot.status,
        "stripe_subscription_id": snapshot.id,
        "cancel_at_period_end": snapshot.cancel_at_period_end,
        "billing_period_end": snapshot.current_period_end if access else None,
        "stripe_state_at": at,
    }
    if access and snapshot.current_period_end is not None:
        changes["quota_reset_at"] = snapshot.current_period_end
    start = snapshot.current_period_start
    if reset_on_new_period and snapshot.status in ("active", "trialing") and _new_period(state, start):
        # A lost invoice.paid would leave the quota of the previous period in place: repaired here.
        changes.update(used_quota=0, used_video_quota=0, quota_period_start=start)
    return Decision(applied=True, reason="subscription applied", changes=changes)


def _new_period(state: BillingState, start: datetime | None) -> bool:
    return start is not None and (state.quota_period_start is None or start > state.quota_period_start)


def decide_checkout(state: BillingState, checkout: CheckoutSnapshot, at: datetime) -> Decision:
    """Link the customer; grant the tier bought, unless newer subscription state was applied already."""
    if checkout.mode != "subscription":
        return _ignored("not a subscription checkout")
    if _foreign_customer(state, checkout.customer):
        return _ignored("the session belongs to another customer")
    link = checkout.customer if state.customer_id is None else None
    tier = checkout.metadata.get("tier")
    paid = checkout.status == "complete" and checkout.payment_status in ("paid", "no_payment_required")
    if not paid or not is_paid_tier(tier) or not checkout.subscription:
        return _ignored("nothing paid yet", customer_id=link)
    assert tier is not None
    if _older(state, at):
        return _ignored("older than the state already applied", customer_id=link)
    changes = {**_plan(tier), "subscription_status": "active", "stripe_subscription_id": checkout.subscription}
    return Decision(applied=True, reason="checkout completed", changes=changes, customer_id=link)


def decide_invoice_paid(state: BillingState, invoice: InvoiceSnapshot, at: datetime) -> Decision:
    """A paid period: reset the quota once per new period; a past_due tenant is active again."""
    if _foreign_customer(state, invoice.customer):
        return _ignored("the invoice belongs to another customer")
    if not invoice.subscription:
        return _ignored("not a subscription invoice")
    if state.subscription_id and invoice.subscription != state.subscription_id:
        return _ignored("not the tenant's current subscription")
    changes: dict[str, Any] = {}
    if invoice.billing_reason in PERIOD_INVOICES and _new_period(state, invoice.period_start):
        changes.update(used_quota=0, used_video_quota=0, quota_period_start=invoice.period_start)
        if invoice.period_end is not None:
            changes["quota_reset_at"] = invoice.period_end
            if not _older(state, at):
                changes["billing_period_end"] = invoice.period_end
    if state.status == "past_due" and not _older(state, at):
        changes.update(subscription_status="active", stripe_state_at=at)
    if not changes:
        return _ignored("this period's quota was reset already")
    return Decision(applied=True, reason="invoice paid", changes=changes)


def decide_payment_failed(state: BillingState, invoice: InvoiceSnapshot, at: datetime) -> Decision:
    if _foreign_customer(state, invoice.customer):
        return _ignored("the invoice belongs to another customer")
    if not invoice.subscription:
        return _ignored("not a subscription invoice")
    if state.subscription_id and invoice.subscription != state.subscription_id:
        return _ignored("not the tenant's current subscription")
    if _older(state, at):
        return _ignored("older than the state already applied")
    if state.tier == "FREE" and state.subscription_id is None:
        return _ignored("the tenant has no subscription")
    return Decision(
        applied=True, reason="payment failed", changes={"subscription_status": "past_due", "stripe_state_at": at}
    )


def decide(state: BillingState, message: StripeEventMessage, settings: Settings) -> Decision:
    """What one Stripe event changes on the tenant it belongs to."""
    at = message.created
    kind = message.event_type
    if kind == "checkout.session.completed" and message.checkout is not None:
        return decide_checkout(state, message.checkout, at)
    if kind.startswith("customer.subscription.") and message.subscription is not None:
        deleted = kind == "customer.subscription.deleted"
        return decide_subscription(state, message.subscription, at, settings, deleted=deleted)
    if kind == "invoice.paid" and message.invoice is not None:
        return decide_invoice_paid(state, message.invoice, at)
    if kind == "invoice.payment_failed" and message.invoice is not None:
        return decide_payment_failed(state, message.invoice, at)
    return _ignored(f"{kind[:60]} is not handled")

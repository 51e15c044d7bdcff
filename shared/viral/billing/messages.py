"""billing-events: Stripe events (verified and recorded by the webhook) and reconciliation requests.

Stripe objects are reduced to what billing reads when the webhook receives them, so the worker never depends
on which Stripe API version wrote the payload (fields that moved, such as `current_period_end`, are read from
both places there).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from viral.wire import CamelModel

StripeId = Annotated[str, Field(min_length=1, max_length=255)]


class CheckoutSnapshot(CamelModel):
    """A Checkout Session, as checkout.session.completed carries it."""

    id: StripeId
    mode: str | None = None
    status: str | None = None
    payment_status: str | None = None
    customer: StripeId | None = None
    subscription: StripeId | None = None
    client_reference_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class SubscriptionSnapshot(CamelModel):
    """A Subscription, from a customer.subscription.* event or read back from Stripe."""

    id: StripeId
    customer: StripeId | None = None
    status: str
    price_ids: list[str] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False


class InvoiceSnapshot(CamelModel):
    """An Invoice, from invoice.paid or invoice.payment_failed."""

    id: StripeId
    customer: StripeId | None = None
    subscription: StripeId | None = None
    subscription_metadata: dict[str, str] = Field(default_factory=dict)
    billing_reason: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None


class StripeEventMessage(CamelModel):
    """One Stripe event, recorded in webhook_events by the webhook before it was sent."""

    schema_version: Literal[1] = 1
    kind: Literal["stripe-event"] = "stripe-event"
    event_id: StripeId
    event_type: str
    created: datetime
    livemode: bool = False
    checkout: CheckoutSnapshot | None = None
    subscription: SubscriptionSnapshot | None = None
    invoice: InvoiceSnapshot | None = None


class ReconcileMessage(CamelModel):
    """Read one paying tenant's subscription back from Stripe and repair any drift."""

    schema_version: Literal[1] = 1
    kind: Literal["reconcile"] = "reconcile"
    tenant_id: uuid.UUID
    subscription_id: StripeId
    requested_at: datetime


BillingMessage = Annotated[StripeEventMessage | ReconcileMessage, Field(discriminator="kind")]

"""Webhook signatures agree with Stripe's own library, and billing decisions follow their ordering rules
(pure functions: no database, no network)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from viral.billing.events import (
    decide_checkout,
    decide_invoice_paid,
    decide_subscription,
    invoice_snapshot,
    subscription_snapshot,
)
from viral.billing.messages import CheckoutSnapshot, InvoiceSnapshot, SubscriptionSnapshot
from viral.billing.repository import BillingState
from viral.settings import Settings
from viral.webhooks.signatures import InvalidSignature, WebhookNotConfigured, verify_stripe_signature

from local.fakes.stripe_api import sign
from tests.events import load_event

SECRET = "whsec_test_only_signature_secret"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = Settings(stripe_price_starter="price_s", stripe_price_pro="price_p", stripe_price_agency="price_a")


def test_the_fake_signs_as_stripe_and_our_verifier_accepts_what_stripe_accepts() -> None:
    payload = json.dumps(load_event("stripe_event_checkout_session_completed"))
    header = sign(payload, SECRET)
    event = stripe.Webhook.construct_event(payload, header, SECRET)  # Stripe's own check
    assert event.id == "evt_1SampleCheckoutCompleted"
    verify_stripe_signature(payload.encode(), header, SECRET, now=time.time())
    official = stripe.WebhookSignature.generate_signature_header(payload, SECRET)
    verify_stripe_signature(payload.encode(), official, SECRET, now=time.time())


def test_any_v1_signature_may_match_during_secret_rotation() -> None:
    payload = b'{"id": "evt_1"}'
    now = int(time.time())
    old, new = sign(payload, "whsec_old_secret", now), sign(payload, SECRET, now)
    header = f"{new},v1={old.split('v1=')[1]},v0=legacy"
    verify_stripe_signature(payload, header, SECRET, now=now)
    with pytest.raises(InvalidSignature):
        verify_stripe_signature(payload, sign(payload, "whsec_old_secret", now), SECRET, now=now)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "t=1", "v1=" + "0" * 64, "t=1,v0=00", "t=1,v1=é"])
def test_malformed_headers_are_refused(header: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_stripe_signature(b"{}", header or None, SECRET, now=1.0)


def test_a_missing_secret_refuses_instead_of_skipping_verification() -> None:
    payload = b"{}"
    with pytest.raises(WebhookNotConfigured):
        verify_stripe_signature(payload, sign(payload, SECRET), None, now=time.time())


def state(**changes: object) -> BillingState:
    values: dict[str, object] = {
        "tenant_id": uuid.uuid4(),
        "name": "t",
        "tier": "FREE",
        "status": "active",
        "customer_id": "cus_1",
        "subscription_id": None,
        "monthly_quota": 10,
        "used_quota": 3,
        "quota_reset_at": T0 + timedelta(days=30),
        "quota_period_start": T0,
        "billing_period_end": None,
        "cancel_at_period_end": False,
        "stripe_state_at": None,
    }
    return BillingState(**{**values, **changes})  # type: ignore[arg-type]


def subscription(status: str = "active", price: str = "price_p", sub_id: str = "sub_1") -> SubscriptionSnapshot:
    return SubscriptionSnapshot(
        id=sub_id,
        customer="cus_1",
        status=status,
        price_ids=[price],
        current_period_start=T0,
        current_period_end=T0 + timedelta(days=30),
    )


def test_checkout_grants_the_tier_but_never_advances_the_state_clock() -> None:
    checkout = CheckoutSnapshot(
        id="cs_1",
        mode="subscription",
        status="complete",
        payment_status="paid",
        customer="cus_1",
        subscription="sub_1",
        metadata={"tier": "PRO"},
    )
    decision = decide_checkout(state(), checkout, T0 + timedelta(seconds=5))
    assert decision.changes["subscription_tier"] == "PRO"
    assert "stripe_state_at" not in decision.changes
    # So the subscription's own created event, a second older, still applies its period.
    created = decide_subscription(state(tier="PRO"), subscription(), T0 + timedelta(seconds=4), SETTINGS)
    assert created.changes["billing_period_end"] == T0 + timedelta(days=30)


def test_an_unpaid_checkout_only_links_the_customer() -> None:
    checkout = CheckoutSnapshot(
        id="cs_1", mode="subscription", status="complete", payment_status="unpaid", customer="cus_9", metadata={}
    )
    decision = decide_checkout(state(customer_id=None), checkout, T0)
    assert (decision.changes, decision.customer_id) == ({}, "cus_9")


def test_an_expiring_incomplete_subscription_of_a_free_tenant_resets_no_quota() -> None:
    decision = decide_subscription(state(subscription_id="sub_1"), subscription("incomplete_expired"), T0, SETTINGS)
    assert decision.changes["subscription_tier"] == "FREE"
    assert "used_quota" not in decision.changes


def test_another_subscription_ending_does_not_touch_the_current_one() -> None:
    current = state(tier="PRO", subscription_id="sub_current")
    decision = decide_subscription(current, subscription(sub_id="sub_old"), T0, SETTINGS, deleted=True)
    assert (decision.applied, decision.changes) == (False, {})


def test_unpaid_or_paused_subscriptions_fall_back_to_free_quotas() -> None:
    decision = decide_subscription(state(tier="PRO", subscription_id="sub_1"), subscription("unpaid"), T0, SETTINGS)
    assert (decision.changes["subscription_tier"], decision.changes["monthly_quota"]) == ("FREE", 10)
    assert decision.changes["billing_period_end"] is None  # the monthly reset applies again


def test_a_proration_invoice_does_not_reset_the_quota() -> None:
    invoice = InvoiceSnapshot(
        id="in_1",
        customer="cus_1",
        subscription="sub_1",
        billing_reason="subscription_update",
        period_start=T0 + timedelta(days=3),
        period_end=T0 + timedelta(days=30),
    )
    decision = decide_invoice_paid(state(tier="PRO", subscription_id="sub_1"), invoice, T0 + timedelta(days=3))
    assert decision.changes == {}


def test_snapshots_read_new_and_old_field_locations() -> None:
    legacy = subscription_snapshot(load_event("stripe_event_customer_subscription_updated_legacy")["data"]["object"])
    assert legacy.current_period_end == datetime(2025, 12, 24, 16, 0, tzinfo=UTC)
    current = subscription_snapshot(
        {
            "id": "sub_2",
            "status": "active",
            "items": {"data": [{"price": {"id": "price_p"}, "current_period_start": 10, "current_period_end": 20}]},
        }
    )
    assert (current.current_period_start, current.price_ids) == (datetime.fromtimestamp(10, UTC), ["price_p"])
    new_invoice = invoice_snapshot(load_event("stripe_event_invoice_payment_failed")["data"]["object"])
    old_invoice = invoice_snapshot(load_event("stripe_event_invoice_paid_legacy")["data"]["object"])
    assert new_invoice.subscription == old_invoice.subscription == "sub_SampleSubscription"
    assert new_invoice.period_start == datetime.fromtimestamp(1766592000, UTC)  # the new period, from its line

"""Billing end to end: Checkout and portal against a fake Stripe API, signed webhooks through the gateway, the
billing worker on the moto queue, reconciliation and quota resets, all on the real database."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import Engine, text
from viral.aws import reset_clients
from viral.billing.events import parse_stripe_event
from viral.billing.messages import StripeEventMessage
from viral.billing.repository import BillingRepository, BillingState
from viral.billing.service import apply_stripe_event, receive_stripe_webhook
from viral.db.engine import reset_engine
from viral.db.uow import unit_of_work
from viral.errors import Retryable
from viral.identity import auth
from viral.settings import get_settings
from viral.tenancy import tenant_scope

from local.fakes.stripe_api import FakeStripe, sign
from tests.clerk import DASHBOARD_ORIGIN, key_pair, session_token
from tests.events import LambdaContext, load_event, load_handler
from tests.gateway import Answer, Gateway

WEBHOOK_SECRET = "whsec_test_only_" + "b" * 24
PRICES = {"STARTER": "price_fake_starter", "PRO": "price_fake_pro", "AGENCY": "price_fake_agency"}
JAN = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
DAY = 86_400


@dataclass
class Billing:
    """The fake Stripe, the billing queue, and the handlers around them."""

    fake: FakeStripe
    queue_url: str

    def deliver(
        self,
        gateway: Gateway,
        event: dict[str, Any],
        *,
        secret: str = WEBHOOK_SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> Answer:
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json"}
        headers["Stripe-Signature"] = signature if signature is not None else sign(body, secret, timestamp)
        if signature == "":
            del headers["Stripe-Signature"]
        return gateway.request("POST", "/api/webhooks/stripe", headers=headers, body=body)

    def drain(self) -> list[dict[str, Any]]:
        """Everything on the billing queue, as an SQS Lambda event's records."""
        sqs = boto3.client("sqs")
        records: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
            messages = answer.get("Messages", [])
            if not messages:
                return records
            for message in messages:
                record = load_event("sqs_billing_stripe_event_v1")["Records"][0]
                record.update(
                    messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"]
                )
                records.append(record)

    def work(self, records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        records = self.drain() if records is None else records
        answer: dict[str, Any] = load_handler("billing_worker").lambda_handler({"Records": records}, LambdaContext())
        return answer

    def deliver_all(self, gateway: Gateway, *events: dict[str, Any]) -> None:
        for event in events:
            assert self.deliver(gateway, event).status == HTTPStatus.OK
        assert self.work() == {"batchItemFailures": []}


@pytest.fixture
def billing(monkeypatch: pytest.MonkeyPatch, database_url: object) -> Iterator[Billing]:
    fake = FakeStripe(prices=tuple(PRICES.values()))
    with fake.running(), mock_aws():
        reset_clients()
        queue_url = boto3.client("sqs").create_queue(QueueName="billing-events")["QueueUrl"]
        settings = {
            "BILLING_QUEUE_URL": queue_url,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_SECRET_KEY": fake.api_key,
            "STRIPE_API_BASE": fake.url,
            "STRIPE_TIMEOUT_S": "5",
            "STRIPE_MAX_RETRIES": "1",
            "STRIPE_PRICE_STARTER": PRICES["STARTER"],
            "STRIPE_PRICE_PRO": PRICES["PRO"],
            "STRIPE_PRICE_AGENCY": PRICES["AGENCY"],
            "DASHBOARD_URL": "https://app.viral-dashboard.test",
            "RATE_LIMIT_ENABLED": "false",
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield Billing(fake=fake, queue_url=queue_url)
        reset_clients()
    get_settings.cache_clear()


KeyFor = Callable[..., dict[str, str]]


@pytest.fixture
def key_for() -> KeyFor:
    def make(tenant: uuid.UUID, *scopes: str) -> dict[str, str]:
        with tenant_scope(tenant):
            secret = auth.create_api_key(scopes=scopes or ("read", "write", "generate", "admin")).secret
        return {"Authorization": f"Bearer {secret}"}

    return make


FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}


def state_of(tenant: uuid.UUID) -> BillingState:
    with unit_of_work(tenant) as uow:
        state = uow.repository(BillingRepository).state()
    assert state is not None
    return state


def webhook_row(owner_engine: Engine, event_id: str) -> Any:
    with owner_engine.connect() as connection:
        return connection.execute(
            text("select status, tenant_id from webhook_events where provider = 'stripe' and event_id = :e"),
            {"e": event_id},
        ).one_or_none()


def subscribe(billing: Billing, tenant: uuid.UUID, tier: str = "PRO", *, start: int = JAN) -> dict[str, Any]:
    """A customer and an active subscription at Stripe for the tenant, the customer linked (as after checkout)."""
    customer = billing.fake.add_customer(metadata={"tenant_id": str(tenant)})
    with unit_of_work(tenant) as uow:
        uow.repository(BillingRepository).attach_customer(customer)
    metadata = {"tenant_id": str(tenant), "tier": tier}
    return billing.fake.add_subscription(customer=customer, price=PRICES[tier], metadata=metadata, start=start)


def set_used(owner_engine: Engine, tenant: uuid.UUID, used: int) -> None:
    with owner_engine.begin() as connection:
        connection.execute(text("update tenants set used_quota = :u where id = :t"), {"u": used, "t": tenant})


# --- Checkout and the portal ------------------------------------------------------------------------------------


def test_checkout_form_post_is_303_to_stripe_with_tenant_and_tier_on_session_and_subscription(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor
) -> None:
    response = gateway.request(
        "POST", "/api/billing/create-checkout", headers={**key_for(tenant_a), **FORM}, body=b"tier=PRO"
    )
    assert response.status == HTTPStatus.SEE_OTHER
    assert response.headers["Location"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    [session] = billing.fake.checkout_sessions.values()
    [customer] = billing.fake.customers.values()
    assert customer["metadata"] == {"tenant_id": str(tenant_a)}
    assert (session["customer"], session["mode"], session["client_reference_id"]) == (
        customer["id"],
        "subscription",
        str(tenant_a),
    )
    assert session["metadata"] == session["_subscription_metadata"] == {"tenant_id": str(tenant_a), "tier": "PRO"}
    assert session["_price"] == PRICES["PRO"]
    assert session["success_url"] == "https://app.viral-dashboard.test/dashboard?success=true&tier=PRO"
    assert state_of(tenant_a).customer_id == customer["id"]


def test_checkout_answers_json_to_api_clients_and_reuses_the_customer(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor
) -> None:
    first = gateway.request("POST", "/api/billing/create-checkout", headers=key_for(tenant_a), json={"tier": "starter"})
    second = gateway.request("POST", "/api/billing/create-checkout", headers=key_for(tenant_a), json={"tier": "AGENCY"})
    assert first.status == second.status == HTTPStatus.OK
    assert first.json()["url"].startswith("https://checkout.stripe.com/")
    assert first.json()["sessionId"] in billing.fake.checkout_sessions
    assert billing.fake.count("POST", "/v1/customers") == 1
    assert {s["customer"] for s in billing.fake.checkout_sessions.values()} == {state_of(tenant_a).customer_id}


@pytest.mark.parametrize("body", [{"tier": "GOLD"}, {"tier": "FREE"}, {}, {"tier": 3}])
def test_checkout_with_an_invalid_tier_is_422_and_calls_no_stripe(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor, body: dict[str, Any]
) -> None:
    response = gateway.request("POST", "/api/billing/create-checkout", headers=key_for(tenant_a), json=body)
    assert response.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["error"] == "Validation failed"
    assert [d["field"] for d in response.json()["details"]] == ["tier"]
    assert billing.fake.requests == []


def test_portal_is_303_to_stripe_for_the_tenant_customer(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor
) -> None:
    response = gateway.request("POST", "/api/billing/create-portal", headers={**key_for(tenant_a), **FORM})
    assert response.status == HTTPStatus.SEE_OTHER
    [portal] = billing.fake.portal_sessions.values()
    assert response.headers["Location"] == portal["url"]
    assert portal["customer"] == state_of(tenant_a).customer_id
    assert portal["return_url"] == "https://app.viral-dashboard.test/dashboard/billing"


def test_billing_needs_the_admin_scope(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor
) -> None:
    headers = key_for(tenant_a, "read", "write")
    for path in ("/api/billing/create-checkout", "/api/billing/create-portal"):
        response = gateway.request("POST", path, headers=headers, json={"tier": "PRO"})
        assert response.status == HTTPStatus.FORBIDDEN
    assert billing.fake.requests == []


def test_stripe_rate_limit_is_a_503_and_a_5xx_is_retried_by_the_client(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor
) -> None:
    billing.fake.rate_limit("/v1/checkout/sessions")
    limited = gateway.request("POST", "/api/billing/create-checkout", headers=key_for(tenant_a), json={"tier": "PRO"})
    assert limited.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert limited.json()["code"] == "RETRYABLE"
    assert "sk_test" not in limited.body.decode()
    billing.fake.fail("/v1/checkout/sessions", times=1)
    retried = gateway.request("POST", "/api/billing/create-checkout", headers=key_for(tenant_a), json={"tier": "PRO"})
    assert retried.status == HTTPStatus.OK
    assert billing.fake.count("POST", "/v1/checkout/sessions") == 3  # 429, then 500 and its retry


def test_a_stripe_refusal_is_a_502_that_names_no_secret(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_PRICE_PRO", "price_deleted_at_stripe")
    get_settings.cache_clear()
    response = gateway.request("POST", "/api/billing/create-checkout", headers=key_for(tenant_a), json={"tier": "PRO"})
    assert response.status == HTTPStatus.BAD_GATEWAY
    assert "resource_missing" in response.json()["error"]


def test_checkout_without_stripe_configured_is_503(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRIPE_SECRET_KEY")
    get_settings.cache_clear()
    response = gateway.request("POST", "/api/billing/create-checkout", headers=key_for(tenant_a), json={"tier": "PRO"})
    assert response.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["code"] == "BILLING_NOT_CONFIGURED"


def test_a_subscribed_tenant_is_sent_to_the_portal_instead_of_a_second_checkout(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor
) -> None:
    subscription = subscribe(billing, tenant_a)
    billing.deliver_all(gateway, billing.fake.event("customer.subscription.created", subscription, created=JAN))
    response = gateway.request("POST", "/api/billing/create-checkout", headers=key_for(tenant_a), json={"tier": "PRO"})
    assert response.status == HTTPStatus.CONFLICT
    assert billing.fake.checkout_sessions == {}


# --- a purchase, end to end ---------------------------------------------------------------------------------


def test_after_checkout_completed_the_plan_quotas_and_period_show_in_usage(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor, owner_engine: Engine
) -> None:
    headers = key_for(tenant_a)
    set_used(owner_engine, tenant_a, 7)
    checkout = gateway.request("POST", "/api/billing/create-checkout", headers=headers, json={"tier": "PRO"}).json()
    now = int(time.time())
    events = billing.fake.complete_checkout(checkout["sessionId"], now=now)
    billing.deliver_all(gateway, *events)
    usage = gateway.request("GET", "/api/user/usage", headers=headers).json()
    period_end = datetime.fromtimestamp(now + 30 * DAY, UTC).isoformat()
    assert usage["subscription"]["tier"] == "PRO"
    assert usage["subscription"]["status"] == "active"
    assert usage["quota"] == {"total": 50, "used": 0, "remaining": 50, "percentage": "0.0", "resetAt": period_end}
    assert usage["plan"]["limits"]["conceptsPerMonth"] == 50
    assert usage["plan"]["limits"]["apiRateLimit"] == {"requests": 30, "windowSeconds": 10}
    assert usage["period"] == {
        "start": datetime.fromtimestamp(now, UTC).isoformat(),
        "end": period_end,
        "source": "stripe",
    }
    assert usage["tenant"] == {"id": str(tenant_a)}
    state = state_of(tenant_a)
    assert state.subscription_id == billing.fake.checkout_sessions[checkout["sessionId"]]["subscription"]
    assert all(webhook_row(owner_engine, e["id"]).status == "processed" for e in events)


def test_the_sample_webhook_event_is_accepted_when_signed(
    billing: Billing, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    event = load_event("apigw_stripe_webhook")
    raw = base64.b64decode(event["body"])
    now = int(time.time())
    event["headers"]["Stripe-Signature"] = sign(raw, WEBHOOK_SECRET, now)
    response = load_handler("stripe_webhook").lambda_handler(event, LambdaContext())
    assert response["statusCode"] == HTTPStatus.OK
    assert json.loads(response["body"]) == {"received": True, "status": "queued"}
    assert webhook_row(owner_engine, json.loads(raw)["id"]).status == "received"
    [record] = billing.drain()
    assert json.loads(record["body"])["eventId"] == json.loads(raw)["id"]


# --- signatures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how", ["wrong secret", "missing header", "stale timestamp", "tampered body", "garbage header", "future timestamp"]
)
def test_a_bad_missing_or_stale_signature_is_400_and_changes_nothing(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine, how: str
) -> None:
    event = billing.fake.event("customer.subscription.created", subscribe(billing, tenant_a))
    body = json.dumps(event).encode()
    now = int(time.time())
    signature = {
        "wrong secret": sign(body, "whsec_someone_else", now),
        "missing header": "",
        "stale timestamp": sign(body, WEBHOOK_SECRET, now - 301),
        "tampered body": sign(body.replace(b"active", b"trialing"), WEBHOOK_SECRET, now),
        "garbage header": "v1=abc",
        "future timestamp": sign(body, WEBHOOK_SECRET, now + 3600),
    }[how]
    before = state_of(tenant_a)
    response = billing.deliver(gateway, event, signature=signature)
    assert response.status == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "INVALID_SIGNATURE"
    assert webhook_row(owner_engine, event["id"]) is None
    assert billing.drain() == []
    assert state_of(tenant_a) == before


def test_without_a_webhook_secret_every_delivery_is_refused(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = billing.fake.event("customer.subscription.created", subscribe(billing, tenant_a))
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "")
    get_settings.cache_clear()
    response = billing.deliver(gateway, event)
    assert response.status == HTTPStatus.SERVICE_UNAVAILABLE  # Stripe retries until it is configured
    assert response.json()["code"] == "WEBHOOK_NOT_CONFIGURED"
    assert webhook_row(owner_engine, event["id"]) is None
    assert billing.drain() == []


def test_event_types_outside_the_allow_list_are_acknowledged_and_not_recorded(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    event = billing.fake.event("customer.created", {"id": "cus_other", "object": "customer"})
    response = billing.deliver(gateway, event)
    assert (response.status, response.json()) == (HTTPStatus.OK, {"received": True, "status": "ignored"})
    assert webhook_row(owner_engine, event["id"]) is None
    assert billing.drain() == []


def test_recording_a_delivery_takes_two_statements(billing: Billing, tenant_a: uuid.UUID) -> None:
    from sqlalchemy import event as sa_event
    from viral.db.engine import get_engine

    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event = billing.fake.event("customer.subscription.created", subscribe(billing, tenant_a))
    body = json.dumps(event).encode()
    sa_event.listen(get_engine(), "before_cursor_execute", record)
    try:
        receipt = receive_stripe_webhook(body, {"Stripe-Signature": sign(body, WEBHOOK_SECRET)})
    finally:
        sa_event.remove(get_engine(), "before_cursor_execute", record)
    assert receipt.status == "queued"
    assert len(statements) == 2, statements  # switch role (and commit without waiting for the flush), insert


@pytest.mark.parametrize("breakage", ["overlong id", "no object", "not json"])
def test_a_signed_but_unreadable_event_is_400_and_not_recorded(
    billing: Billing, gateway: Gateway, owner_engine: Engine, breakage: str
) -> None:
    event = billing.fake.event("customer.subscription.updated", {"id": "sub_x", "status": "active"})
    if breakage == "overlong id":
        event["data"]["object"]["customer"] = "cus_" + "x" * 300
    elif breakage == "no object":
        del event["data"]
    body = b"{not json" if breakage == "not json" else json.dumps(event).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, WEBHOOK_SECRET)}
    response = gateway.request("POST", "/api/webhooks/stripe", headers=headers, body=body)
    assert response.status == HTTPStatus.BAD_REQUEST
    assert response.json()["code"] == "VALIDATION_FAILED"
    assert webhook_row(owner_engine, event["id"]) is None
    assert billing.drain() == []


# --- exactly once ---------------------------------------------------------------------------------------------


def test_the_same_event_twice_is_applied_once(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    subscription = subscribe(billing, tenant_a)
    event = billing.fake.event("customer.subscription.created", subscription, created=JAN)
    first, again = billing.deliver(gateway, event), billing.deliver(gateway, event)
    # Not settled yet: the second copy is queued too (a lost send must never lose the event); applied once.
    assert (first.json()["status"], again.json()["status"]) == ("queued", "queued")
    records = billing.drain()
    assert len(records) == 2
    assert billing.work(records) == {"batchItemFailures": []}
    assert state_of(tenant_a).tier == "PRO"
    assert billing.deliver(gateway, event).json()["status"] == "duplicate"  # settled: nothing more is sent
    # SQS delivers at least once: the same message again changes nothing, even after the state moved on.
    with unit_of_work(tenant_a) as uow:
        uow.repository(BillingRepository).apply({"subscription_tier": "AGENCY", "monthly_quota": 500})
    assert billing.work(records) == {"batchItemFailures": []}
    assert state_of(tenant_a).tier == "AGENCY"
    assert webhook_row(owner_engine, event["id"]) == ("processed", tenant_a)


@pytest.fixture
def separate_connections(monkeypatch: pytest.MonkeyPatch, database_url: object) -> Iterator[None]:
    """One connection per unit of work (NullPool), so threads really run at the same time in the database."""
    monkeypatch.setenv("DB_POOL_MODE", "null")
    get_settings.cache_clear()
    reset_engine()
    yield
    monkeypatch.delenv("DB_POOL_MODE")
    get_settings.cache_clear()
    reset_engine()


def at_once(count: int, call: Callable[[], Any]) -> list[Any]:
    """Run `call` in `count` threads released together; their results (or exceptions)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as error:
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_deliveries_at_once_are_recorded_once_and_applied_once(
    billing: Billing, tenant_a: uuid.UUID, owner_engine: Engine, separate_connections: None
) -> None:
    subscription = subscribe(billing, tenant_a)
    set_used(owner_engine, tenant_a, 9)
    invoice = billing.fake.invoice(subscription["id"], reason="subscription_create")
    event = billing.fake.event("invoice.paid", invoice, created=JAN)
    body = json.dumps(event).encode()
    headers = {"Stripe-Signature": sign(body, WEBHOOK_SECRET)}
    receipts = at_once(4, lambda: receive_stripe_webhook(body, headers))
    assert {r.status for r in receipts} == {"queued"}  # none settled yet: each copy goes on the queue
    assert len(rows_of_event(owner_engine, event["id"])) == 1  # recorded once
    assert 1 <= len(billing.drain()) <= 4
    message = parse_stripe_event(event)
    outcomes = at_once(4, lambda: apply_stripe_event(message))
    assert sorted(outcomes) == ["duplicate", "duplicate", "duplicate", "processed"]
    assert state_of(tenant_a).used_quota == 0
    assert webhook_row(owner_engine, event["id"]).status == "processed"
    assert receive_stripe_webhook(body, headers).status == "duplicate"  # settled: a redelivery sends nothing


def rows_of_event(owner_engine: Engine, event_id: str) -> list[Any]:
    with owner_engine.connect() as connection:
        return list(connection.execute(text("select id from webhook_events where event_id = :e"), {"e": event_id}))


def test_a_delivery_whose_send_failed_is_sent_again_when_stripe_retries(
    billing: Billing, tenant_a: uuid.UUID, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from viral.billing import service

    event = billing.fake.event("customer.subscription.created", subscribe(billing, tenant_a))
    body = json.dumps(event).encode()
    headers = {"Stripe-Signature": sign(body, WEBHOOK_SECRET)}
    real_send = service.send

    def down(*_args: Any, **_kwargs: Any) -> str:
        raise Retryable("the queue is unreachable")

    monkeypatch.setattr(service, "send", down)
    with pytest.raises(Retryable):
        receive_stripe_webhook(body, headers)  # recorded, not sent: Stripe gets a 5xx and retries
    monkeypatch.setattr(service, "send", real_send)
    assert receive_stripe_webhook(body, headers).status == "queued"
    [record] = billing.drain()
    assert json.loads(record["body"])["eventId"] == event["id"]


# --- order and lateness -------------------------------------------------------------------------------------


def test_a_subscription_update_older_than_the_applied_state_is_ignored(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    subscription = subscribe(billing, tenant_a, "STARTER")
    older = billing.fake.event("customer.subscription.updated", subscription, created=JAN + 100)
    subscription["items"]["data"][0]["price"]["id"] = PRICES["PRO"]
    newer = billing.fake.event("customer.subscription.updated", subscription, created=JAN + 200)
    billing.deliver_all(gateway, newer, older)  # delivered out of order
    state = state_of(tenant_a)
    assert (state.tier, state.monthly_quota) == ("PRO", 50)
    assert state.stripe_state_at == datetime.fromtimestamp(JAN + 200, UTC)
    assert webhook_row(owner_engine, older["id"]).status == "ignored"


def test_payment_failure_moves_to_past_due_and_cancellation_to_free(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor
) -> None:
    subscription = subscribe(billing, tenant_a, "AGENCY")
    billing.deliver_all(gateway, billing.fake.event("customer.subscription.created", subscription, created=JAN))
    failed = billing.fake.invoice(subscription["id"], reason="subscription_cycle", status="open")
    billing.deliver_all(gateway, billing.fake.event("invoice.payment_failed", failed, created=JAN + 30 * DAY))
    usage = gateway.request("GET", "/api/user/usage", headers=key_for(tenant_a)).json()
    assert usage["subscription"] == {"tier": "AGENCY", "status": "past_due", "cancelAtPeriodEnd": False}
    subscription["status"] = "canceled"
    billing.deliver_all(
        gateway, billing.fake.event("customer.subscription.deleted", subscription, created=JAN + 40 * DAY)
    )
    usage = gateway.request("GET", "/api/user/usage", headers=key_for(tenant_a)).json()
    assert usage["subscription"]["tier"] == "FREE"
    assert usage["subscription"]["status"] == "canceled"
    assert (usage["quota"]["total"], usage["period"]["source"]) == (10, "monthly")
    assert state_of(tenant_a).subscription_id is None


def test_a_late_payment_failure_does_not_undo_a_newer_recovery(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID
) -> None:
    subscription = subscribe(billing, tenant_a)
    billing.deliver_all(gateway, billing.fake.event("customer.subscription.updated", subscription, created=JAN + 500))
    failed = billing.fake.invoice(subscription["id"], reason="subscription_cycle", status="open")
    billing.deliver_all(gateway, billing.fake.event("invoice.payment_failed", failed, created=JAN + 400))
    assert state_of(tenant_a).status == "active"


def test_invoice_paid_resets_the_quota_once_per_period(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    subscription = subscribe(billing, tenant_a)
    first = billing.fake.invoice(subscription["id"], reason="subscription_create")
    billing.deliver_all(gateway, billing.fake.event("invoice.paid", first, created=JAN))
    set_used(owner_engine, tenant_a, 40)
    with owner_engine.begin() as connection:
        connection.execute(text("update tenants set used_video_quota = 2 where id = :t"), {"t": tenant_a})
    billing.fake.renew(subscription["id"], at=JAN + 30 * DAY)
    renewal = billing.fake.invoice(subscription["id"], reason="subscription_cycle")
    billing.deliver_all(gateway, billing.fake.event("invoice.paid", renewal, created=JAN + 30 * DAY))
    state = state_of(tenant_a)
    assert (state.used_quota, state.quota_period_start) == (0, datetime.fromtimestamp(JAN + 30 * DAY, UTC))
    assert state.quota_reset_at == datetime.fromtimestamp(JAN + 60 * DAY, UTC)
    assert state.used_video_quota == 0, "the video quota renews with the period too"
    set_used(owner_engine, tenant_a, 12)
    # Another paid invoice of the same period, and the first period's invoice arriving late: no reset.
    billing.deliver_all(
        gateway,
        billing.fake.event("invoice.paid", renewal, created=JAN + 30 * DAY + 60),
        billing.fake.event("invoice.paid", first, created=JAN + 1),
    )
    assert state_of(tenant_a).used_quota == 12


def test_old_api_field_locations_are_read(billing: Billing, gateway: Gateway, tenant_a: uuid.UUID) -> None:
    """Before API version 2025-03-31: the period on the subscription, the subscription on the invoice."""
    subscription_id = f"sub_legacy_{uuid.uuid4().hex[:8]}"
    names = {"tenant_id": str(tenant_a), "tier": "PRO"}
    updated = load_event("stripe_event_customer_subscription_updated_legacy")
    updated["data"]["object"].update(id=subscription_id, metadata=names)
    updated["data"]["object"]["items"]["data"][0]["price"]["id"] = PRICES["PRO"]
    paid = load_event("stripe_event_invoice_paid_legacy")
    paid["data"]["object"].update(subscription=subscription_id, subscription_details={"metadata": names})
    for event in (updated, paid):
        event["id"] += uuid.uuid4().hex[:8]
    billing.deliver_all(gateway, updated, paid)
    state = state_of(tenant_a)
    assert (state.tier, state.subscription_id, state.used_quota) == ("PRO", subscription_id, 0)
    assert state.billing_period_end == state.quota_reset_at == datetime(2025, 12, 24, 16, 0, tzinfo=UTC)


def test_events_of_an_unknown_customer_are_settled_as_ignored(
    billing: Billing, gateway: Gateway, owner_engine: Engine
) -> None:
    stranger = billing.fake.add_subscription(customer="cus_unknown", price=PRICES["PRO"], metadata={}, start=JAN)
    event = billing.fake.event("customer.subscription.created", stranger, created=JAN)
    billing.deliver_all(gateway, event)
    assert webhook_row(owner_engine, event["id"]) == ("ignored", None)


def test_a_bad_record_fails_alone(billing: Billing, gateway: Gateway, tenant_a: uuid.UUID) -> None:
    event = billing.fake.event("customer.subscription.created", subscribe(billing, tenant_a), created=JAN)
    assert billing.deliver(gateway, event).status == HTTPStatus.OK
    [record] = billing.drain()
    poison = {**record, "messageId": "poison-1", "body": '{"schemaVersion": 99, "kind": "stripe-event"}'}
    assert billing.work([poison, record]) == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    assert state_of(tenant_a).tier == "PRO"


# --- tenant isolation -----------------------------------------------------------------------------------------


def test_tenant_b_can_neither_see_nor_trigger_tenant_a_billing(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, key_for: KeyFor
) -> None:
    a_checkout = gateway.request(
        "POST", "/api/billing/create-checkout", headers=key_for(tenant_a), json={"tier": "PRO"}
    )
    b_portal = gateway.request("POST", "/api/billing/create-portal", headers=key_for(tenant_b))
    customer_a, customer_b = state_of(tenant_a).customer_id, state_of(tenant_b).customer_id
    assert customer_a and customer_b and customer_a != customer_b
    assert [p["customer"] for p in billing.fake.portal_sessions.values()] == [customer_b]
    assert b_portal.json()["url"] != a_checkout.json()["url"]
    # A's purchase changes A only; an event naming A but carrying B's customer changes nothing.
    billing.deliver_all(gateway, *billing.fake.complete_checkout(a_checkout.json()["sessionId"]))
    forged = billing.fake.add_subscription(
        customer=customer_b, price=PRICES["AGENCY"], metadata={"tenant_id": str(tenant_a)}, start=JAN
    )
    billing.deliver_all(gateway, billing.fake.event("customer.subscription.updated", forged))
    b_usage = gateway.request("GET", "/api/user/usage", headers=key_for(tenant_b)).json()
    a_usage = gateway.request("GET", "/api/user/usage", headers=key_for(tenant_a)).json()
    assert (b_usage["tenant"]["id"], b_usage["subscription"]["tier"]) == (str(tenant_b), "FREE")
    assert (a_usage["tenant"]["id"], a_usage["subscription"]["tier"]) == (str(tenant_a), "PRO")


def test_billing_repository_of_b_cannot_read_or_change_a(tenant_a: uuid.UUID, tenant_b: uuid.UUID) -> None:
    with unit_of_work(tenant_b) as uow:
        intruder = BillingRepository(uow.session, tenant_a)
        assert intruder.state() is None
        intruder.apply({"subscription_tier": "AGENCY", "monthly_quota": 500})
        assert intruder.attach_customer("cus_stolen") is None
    state = state_of(tenant_a)
    assert (state.tier, state.customer_id) == ("FREE", None)


def test_billing_refuses_an_organisation_member_session(billing: Billing, gateway: Gateway) -> None:
    gateway.configure(CLERK_JWT_KEY=key_pair()[1], CLERK_AUTHORIZED_PARTIES=DASHBOARD_ORIGIN)
    org = f"org_{uuid.uuid4().hex[:8]}"
    member = session_token(f"user_{uuid.uuid4().hex[:8]}", o={"id": org, "slg": "studio", "rol": "member"})
    response = gateway.request("POST", "/api/billing/create-portal", headers={"Authorization": f"Bearer {member}"})
    assert response.status == HTTPStatus.FORBIDDEN
    assert billing.fake.requests == []


def test_account_repository_of_b_cannot_remove_or_join_a(tenant_a: uuid.UUID, tenant_b: uuid.UUID) -> None:
    from viral.billing.repository import AccountRepository
    from viral.errors import Forbidden

    with unit_of_work(tenant_b) as uow:
        intruder = AccountRepository(uow.session, tenant_a)
        assert intruder.remove_tenant() is False
        assert intruder.remove_member("user_anyone") == 0
    with pytest.raises(Forbidden), unit_of_work(tenant_b) as uow:
        AccountRepository(uow.session, tenant_a).upsert_member(
            clerk_user_id="user_intruder", email=None, name=None, image_url=None, role="ADMIN", updated_at=None
        )
    assert state_of(tenant_a).name == "Tenant A"


def test_stripe_secrets_can_come_from_secrets_manager(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities import parameters

    name = f"viral/stripe-{uuid.uuid4().hex[:6]}"
    stored = {"secretKey": billing.fake.api_key, "webhookSecret": WEBHOOK_SECRET}
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(stored))
    monkeypatch.delenv("STRIPE_SECRET_KEY")
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    monkeypatch.setenv("STRIPE_SECRET_NAME", name)
    get_settings.cache_clear()
    parameters.clear_caches()
    checkout = gateway.request("POST", "/api/billing/create-checkout", headers=key_for(tenant_a), json={"tier": "PRO"})
    assert checkout.status == HTTPStatus.OK
    event = billing.fake.event("customer.subscription.created", subscribe(billing, tenant_a), created=JAN)
    assert billing.deliver(gateway, event).json()["status"] == "queued"
    assert billing.deliver(gateway, event, secret="whsec_not_the_stored_one").status == HTTPStatus.BAD_REQUEST


# --- reconciliation and the monthly reset ---------------------------------------------------------------------


def test_reconciliation_repairs_drift_from_stripe(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    paying = subscribe(billing, tenant_a, "PRO")
    gone = subscribe(billing, tenant_b, "STARTER")
    billing.deliver_all(
        gateway,
        billing.fake.event("customer.subscription.created", paying, created=JAN),
        billing.fake.event("customer.subscription.created", gone, created=JAN),
    )
    # Drift: a lost upgrade for A (Stripe says AGENCY), a lost cancellation for B (Stripe no longer has it).
    paying["items"]["data"][0]["price"]["id"] = PRICES["AGENCY"]
    del billing.fake.subscriptions[gone["id"]]
    answer = load_handler("billing_reconcile").lambda_handler(load_event("schedule_billing_reconcile"), LambdaContext())
    assert answer["failed"] == {}
    records = [r for r in billing.drain() if json.loads(r["body"])["tenantId"] in (str(tenant_a), str(tenant_b))]
    assert len(records) == 2
    assert billing.work(records) == {"batchItemFailures": []}
    a, b = state_of(tenant_a), state_of(tenant_b)
    assert (a.tier, a.monthly_quota, a.status) == ("AGENCY", 500, "active")
    assert (b.tier, b.monthly_quota, b.subscription_id) == ("FREE", 10, None)


def test_reconciliation_when_stripe_is_down_fails_that_record_alone(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID
) -> None:
    down, fine = subscribe(billing, tenant_a), subscribe(billing, tenant_b)
    billing.deliver_all(
        gateway,
        billing.fake.event("customer.subscription.created", down, created=JAN),
        billing.fake.event("customer.subscription.created", fine, created=JAN),
    )
    load_handler("billing_reconcile").lambda_handler(load_event("schedule_billing_reconcile"), LambdaContext())
    records = {json.loads(r["body"])["tenantId"]: r for r in billing.drain()}
    billing.fake.rate_limit(f"/v1/subscriptions/{down['id']}")
    answer = billing.work([records[str(tenant_a)], records[str(tenant_b)]])
    assert answer == {"batchItemFailures": [{"itemIdentifier": records[str(tenant_a)]["messageId"]}]}


def test_monthly_reset_only_for_tenants_without_a_stripe_period(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    billing.deliver_all(gateway, billing.fake.event("customer.subscription.created", subscribe(billing, tenant_b)))
    past = datetime.now(UTC) - timedelta(hours=1)
    with owner_engine.begin() as connection:
        connection.execute(
            text("update tenants set used_quota = 7, quota_reset_at = :past where id in (:a, :b)"),
            {"past": past, "a": tenant_a, "b": tenant_b},
        )
    handler = load_handler("billing_reconcile").lambda_handler
    first = handler(load_event("schedule_billing_reset_quotas"), LambdaContext())
    again = handler(load_event("schedule_billing_reset_quotas"), LambdaContext())
    assert first["failed"] == again["failed"] == {}
    a, b = state_of(tenant_a), state_of(tenant_b)
    assert a.used_quota == 0
    assert a.quota_reset_at > datetime.now(UTC) + timedelta(days=29)
    assert (b.used_quota, b.quota_reset_at) == (7, past)  # paying: Stripe's invoice.paid resets it


def test_a_reconcile_message_sample_parses(billing: Billing) -> None:
    record = load_event("sqs_billing_reconcile_v1")["Records"][0]
    answer = billing.work([record])  # the sample's tenant does not exist: skipped, acknowledged
    assert answer == {"batchItemFailures": []}
    sample = load_event("sqs_billing_stripe_event_v1")["Records"][0]
    assert StripeEventMessage.model_validate_json(sample["body"]).checkout is not None


def test_metadata_naming_another_tenant_than_the_customers_owner_is_ignored(
    billing: Billing, gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID
) -> None:
    """A subscription of A's customer whose metadata names B (made outside our Checkout) upgrades nobody."""
    subscription = subscribe(billing, tenant_a, "PRO")
    subscription["metadata"] = {"tenant_id": str(tenant_b), "tier": "AGENCY"}
    billing.deliver_all(gateway, billing.fake.event("customer.subscription.updated", subscription, created=JAN + 10))
    assert (state_of(tenant_a).tier, state_of(tenant_b).tier) == ("FREE", "FREE")

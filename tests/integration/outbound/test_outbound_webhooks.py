"""Outbound webhooks through the real API, outbox, dispatcher and delivery function, to a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

import pytest
from sqlalchemy import Engine, text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from viral.db.uow import unit_of_work
from viral.identity import auth
from viral.outbound.delivery import MAX_ATTEMPTS, dispatch
from viral.outbound.events import emit
from viral.outbound.repository import OutboxRepository
from viral.outbound.safety import use_resolver
from viral.outbound.sender import signed_headers
from viral.tenancy import tenant_scope

from local.fakes.http_server import Reply
from tests.events import LambdaContext, load_handler
from tests.fakes.webhooks import FixedResolver, Receiver, WebhookQueue, webhook_queue
from tests.gateway import Gateway

BASE = "/api/webhook-endpoints"


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch, database_url: object) -> Iterator[WebhookQueue]:
    with webhook_queue(monkeypatch) as found:
        yield found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver().running() as running:
        yield running


@pytest.fixture
def worker() -> Any:
    return load_handler("webhook_delivery").lambda_handler


def key_of(tenant: uuid.UUID, *scopes: str) -> dict[str, str]:
    with tenant_scope(tenant):
        secret = auth.create_api_key(scopes=scopes or ("read", "write", "admin")).secret
    return {"Authorization": f"Bearer {secret}"}


def register(gateway: Gateway, headers: dict[str, str], url: str, *events: str) -> dict[str, Any]:
    answer = gateway.request(
        "POST", BASE, headers=headers, json={"url": url, "events": list(events or ["video.ready"])}
    )
    assert answer.status == HTTPStatus.CREATED, answer.body
    return dict(answer.json())


def emit_now(tenant: uuid.UUID, event_type: str = "video.ready", data: dict[str, Any] | None = None) -> uuid.UUID:
    with tenant_scope(tenant), unit_of_work() as uow:
        return emit(uow, event_type, data or {"videoId": "v-1"})


def set_tier(engine: Engine, tenant: uuid.UUID, tier: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("update tenants set subscription_tier = :tier where id = :t"), {"tier": tier, "t": tenant}
        )


# --- registration ----------------------------------------------------------------------------------------------


def test_registering_answers_201_with_the_secret_once_and_stores_it_sealed(
    gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    headers = key_of(tenant_a)
    created = register(gateway, headers, "http://127.0.0.1:9/hooks", "video.ready", "quota.low")
    listed = gateway.request("GET", BASE, headers=headers).json()["endpoints"]
    one = gateway.request("GET", f"{BASE}/{created['id']}", headers=headers).json()
    with owner_engine.connect() as connection:
        sealed = connection.execute(
            text("select secret_sealed from webhook_endpoints where id = :id"), {"id": created["id"]}
        ).scalar_one()
    assert created["secret"].startswith("whsec_")
    assert (created["url"], created["events"], created["status"]) == (
        "http://127.0.0.1:9/hooks",
        ["video.ready", "quota.low"],
        "enabled",
    )
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0] and "secret" not in one
    assert sealed.startswith("local:v1:") and created["secret"] not in sealed and created["secret"][6:] not in sealed


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"url": "http://127.0.0.1:9/x", "events": ["video.exploded"]}, HTTPStatus.UNPROCESSABLE_ENTITY),
        ({"url": "http://127.0.0.1:9/x", "events": []}, HTTPStatus.UNPROCESSABLE_ENTITY),
        ({"url": "http://127.0.0.1:9/x", "events": ["webhook.test"]}, HTTPStatus.UNPROCESSABLE_ENTITY),
        ({"events": ["video.ready"]}, HTTPStatus.UNPROCESSABLE_ENTITY),
        ({"url": "ftp://127.0.0.1/x", "events": ["video.ready"]}, HTTPStatus.UNPROCESSABLE_ENTITY),
        ({"url": "not a url", "events": ["video.ready"]}, HTTPStatus.UNPROCESSABLE_ENTITY),
        ({"url": "http://user:pw@127.0.0.1/x", "events": ["video.ready"]}, HTTPStatus.UNPROCESSABLE_ENTITY),
    ],
)
def test_invalid_registrations_are_clear_4xx(
    gateway: Gateway, tenant_a: uuid.UUID, body: dict[str, Any], status: HTTPStatus
) -> None:
    answer = gateway.request("POST", BASE, headers=key_of(tenant_a), json=body)
    assert answer.status == status
    assert answer.json()["code"] == "VALIDATION_FAILED"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7/hooks",
        "http://192.168.1.20/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.7]/hooks",
        "http://[fd00:ec2::254]/hooks",
        "http://100.64.0.1/hooks",
        "http://0.0.0.0:8080/hooks",
        "http://internal.example.test/hooks",  # resolves to a private address
    ],
)
def test_private_addresses_are_refused_at_registration(gateway: Gateway, tenant_a: uuid.UUID, url: str) -> None:
    resolver = FixedResolver({"internal.example.test": ["93.184.216.34", "10.20.30.40"]})
    with use_resolver(resolver):
        answer = gateway.request("POST", BASE, headers=key_of(tenant_a), json={"url": url, "events": ["video.ready"]})
    assert answer.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "private" in answer.json()["error"]


def test_changes_need_admin_and_reading_needs_read(gateway: Gateway, tenant_a: uuid.UUID) -> None:
    created = register(gateway, key_of(tenant_a), "http://127.0.0.1:9/hooks")
    writer = key_of(tenant_a, "read", "write", "generate")
    refused = [
        gateway.request("POST", BASE, headers=writer, json={"url": "http://127.0.0.1:9/a", "events": ["video.ready"]}),
        gateway.request("PATCH", f"{BASE}/{created['id']}", headers=writer, json={"events": ["quota.low"]}),
        gateway.request("DELETE", f"{BASE}/{created['id']}", headers=writer),
        gateway.request("POST", f"{BASE}/{created['id']}/rotate-secret", headers=writer),
        gateway.request("POST", f"{BASE}/{created['id']}/test", headers=writer),
    ]
    assert [r.status for r in refused] == [HTTPStatus.FORBIDDEN] * 5
    assert gateway.request("GET", BASE, headers=writer).status == HTTPStatus.OK
    assert gateway.request("GET", f"{BASE}/{created['id']}/deliveries", headers=writer).status == HTTPStatus.OK


def test_the_plan_limits_the_number_of_endpoints(gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    headers = key_of(tenant_a)
    register(gateway, headers, "http://127.0.0.1:9/one")
    over = gateway.request(
        "POST", BASE, headers=headers, json={"url": "http://127.0.0.1:9/two", "events": ["quota.low"]}
    )
    set_tier(owner_engine, tenant_a, "STARTER")
    register(gateway, headers, "http://127.0.0.1:9/two")
    assert over.status == HTTPStatus.TOO_MANY_REQUESTS
    assert over.json()["code"] == "QUOTA_EXCEEDED"
    assert len(gateway.request("GET", BASE, headers=headers).json()["endpoints"]) == 2


def test_patch_changes_only_what_is_given_and_delete_removes(gateway: Gateway, tenant_a: uuid.UUID) -> None:
    headers = key_of(tenant_a)
    created = register(gateway, headers, "http://127.0.0.1:9/hooks")
    target = f"{BASE}/{created['id']}"
    patched = gateway.request("PATCH", target, headers=headers, json={"events": ["quota.low"], "description": "ops"})
    refused = gateway.request("PATCH", target, headers=headers, json={"url": "http://10.1.1.1/hooks"})
    deleted = gateway.request("DELETE", target, headers=headers)
    assert patched.status == HTTPStatus.OK
    assert (patched.json()["url"], patched.json()["events"], patched.json()["description"]) == (
        "http://127.0.0.1:9/hooks",
        ["quota.low"],
        "ops",
    )
    assert refused.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert deleted.status == HTTPStatus.OK
    assert gateway.request("GET", target, headers=headers).status == HTTPStatus.NOT_FOUND


def test_a_malformed_endpoint_id_is_a_422(gateway: Gateway, tenant_a: uuid.UUID) -> None:
    answer = gateway.request("GET", f"{BASE}/not-a-uuid", headers=key_of(tenant_a))
    assert answer.status == HTTPStatus.UNPROCESSABLE_ENTITY


# --- delivery --------------------------------------------------------------------------------------------------


def test_a_test_event_arrives_signed_and_verifies_with_the_standard_webhooks_library(
    gateway: Gateway, tenant_a: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    headers = key_of(tenant_a)
    created = register(gateway, headers, receiver.url)
    tested = gateway.request("POST", f"{BASE}/{created['id']}/test", headers=headers)
    queue.run_until_idle(worker)

    assert tested.status == HTTPStatus.ACCEPTED
    [request] = receiver.requests
    [body] = receiver.verified(created["secret"])
    assert body["type"] == "webhook.test" and body["data"]["endpointId"] == created["id"]
    assert set(body) == {"type", "timestamp", "data"}
    assert request.headers["webhook-id"] == tested.json()["webhookId"]
    assert request.headers["webhook-signature"].startswith("v1,")
    tampered = request.body.replace(b"webhook.test", b"webhook.tent")
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(tampered, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(request.body, request.headers)
    # The same request replayed ten minutes later: correctly signed for its old timestamp, and refused.
    old = signed_headers(
        request.headers["webhook-id"], request.body, [created["secret"]], now=datetime.now(UTC) - timedelta(minutes=10)
    )
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(created["secret"]).verify(request.body, old)


def test_a_receiver_failing_twice_gets_the_event_three_times_with_one_webhook_id(
    gateway: Gateway, tenant_a: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    headers = key_of(tenant_a)
    created = register(gateway, headers, receiver.url, "video.ready")
    receiver.script(500, Reply(500, b"busy"), 200)
    emit_now(tenant_a, "video.ready", {"videoId": "v-42"})
    queue.run_until_idle(worker)

    ids = {r.headers["webhook-id"] for r in receiver.requests}
    bodies = receiver.verified(created["secret"])
    attempts = gateway.request("GET", f"{BASE}/{created['id']}/deliveries", headers=headers).json()["attempts"]
    assert len(receiver.requests) == 3 and len(ids) == 1
    assert [b["data"] for b in bodies] == [{"videoId": "v-42"}] * 3
    assert [(a["attempt"], a["statusCode"]) for a in attempts] == [(3, 200), (2, 500), (1, 500)]
    assert attempts[0]["nextRetryAt"] is None and attempts[1]["nextRetryAt"] is not None
    assert attempts[1]["responseBody"] == "busy" and attempts[1]["error"] == "HTTP 500"
    assert {a["deliveryStatus"] for a in attempts} == {"succeeded"}
    assert attempts[0]["webhookId"] == ids.pop()


def test_a_rolled_back_change_sends_nothing(
    tenant_a: uuid.UUID, gateway: Gateway, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    register(gateway, key_of(tenant_a), receiver.url, "video.ready")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), tenant_scope(tenant_a), unit_of_work() as uow:
        emit(uow, "video.ready", {"videoId": "rolled-back"})
        raise Boom
    nudges = queue.bodies()
    report = dispatch(tenant_a)
    queue.run_until_idle(worker)
    with tenant_scope(tenant_a), unit_of_work() as uow:
        recorded = uow.repository(OutboxRepository).types()
    assert nudges == []
    assert (report.events, report.deliveries) == (0, 0)
    assert receiver.requests == []
    assert recorded == []


def test_a_duplicate_attempt_message_posts_once(
    gateway: Gateway, tenant_a: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    register(gateway, key_of(tenant_a), receiver.url, "video.ready")
    emit_now(tenant_a)
    queue.run_until_idle(worker, rounds=1)  # the nudge: dispatch, which queues the first attempt
    [attempt] = queue.receive()
    worker({"Records": [attempt, {**attempt, "messageId": "copy"}]}, LambdaContext())
    worker({"Records": [attempt]}, LambdaContext())
    assert len(receiver.requests) == 1


def test_a_redirect_is_not_followed_and_a_long_answer_is_cut(
    gateway: Gateway, tenant_a: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    headers = key_of(tenant_a)
    created = register(gateway, headers, receiver.url, "video.ready")
    receiver.script(Reply(302, b"", {"Location": "http://169.254.169.254/"}), Reply(500, b"x" * 10_000), 200)
    emit_now(tenant_a)
    queue.run_until_idle(worker)
    attempts = gateway.request("GET", f"{BASE}/{created['id']}/deliveries", headers=headers).json()["attempts"]
    assert [(a["statusCode"], a["error"]) for a in reversed(attempts)] == [
        (302, "redirects are not followed"),
        (500, "HTTP 500"),
        (200, None),
    ]
    assert len(attempts[1]["responseBody"]) == 256
    assert len(receiver.requests) == 3


def test_a_slow_receiver_times_out_and_is_retried(
    gateway: Gateway, tenant_a: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any, monkeypatch: Any
) -> None:
    from viral.settings import get_settings

    monkeypatch.setenv("WEBHOOK_TIMEOUT_S", "0.3")
    get_settings.cache_clear()
    headers = key_of(tenant_a)
    created = register(gateway, headers, receiver.url, "video.ready")
    receiver.script(Reply(200, b"{}", delay_s=1.0), 200)
    emit_now(tenant_a)
    queue.run_until_idle(worker)
    attempts = gateway.request("GET", f"{BASE}/{created['id']}/deliveries", headers=headers).json()["attempts"]
    assert [(a["statusCode"], a["error"]) for a in reversed(attempts)] == [(None, "timed out after 0.3 s"), (200, None)]


def test_a_delivery_is_given_up_after_the_last_attempt(
    gateway: Gateway, tenant_a: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    headers = key_of(tenant_a)
    created = register(gateway, headers, receiver.url, "video.ready")
    receiver.script(503)
    emit_now(tenant_a)
    queue.run_until_idle(worker, rounds=100)
    attempts = gateway.request("GET", f"{BASE}/{created['id']}/deliveries", headers=headers).json()["attempts"]
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert attempts[0]["attempt"] == MAX_ATTEMPTS and attempts[0]["deliveryStatus"] == "failed"
    assert attempts[0]["nextRetryAt"] is None


def test_dns_rebinding_to_a_private_address_is_refused_at_delivery(
    gateway: Gateway, tenant_a: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    headers = key_of(tenant_a)
    resolver = FixedResolver({"hooks.example.test": ["93.184.216.34"]})
    url = f"http://hooks.example.test:{receiver.port}/hooks"
    with use_resolver(resolver):
        created = register(gateway, headers, url, "video.ready")  # public at registration
        resolver.answers["hooks.example.test"] = ["10.9.8.7"]  # private when it is time to deliver
        emit_now(tenant_a)
        queue.run_until_idle(worker, rounds=2)
        refused = gateway.request("GET", f"{BASE}/{created['id']}/deliveries", headers=headers).json()["attempts"]
        resolver.answers["hooks.example.test"] = ["127.0.0.1"]  # loopback is allowed in the test stage
        queue.run_until_idle(worker)
    delivered = receiver.verified(created["secret"])
    assert refused[0]["statusCode"] is None
    assert refused[0]["error"].startswith("refused:") and "private" in refused[0]["error"]
    assert len(delivered) == 1  # only once the name pointed somewhere allowed; the connection went where it said


def test_an_old_secret_keeps_signing_for_24_hours_after_a_rotation(
    gateway: Gateway, tenant_a: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any, owner_engine: Engine
) -> None:
    headers = key_of(tenant_a)
    created = register(gateway, headers, receiver.url, "video.ready")
    rotated = gateway.request("POST", f"{BASE}/{created['id']}/rotate-secret", headers=headers).json()
    emit_now(tenant_a)
    queue.run_until_idle(worker)
    with owner_engine.begin() as connection:
        connection.execute(
            text("update webhook_endpoints set previous_secret_expires_at = now() - interval '1 second' where id = :i"),
            {"i": created["id"]},
        )
    emit_now(tenant_a)
    queue.run_until_idle(worker)
    first, second = receiver.requests
    assert rotated["secret"] != created["secret"] and rotated["previousSecretExpiresAt"] is not None
    for secret in (created["secret"], rotated["secret"]):
        Webhook(secret).verify(first.body, first.headers)
    Webhook(rotated["secret"]).verify(second.body, second.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(second.body, second.headers)


def test_an_endpoint_failing_for_days_is_disabled_and_the_tenant_is_told(
    gateway: Gateway,
    tenant_a: uuid.UUID,
    queue: WebhookQueue,
    receiver: Receiver,
    worker: Any,
    owner_engine: Engine,
) -> None:
    set_tier(owner_engine, tenant_a, "PRO")
    headers = key_of(tenant_a)
    with Receiver().running() as watcher:
        failing = register(gateway, headers, receiver.url, "video.ready")
        told = register(gateway, headers, watcher.url, "endpoint.disabled")
        receiver.script(500)
        with owner_engine.begin() as connection:
            connection.execute(
                text("update webhook_endpoints set failing_since = now() - interval '6 days' where id = :i"),
                {"i": failing["id"]},
            )
        emit_now(tenant_a)
        queue.run_until_idle(worker)
        shown = gateway.request("GET", f"{BASE}/{failing['id']}", headers=headers).json()
        [notice] = watcher.verified(told["secret"])
    assert len(receiver.requests) == 1  # disabled at once: its pending retries are cancelled
    assert shown["status"] == "disabled" and "failed for 6 days" in shown["disabledReason"]
    assert notice["type"] == "endpoint.disabled" and notice["data"]["endpointId"] == failing["id"]
    enabled = gateway.request("PATCH", f"{BASE}/{failing['id']}", headers=headers, json={"enabled": True}).json()
    assert (enabled["status"], enabled["failingSince"], enabled["disabledReason"]) == ("enabled", None, None)


def test_a_success_clears_the_failure_count(
    gateway: Gateway, tenant_a: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    headers = key_of(tenant_a)
    created = register(gateway, headers, receiver.url, "video.ready")
    receiver.script(500, 200)
    emit_now(tenant_a)
    queue.run_until_idle(worker, rounds=2)  # dispatch, then the failed attempt
    failing = gateway.request("GET", f"{BASE}/{created['id']}", headers=headers).json()
    queue.run_until_idle(worker)
    healthy = gateway.request("GET", f"{BASE}/{created['id']}", headers=headers).json()
    assert failing["failingSince"] is not None
    assert healthy["failingSince"] is None and healthy["lastSuccessAt"] is not None


def test_the_schedule_finds_events_whose_nudge_was_lost(
    gateway: Gateway, tenant_a: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    from tests.events import load_event

    register(gateway, key_of(tenant_a), receiver.url, "video.ready")
    emit_now(tenant_a)
    queue.bodies()  # the nudge is lost
    answer = load_handler("webhook_dispatch").lambda_handler(load_event("schedule_webhook_dispatch"), LambdaContext())
    sent = queue.bodies()
    for body in sent:
        worker({"Records": [_record_of(body)]}, LambdaContext())
    queue.run_until_idle(worker)
    assert answer["tenants"] >= 1
    assert {"kind": "dispatch", "tenantId": str(tenant_a), "schemaVersion": 1} in sent
    assert len(receiver.requests) == 1


def _record_of(body: dict[str, Any]) -> dict[str, Any]:
    from tests.events import load_event

    record = load_event("sqs_webhook_dispatch_v1")["Records"][0]
    return {**record, "messageId": str(uuid.uuid4()), "body": json.dumps(body)}


# --- tenant isolation ------------------------------------------------------------------------------------------


def test_tenant_b_can_neither_see_nor_change_nor_test_tenant_a_endpoints(
    gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    created = register(gateway, key_of(tenant_a), receiver.url, "video.ready")
    b = key_of(tenant_b)
    target = f"{BASE}/{created['id']}"
    answers = {
        "get": gateway.request("GET", target, headers=b),
        "patch": gateway.request("PATCH", target, headers=b, json={"url": "http://127.0.0.1:9/stolen"}),
        "rotate": gateway.request("POST", f"{target}/rotate-secret", headers=b),
        "test": gateway.request("POST", f"{target}/test", headers=b),
        "deliveries": gateway.request("GET", f"{target}/deliveries", headers=b),
        "delete": gateway.request("DELETE", target, headers=b),
    }
    queue.run_until_idle(worker)
    assert {name: a.status for name, a in answers.items()} == dict.fromkeys(answers, HTTPStatus.NOT_FOUND)
    assert gateway.request("GET", BASE, headers=b).json() == {"endpoints": []}
    still = gateway.request("GET", target, headers=key_of(tenant_a)).json()
    assert still["url"] == receiver.url
    assert receiver.requests == []


def test_tenant_b_never_receives_tenant_a_events(
    gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, queue: WebhookQueue, worker: Any
) -> None:
    with Receiver().running() as a_receiver, Receiver().running() as b_receiver:
        a = register(gateway, key_of(tenant_a), a_receiver.url, "video.ready")
        register(gateway, key_of(tenant_b), b_receiver.url, "video.ready")
        emit_now(tenant_a, "video.ready", {"videoId": "a-only"})
        dispatch(tenant_b)
        queue.run_until_idle(worker)
        assert [b["data"] for b in a_receiver.verified(a["secret"])] == [{"videoId": "a-only"}]
        assert b_receiver.requests == []


def test_a_message_naming_another_tenant_touches_nothing(
    gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, queue: WebhookQueue, receiver: Receiver, worker: Any
) -> None:
    register(gateway, key_of(tenant_a), receiver.url, "video.ready")
    emit_now(tenant_a)
    [nudge] = queue.bodies()
    dispatch(tenant_a, settings=None)
    [attempt] = queue.bodies()
    forged = {**attempt, "tenantId": str(tenant_b)}
    answer = worker({"Records": [_record_of(forged)]}, LambdaContext())
    assert nudge["kind"] == "dispatch"
    assert answer == {"batchItemFailures": []}
    assert receiver.requests == []


def test_row_level_security_keeps_every_webhook_table_to_its_tenant(
    gateway: Gateway,
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    queue: WebhookQueue,
    receiver: Receiver,
    worker: Any,
    runtime_engine: Engine,
) -> None:
    from viral.outbound.repository import DeliveryRepository, EndpointRepository

    created = register(gateway, key_of(tenant_a), receiver.url, "video.ready")
    emit_now(tenant_a)
    queue.run_until_idle(worker)
    endpoint_id = uuid.UUID(created["id"])
    tables = ("webhook_endpoints", "outbound_events", "webhook_deliveries", "webhook_attempts")
    with runtime_engine.begin() as connection:
        connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant_b)})
        seen = {
            t: connection.execute(text(f"select count(*) from {t} where tenant_id = :a"), {"a": tenant_a}).scalar()
            for t in tables
        }
        changed = {
            t: connection.execute(
                text(f"update {t} set tenant_id = tenant_id where tenant_id = :a"), {"a": tenant_a}
            ).rowcount
            for t in tables
        }
    with tenant_scope(tenant_b), unit_of_work() as uow:
        endpoint = uow.repository(EndpointRepository).get(endpoint_id)
        attempts = uow.repository(DeliveryRepository).recent_attempts(endpoint_id, limit=10)
        pending = uow.repository(OutboxRepository).take_undispatched(10)
        updated = uow.repository(EndpointRepository).update(endpoint_id, url="http://127.0.0.1:9/stolen")
    assert seen == dict.fromkeys(tables, 0)
    assert changed == dict.fromkeys(tables, 0)
    assert (endpoint, attempts, pending, updated) == (None, [], [], None)
    with tenant_scope(tenant_a), unit_of_work() as uow:
        assert len(uow.repository(DeliveryRepository).recent_attempts(endpoint_id, limit=10)) == 1


def test_the_system_role_sees_who_has_work_waiting_but_no_content(tenant_a: uuid.UUID, database_url: object) -> None:
    from viral.db.uow import system_unit_of_work
    from viral.errors import Forbidden

    emit_now(tenant_a, "video.ready", {"videoId": "secret-content"})
    with system_unit_of_work() as system:
        waiting = system.session.execute(
            text("select tenant_id from outbound_events where dispatched_at is null and tenant_id = :t"),
            {"t": tenant_a},
        ).all()
    with pytest.raises(Forbidden), system_unit_of_work() as system:
        system.session.execute(text("select data from outbound_events limit 1"))
    with pytest.raises(Forbidden), system_unit_of_work() as system:
        system.session.execute(text("select url from webhook_endpoints limit 1"))
    assert waiting == [(tenant_a,)]

"""Clerk webhooks (Svix-signed) keep users and tenants in step, once per delivery, whatever the order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.identity.auth import CLERK_NAMESPACE
from viral.settings import get_settings

from tests.clerk import DASHBOARD_ORIGIN, key_pair, session_token
from tests.events import LambdaContext, load_event, load_handler
from tests.gateway import Answer, Gateway

SECRET = "whsec_" + base64.b64encode(b"clerk-test-signing-key-not-real!").decode()


def svix_headers(
    body: bytes, secret: str = SECRET, *, msg_id: str | None = None, ts: int | None = None
) -> dict[str, str]:
    """Svix's headers for `body`: v1,<base64 HMAC-SHA256(key, "<id>.<ts>.<body>")>, key = base64 part of the secret."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if ts is None else ts
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {"svix-id": msg_id, "svix-timestamp": str(ts), "svix-signature": f"v1,{base64.b64encode(digest).decode()}"}


@pytest.fixture
def clerk(monkeypatch: pytest.MonkeyPatch, database_url: object) -> Iterator[None]:
    monkeypatch.setenv("CLERK_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def send(gateway: Gateway, event: dict[str, Any], **signing: Any) -> Answer:
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", **svix_headers(body, **signing)}
    return gateway.request("POST", "/api/webhooks/clerk", headers=headers, body=body)


def user_event(kind: str, user_id: str, *, email: str = "ada@example.com", updated_at: int = 1_000) -> dict[str, Any]:
    event = load_event("clerk_event_user_created")
    event["type"] = f"user.{kind}"
    event["data"].update(id=user_id, updated_at=updated_at)
    event["data"]["email_addresses"][1]["email_address"] = email
    return event


def org_event(kind: str, org_id: str, *, name: str = "Sample Studio", updated_at: int = 1_000) -> dict[str, Any]:
    event = load_event("clerk_event_organization_created")
    event["type"] = f"organization.{kind}"
    event["data"].update(id=org_id, name=name, updated_at=updated_at)
    return event


def membership_event(kind: str, org_id: str, user_id: str, *, role: str = "org:admin") -> dict[str, Any]:
    event = load_event("clerk_event_organization_membership_created")
    event["type"] = f"organizationMembership.{kind}"
    # One membership id per (organisation, user), as Clerk keeps it for the membership's life.
    event["data"]["id"] = "orgmem_" + hashlib.sha256(f"{org_id}:{user_id}".encode()).hexdigest()[:16]
    event["data"]["organization"]["id"] = org_id
    event["data"]["public_user_data"]["user_id"] = user_id
    event["data"]["role"] = role
    return event


def personal(user_id: str) -> uuid.UUID:
    return uuid.uuid5(CLERK_NAMESPACE, f"user:{user_id}")


def organisation(org_id: str) -> uuid.UUID:
    return uuid.uuid5(CLERK_NAMESPACE, f"org:{org_id}")


def rows(owner_engine: Engine, sql: str, **params: Any) -> list[Any]:
    with owner_engine.connect() as connection:
        return list(connection.execute(text(sql), params).all())


def members(owner_engine: Engine, clerk_id: str) -> list[Any]:
    return rows(
        owner_engine,
        "select tenant_id, email, name, role from users where clerk_id = :c order by tenant_id",
        c=clerk_id,
    )


def test_user_created_provisions_the_personal_tenant_the_authorizer_uses(
    clerk: None, gateway: Gateway, owner_engine: Engine
) -> None:
    user_id = f"user_{uuid.uuid4().hex[:10]}"
    answer = send(gateway, user_event("created", user_id))
    assert (answer.status, answer.json()) == (HTTPStatus.OK, {"received": True, "status": "processed"})
    assert members(owner_engine, user_id) == [(personal(user_id), "ada@example.com", "Ada Lovelace", "ADMIN")]
    [tenant] = rows(owner_engine, "select name, subscription_tier from tenants where id = :t", t=personal(user_id))
    assert tuple(tenant) == ("ada@example.com", "FREE")
    # The first sign-in afterwards lands in the same tenant, as the same user.
    gateway.configure(CLERK_JWT_KEY=key_pair()[1], CLERK_AUTHORIZED_PARTIES=DASHBOARD_ORIGIN)
    usage = gateway.request("GET", "/api/user/usage", headers={"Authorization": f"Bearer {session_token(user_id)}"})
    assert usage.json()["tenant"] == {"id": str(personal(user_id))}
    assert len(members(owner_engine, user_id)) == 1


def test_the_same_delivery_twice_applies_once(clerk: None, gateway: Gateway, owner_engine: Engine) -> None:
    user_id = f"user_{uuid.uuid4().hex[:10]}"
    body = json.dumps(user_event("created", user_id)).encode()
    headers = {"Content-Type": "application/json", **svix_headers(body, msg_id=f"msg_{user_id}")}
    first = gateway.request("POST", "/api/webhooks/clerk", headers=headers, body=body)
    with owner_engine.begin() as connection:  # changed after the first delivery: a replay must not undo it
        connection.execute(text("update users set name = 'Renamed' where clerk_id = :c"), {"c": user_id})
    again = gateway.request("POST", "/api/webhooks/clerk", headers=headers, body=body)
    assert (first.json()["status"], again.json()["status"]) == ("processed", "duplicate")
    assert [m.name for m in members(owner_engine, user_id)] == ["Renamed"]
    [event] = rows(
        owner_engine, "select status from webhook_events where provider = 'clerk' and event_id = :e", e=f"msg_{user_id}"
    )
    assert event.status == "processed"


@pytest.mark.parametrize("how", ["wrong secret", "stale timestamp", "future timestamp", "missing headers", "tampered"])
def test_a_bad_signature_or_stale_timestamp_is_refused_and_changes_nothing(
    clerk: None, gateway: Gateway, owner_engine: Engine, how: str
) -> None:
    user_id = f"user_{uuid.uuid4().hex[:10]}"
    body = json.dumps(user_event("created", user_id)).encode()
    now = int(time.time())
    headers = {
        "wrong secret": svix_headers(body, "whsec_" + base64.b64encode(b"x" * 32).decode()),
        "stale timestamp": svix_headers(body, ts=now - 301),
        "future timestamp": svix_headers(body, ts=now + 301),
        "missing headers": {},
        "tampered": svix_headers(body.replace(b"Ada", b"Eve")),
    }[how]
    answer = gateway.request(
        "POST", "/api/webhooks/clerk", headers={"Content-Type": "application/json", **headers}, body=body
    )
    assert answer.status == HTTPStatus.BAD_REQUEST
    assert answer.json()["code"] == "INVALID_SIGNATURE"
    assert members(owner_engine, user_id) == []
    assert rows(owner_engine, "select 1 from tenants where id = :t", t=personal(user_id)) == []


def test_without_a_secret_deliveries_are_refused(
    clerk: None, gateway: Gateway, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLERK_WEBHOOK_SECRET")
    get_settings.cache_clear()
    user_id = f"user_{uuid.uuid4().hex[:10]}"
    answer = send(gateway, user_event("created", user_id))
    assert answer.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert members(owner_engine, user_id) == []


def test_user_updates_apply_in_clerk_order_across_memberships(
    clerk: None, gateway: Gateway, owner_engine: Engine
) -> None:
    user_id, org_id = f"user_{uuid.uuid4().hex[:10]}", f"org_{uuid.uuid4().hex[:10]}"
    base = 1_764_000_000_000  # Clerk's clocks are milliseconds; the membership sample was made at base + 200 s
    send(gateway, user_event("created", user_id, updated_at=base))
    send(gateway, membership_event("created", org_id, user_id))
    send(gateway, user_event("updated", user_id, email="new@example.com", updated_at=base + 300_000))
    send(gateway, user_event("updated", user_id, email="stale@example.com", updated_at=base + 250_000))  # late
    assert {m.email for m in members(owner_engine, user_id)} == {"new@example.com"}
    assert len(members(owner_engine, user_id)) == 2


def test_organisation_and_membership_events_create_and_update_rows_idempotently(
    clerk: None, gateway: Gateway, owner_engine: Engine
) -> None:
    user_id, org_id = f"user_{uuid.uuid4().hex[:10]}", f"org_{uuid.uuid4().hex[:10]}"
    tenant = organisation(org_id)
    send(gateway, org_event("created", org_id, updated_at=1_000))
    send(gateway, org_event("created", org_id, updated_at=1_000))  # another delivery id, same content
    send(gateway, org_event("updated", org_id, name="Renamed Studio", updated_at=2_000))
    send(gateway, org_event("updated", org_id, name="Stale Name", updated_at=1_500))
    [row] = rows(owner_engine, "select name, clerk_org_id from tenants where id = :t", t=tenant)
    assert tuple(row) == ("Renamed Studio", org_id)
    send(gateway, membership_event("created", org_id, user_id, role="org:admin"))
    send(gateway, membership_event("updated", org_id, user_id, role="org:member"))
    assert [(m.tenant_id, m.role) for m in members(owner_engine, user_id)] == [(tenant, "MEMBER")]
    send(gateway, membership_event("deleted", org_id, user_id))
    assert members(owner_engine, user_id) == []
    send(gateway, org_event("deleted", org_id))
    assert rows(owner_engine, "select 1 from tenants where id = :t", t=tenant) == []


def test_a_membership_before_its_organisation_event_still_provisions_the_tenant(
    clerk: None, gateway: Gateway, owner_engine: Engine
) -> None:
    user_id, org_id = f"user_{uuid.uuid4().hex[:10]}", f"org_{uuid.uuid4().hex[:10]}"
    send(gateway, membership_event("created", org_id, user_id))
    [row] = rows(owner_engine, "select name from tenants where id = :t", t=organisation(org_id))
    assert row.name == "Sample Studio"
    assert [m.role for m in members(owner_engine, user_id)] == ["ADMIN"]


def test_user_deleted_removes_memberships_and_the_personal_tenant(
    clerk: None, gateway: Gateway, owner_engine: Engine
) -> None:
    user_id, org_id = f"user_{uuid.uuid4().hex[:10]}", f"org_{uuid.uuid4().hex[:10]}"
    other = f"user_{uuid.uuid4().hex[:10]}"
    send(gateway, user_event("created", user_id))
    send(gateway, membership_event("created", org_id, user_id))
    send(gateway, membership_event("created", org_id, other))
    deleted = {"data": {"deleted": True, "id": user_id, "object": "user"}, "object": "event", "type": "user.deleted"}
    assert send(gateway, deleted).json()["status"] == "processed"
    assert members(owner_engine, user_id) == []
    assert rows(owner_engine, "select 1 from tenants where id = :t", t=personal(user_id)) == []
    assert len(members(owner_engine, other)) == 1  # the organisation and its other members stay


def test_unlisted_event_types_are_acknowledged_and_not_recorded(
    clerk: None, gateway: Gateway, owner_engine: Engine
) -> None:
    event = {"data": {"id": "sess_1", "object": "session"}, "object": "event", "type": "session.created"}
    body = json.dumps(event).encode()
    headers = svix_headers(body, msg_id=f"msg_{uuid.uuid4().hex}")
    answer = gateway.request(
        "POST", "/api/webhooks/clerk", headers={"Content-Type": "application/json", **headers}, body=body
    )
    assert answer.json() == {"received": True, "status": "ignored"}
    assert rows(owner_engine, "select 1 from webhook_events where event_id = :e", e=headers["svix-id"]) == []


def test_the_sample_event_is_accepted_when_signed(clerk: None, owner_engine: Engine) -> None:
    event = load_event("apigw_clerk_webhook")
    user_id = f"user_{uuid.uuid4().hex[:10]}"
    payload = json.loads(event["body"])
    payload["data"]["id"] = user_id
    event["body"] = json.dumps(payload)
    event["headers"].update(svix_headers(event["body"].encode()))
    response = load_handler("clerk_webhook").lambda_handler(event, LambdaContext())
    assert response["statusCode"] == HTTPStatus.OK
    assert [m.email for m in members(owner_engine, user_id)] == ["ada@example.com"]


# --- deletions are remembered ---------------------------------------------------------------------------------


def test_a_late_user_update_after_the_deletion_does_not_bring_the_user_back(
    clerk: None, gateway: Gateway, owner_engine: Engine
) -> None:
    user_id = f"user_{uuid.uuid4().hex[:10]}"
    assert send(gateway, user_event("created", user_id)).json()["status"] == "processed"
    assert send(gateway, user_event("deleted", user_id)).json()["status"] == "processed"
    late = send(gateway, user_event("updated", user_id, updated_at=500))  # sent before the deletion, arrives after
    assert late.json()["status"] == "ignored"
    assert members(owner_engine, user_id) == []
    assert rows(owner_engine, "select id from tenants where id = :t", t=personal(user_id)) == []


def test_a_late_membership_creation_after_its_deletion_does_not_restore_it(
    clerk: None, gateway: Gateway, owner_engine: Engine
) -> None:
    org_id, user_id = f"org_{uuid.uuid4().hex[:10]}", f"user_{uuid.uuid4().hex[:10]}"
    created = membership_event("created", org_id, user_id)
    created["data"]["id"] = f"orgmem_{uuid.uuid4().hex[:10]}"
    deleted = {**created, "type": "organizationMembership.deleted"}
    assert send(gateway, created).json()["status"] == "processed"
    assert send(gateway, deleted).json()["status"] == "processed"
    assert send(gateway, created).json()["status"] == "ignored"  # a late redelivery under a new Svix message id
    assert members(owner_engine, user_id) == []
    # Invited again later, the member gets a new membership id in Clerk, and joins.
    again = membership_event("created", org_id, user_id)
    again["data"]["id"] = f"orgmem_{uuid.uuid4().hex[:10]}"
    assert send(gateway, again).json()["status"] == "processed"
    assert [m.tenant_id for m in members(owner_engine, user_id)] == [organisation(org_id)]


def test_a_deleted_organisation_is_not_recreated_by_a_late_update(
    clerk: None, gateway: Gateway, owner_engine: Engine
) -> None:
    org_id = f"org_{uuid.uuid4().hex[:10]}"
    assert send(gateway, org_event("created", org_id)).json()["status"] == "processed"
    assert send(gateway, org_event("deleted", org_id)).json()["status"] == "processed"
    assert send(gateway, org_event("updated", org_id, name="Renamed late")).json()["status"] == "ignored"
    assert rows(owner_engine, "select id from tenants where id = :t", t=organisation(org_id)) == []

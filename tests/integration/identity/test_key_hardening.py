"""API keys stay tight: a key grants only what it holds, a revoked admin key is refused at once where it matters,
and junk keys are remembered as unknown instead of each costing a database query."""

from __future__ import annotations

import uuid
from http import HTTPStatus

import pytest
from viral.errors import Forbidden, Unauthorized
from viral.identity import auth, key_lookup
from viral.tenancy import tenant_scope

from tests.gateway import Gateway


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _key(tenant: uuid.UUID, *scopes: str) -> auth.NewApiKey:
    with tenant_scope(tenant):
        return auth.create_api_key(scopes=scopes)


def test_a_key_cannot_mint_scopes_it_does_not_hold(gateway: Gateway, tenant_a: uuid.UUID) -> None:
    admin = _key(tenant_a, "read", "admin").secret
    escalate = gateway.request(
        "POST", "/api/user/api-keys/generate", headers=_bearer(admin), json={"scopes": ["write", "generate"]}
    )
    assert escalate.status == HTTPStatus.FORBIDDEN
    assert "write" in escalate.json()["error"] and "generate" in escalate.json()["error"]
    narrower = gateway.request("POST", "/api/user/api-keys/generate", headers=_bearer(admin), json={"scopes": ["read"]})
    assert narrower.status == HTTPStatus.CREATED
    assert narrower.json()["scopes"] == ["read"]


def test_the_service_refuses_escalation_for_a_key_but_not_for_a_session(tenant_a: uuid.UUID) -> None:
    from viral.caller import Principal

    key_caller = Principal(tenant_id=tenant_a, user_id=None, role="ADMIN", method="api_key", scopes=("admin",))
    session_caller = Principal(tenant_id=tenant_a, user_id=None, role="ADMIN", method="clerk")
    with tenant_scope(tenant_a):
        with pytest.raises(Forbidden):
            auth.create_api_key(scopes=("read",), granted_by=key_caller)
        assert auth.create_api_key(scopes=("read", "write"), granted_by=session_caller).record.scopes == [
            "read",
            "write",
        ]


def test_a_revoked_admin_key_cannot_mint_a_key_within_the_memo_minute(gateway: Gateway, tenant_a: uuid.UUID) -> None:
    admin = _key(tenant_a, "read", "write", "generate", "admin")
    assert gateway.request("GET", "/api/user/usage", headers=_bearer(admin.secret)).status == HTTPStatus.OK  # memoised
    with tenant_scope(tenant_a):
        auth.revoke_api_keys(key_id=admin.record.id)
    # The authorizer still remembers the key as valid for up to a minute: ordinary reads may pass...
    assert gateway.request("GET", "/api/user/usage", headers=_bearer(admin.secret)).status == HTTPStatus.OK
    # ...but minting keys and billing read the key again, so the revoked key can do nothing there.
    for target in ("/api/user/api-keys/generate", "/api/billing/create-portal"):
        answer = gateway.request("POST", target, headers=_bearer(admin.secret), json={})
        assert answer.status == HTTPStatus.UNAUTHORIZED, target
    with tenant_scope(tenant_a):
        assert [k for k in auth.list_api_keys() if k.id != admin.record.id] == []  # nothing was minted


def test_an_admin_scope_removed_since_the_memo_is_refused(gateway: Gateway, tenant_a: uuid.UUID) -> None:
    from sqlalchemy import update
    from viral.db.models import ApiKey
    from viral.db.uow import unit_of_work

    admin = _key(tenant_a, "read", "admin")
    assert gateway.request("GET", "/api/user/api-keys", headers=_bearer(admin.secret)).status == HTTPStatus.OK
    with unit_of_work(tenant_a) as uow:
        uow.session.execute(update(ApiKey).where(ApiKey.id == admin.record.id).values(scopes=["read"]))
    answer = gateway.request("GET", "/api/user/api-keys", headers=_bearer(admin.secret))
    assert answer.status == HTTPStatus.FORBIDDEN


def test_unknown_keys_are_remembered_briefly_as_unknown(monkeypatch: pytest.MonkeyPatch, database_url: object) -> None:
    looked_up: list[str] = []
    real = key_lookup.authenticate

    def counting(headers: dict[str, str], settings: object = None) -> object:
        looked_up.append(headers["Authorization"])
        return real(headers)

    monkeypatch.setattr(key_lookup, "authenticate", counting)
    cache = key_lookup.PrincipalCache(ttl_s=60, unknown_ttl_s=10)
    junk = _bearer("vd_" + "x" * 40)
    for now in (0, 1, 9):
        with pytest.raises(Unauthorized):
            cache.authenticate(junk, now=now)
    assert len(looked_up) == 1
    with pytest.raises(Unauthorized):
        cache.authenticate(junk, now=11)
    assert len(looked_up) == 2


# --- Clerk session tokens: issuer and authorized parties ------------------------------------------------------


def test_a_session_token_from_another_issuer_is_refused(database_url: object) -> None:
    from viral.settings import Settings

    from tests.clerk import DASHBOARD_ORIGIN, key_pair, session_token

    settings = Settings(
        clerk_jwt_key=key_pair()[1],
        clerk_authorized_parties=DASHBOARD_ORIGIN,
        clerk_issuer="https://clerk.viral-dashboard.test",
    )
    user = f"user_{uuid.uuid4().hex[:8]}"
    assert auth.authenticate(_bearer(session_token(user)), settings).method == "clerk"
    forged = session_token(user, iss="https://clerk.somebody-else.test")
    with pytest.raises(Unauthorized):
        auth.authenticate(_bearer(forged), settings)


def test_the_issuer_defaults_to_the_jwks_origin() -> None:
    from viral.settings import Settings

    settings = Settings(clerk_jwks_url="https://clerk.example.test/.well-known/jwks.json")
    assert settings.session_issuer == "https://clerk.example.test"


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_deployed_functions_refuse_to_start_without_the_session_checks(stage: str) -> None:
    from pydantic import ValidationError
    from viral.settings import Settings

    with pytest.raises(ValidationError, match="CLERK_AUTHORIZED_PARTIES"):
        Settings(stage=stage, clerk_jwt_key="pem", clerk_issuer="https://clerk.example.test")
    with pytest.raises(ValidationError, match="CLERK_ISSUER"):
        Settings(stage=stage, clerk_jwt_key="pem", clerk_authorized_parties="https://app.example.test")
    complete = Settings(
        stage=stage,
        clerk_jwt_key="pem",
        clerk_authorized_parties="https://app.example.test",
        clerk_issuer="https://clerk.example.test",
    )
    assert complete.authorized_parties == ["https://app.example.test"]
    assert Settings(stage=stage).accepts_session_tokens is False  # API keys only: nothing to pin

"""Authentication: API keys (hashed, scoped, revocable) and Clerk session tokens (verified without network)."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import Engine, text
from viral.errors import InvalidInput, NotFound, Unauthorized
from viral.services import auth
from viral.services.tenants import list_tenants
from viral.settings import Settings
from viral.tenancy import tenant_scope

from tests.clerk import DASHBOARD_ORIGIN, key_pair, session_token


@pytest.fixture
def clerk_settings() -> Settings:
    return Settings(clerk_jwt_key=key_pair()[1], clerk_authorized_parties=DASHBOARD_ORIGIN)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_key_is_stored_only_as_a_hash(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    with tenant_scope(tenant_a):
        created = auth.create_api_key(name="ci")
    assert created.secret.startswith("vd_") and len(created.secret) >= 40
    with owner_engine.connect() as connection:
        stored = connection.execute(
            text("select prefix, key_hash from api_keys where id = :id"), {"id": created.record.id}
        ).one()
        anywhere = connection.execute(
            text("select count(*) from api_keys where key_hash = :s or prefix = :s"), {"s": created.secret}
        ).scalar_one()
    assert stored.key_hash == auth.hash_key(created.secret)
    assert created.secret.startswith(stored.prefix) and len(stored.prefix) < 16
    assert anywhere == 0


@pytest.mark.parametrize("header", ["authorization", "x-api-key"])
def test_api_key_authenticates_to_its_tenant_with_its_scopes(tenant_a: uuid.UUID, header: str) -> None:
    with tenant_scope(tenant_a):
        created = auth.create_api_key(scopes=("read",))
    headers = _bearer(created.secret) if header == "authorization" else {"X-API-Key": created.secret}
    principal = auth.authenticate(headers)
    assert (principal.tenant_id, principal.method, principal.scopes) == (tenant_a, "api_key", ("read",))
    assert principal.api_key_id == created.record.id


def test_key_use_is_stamped_at_most_once_a_minute(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    with tenant_scope(tenant_a):
        created = auth.create_api_key()
    auth.authenticate(_bearer(created.secret))
    with owner_engine.connect() as connection:
        first = connection.execute(
            text("select last_used_at from api_keys where id = :id"), {"id": created.record.id}
        ).scalar_one()
    auth.authenticate(_bearer(created.secret))
    with owner_engine.connect() as connection:
        second = connection.execute(
            text("select last_used_at, xmin::text from api_keys where id = :id"), {"id": created.record.id}
        ).one()
    assert first is not None
    assert second.last_used_at == first


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer vd_short"},
        {"Authorization": "Bearer vd_" + "x" * 43},
        {"X-API-Key": "not-a-key"},
    ],
)
def test_malformed_or_unknown_credentials_are_unauthorized(headers: dict[str, str], database_url: object) -> None:
    with pytest.raises(Unauthorized):
        auth.authenticate(headers, Settings())


def test_revoked_key_is_unauthorized(tenant_a: uuid.UUID) -> None:
    with tenant_scope(tenant_a):
        created = auth.create_api_key()
        revoked = auth.revoke_api_keys(prefix=created.record.prefix)
    assert [k.id for k in revoked] == [created.record.id]
    with pytest.raises(Unauthorized):
        auth.authenticate(_bearer(created.secret))


def test_tenant_b_cannot_revoke_or_list_tenant_a_keys(tenant_a: uuid.UUID, tenant_b: uuid.UUID) -> None:
    with tenant_scope(tenant_a):
        created = auth.create_api_key()
    with tenant_scope(tenant_b):
        with pytest.raises(NotFound):
            auth.revoke_api_keys(key_id=created.record.id)
        assert auth.revoke_api_keys() == []
        assert auth.list_api_keys() == []
    assert auth.authenticate(_bearer(created.secret)).tenant_id == tenant_a


def test_unknown_scopes_are_refused(tenant_a: uuid.UUID) -> None:
    with tenant_scope(tenant_a), pytest.raises(InvalidInput):
        auth.create_api_key(scopes=("read", "root"))


def test_principal_cache_expires(tenant_a: uuid.UUID) -> None:
    with tenant_scope(tenant_a):
        created = auth.create_api_key()
    cache = auth.PrincipalCache(ttl_s=30)
    assert cache.authenticate(_bearer(created.secret), now=0).tenant_id == tenant_a
    with tenant_scope(tenant_a):
        auth.revoke_api_keys(key_id=created.record.id)
    assert cache.authenticate(_bearer(created.secret), now=29).tenant_id == tenant_a  # still memoised
    with pytest.raises(Unauthorized):
        cache.authenticate(_bearer(created.secret), now=31)


# --- Clerk ---------------------------------------------------------------------------------------------------


def test_first_sign_in_provisions_a_free_tenant_and_an_admin(clerk_settings: Settings) -> None:
    user = f"user_{uuid.uuid4().hex[:10]}"
    principal = auth.authenticate(_bearer(session_token(user, email="ada@example.test")), clerk_settings)
    again = auth.authenticate(_bearer(session_token(user)), clerk_settings)
    assert (principal.method, principal.role) == ("clerk", "ADMIN")
    assert again.tenant_id == principal.tenant_id and again.user_id == principal.user_id
    tenant = next(t for t in list_tenants() if t.id == principal.tenant_id)
    assert (tenant.subscription_tier, tenant.monthly_quota, tenant.name) == ("FREE", 10, "ada@example.test")


def test_two_first_requests_at_once_make_one_tenant_and_one_user(clerk_settings: Settings) -> None:
    user = f"user_{uuid.uuid4().hex[:10]}"
    token = session_token(user)
    barrier = threading.Barrier(4)
    results: list[object] = []

    def sign_in() -> None:
        barrier.wait(timeout=10)
        try:
            results.append(auth.authenticate(_bearer(token), clerk_settings))
        except Exception as error:  # collected and asserted below
            results.append(error)

    threads = [threading.Thread(target=sign_in) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(isinstance(r, auth.Principal) for r in results), results
    assert len({(r.tenant_id, r.user_id) for r in results if isinstance(r, auth.Principal)}) == 1


@pytest.mark.parametrize(
    ("claims", "role"),
    [
        ({"o": {"id": "org_v2", "slg": "acme", "rol": "admin"}}, "ADMIN"),
        ({"org_id": "org_v1", "org_role": "org:member"}, "MEMBER"),
    ],
)
def test_organisation_claims_v1_and_v2_share_the_org_tenant(
    clerk_settings: Settings, claims: dict[str, object], role: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    org_claims = {k: ({**v, "id": f"{v['id']}_{suffix}"} if isinstance(v, dict) else v) for k, v in claims.items()}
    if "org_id" in org_claims:
        org_claims["org_id"] = f"org_v1_{suffix}"
    first = auth.authenticate(_bearer(session_token(f"user_a{suffix}", **org_claims)), clerk_settings)
    second = auth.authenticate(_bearer(session_token(f"user_b{suffix}", **org_claims)), clerk_settings)
    assert first.tenant_id == second.tenant_id
    assert first.user_id != second.user_id
    assert first.role == role


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: session_token(expires_in=-30), id="expired"),
        pytest.param(lambda: session_token(not_before=120), id="not-yet-valid"),
        pytest.param(lambda: session_token(signer="attacker"), id="badly-signed"),
        pytest.param(lambda: session_token(azp="https://evil.test"), id="wrong-azp"),
        pytest.param(lambda: session_token() + "x", id="tampered"),
        pytest.param(lambda: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", id="alg-none"),
    ],
)
def test_bad_session_tokens_are_unauthorized(clerk_settings: Settings, token: object, database_url: object) -> None:
    with pytest.raises(Unauthorized):
        auth.authenticate(_bearer(token()), clerk_settings)  # type: ignore[operator]


def test_session_tokens_refused_when_no_key_is_configured(database_url: object) -> None:
    with pytest.raises(Unauthorized, match="CLERK_JWT_KEY"):
        auth.authenticate(_bearer(session_token()), Settings(clerk_jwt_key=None, clerk_jwks_url=None))


def test_pem_with_escaped_newlines_is_accepted(database_url: object) -> None:
    settings = Settings(clerk_jwt_key=key_pair()[1].replace("\n", "\\n"), clerk_authorized_parties=DASHBOARD_ORIGIN)
    assert auth.authenticate(_bearer(session_token(f"user_{uuid.uuid4().hex[:8]}")), settings).method == "clerk"


def test_a_memoised_session_token_is_not_honoured_past_its_expiry(
    clerk_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from viral.services import key_lookup

    verified: list[str] = []

    def verify(headers: dict[str, str], settings: Settings | None = None) -> auth.Principal:
        verified.append(headers["Authorization"])
        return auth.authenticate(headers, clerk_settings)

    monkeypatch.setattr(key_lookup, "authenticate", verify)
    cache = key_lookup.PrincipalCache(ttl_s=60)
    token = session_token(f"user_{uuid.uuid4().hex[:8]}", expires_in=8)
    cache.authenticate(_bearer(token), now=0)
    cache.authenticate(_bearer(token), now=5)
    assert len(verified) == 1, "memoised within the token's lifetime"
    cache.authenticate(_bearer(token), now=9)
    assert len(verified) == 2, "past the token's exp the memo no longer answers: the token is verified again"


def test_a_demoted_organisation_admin_is_a_member_at_the_next_sign_in(clerk_settings: Settings) -> None:
    org = {"id": f"org_{uuid.uuid4().hex[:8]}", "slg": "acme", "rol": "admin"}
    user = f"user_{uuid.uuid4().hex[:8]}"
    first = auth.authenticate(_bearer(session_token(user, o=org)), clerk_settings)
    demoted = auth.authenticate(_bearer(session_token(user, o={**org, "rol": "member"})), clerk_settings)
    assert (first.role, demoted.role) == ("ADMIN", "MEMBER")
    assert first.user_id == demoted.user_id


def test_an_unknown_api_key_is_remembered_as_refused_without_another_lookup(
    tenant_a: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    from viral.services import key_lookup

    lookups: list[str] = []
    real_find = key_lookup._lookup.find

    def counting_find(key_hash: str, settings: Settings) -> list[object] | None:
        lookups.append(key_hash)
        return real_find(key_hash, settings)

    monkeypatch.setattr(key_lookup._lookup, "find", counting_find)
    cache = key_lookup.PrincipalCache(ttl_s=60)
    unknown = _bearer("vd_" + "x" * 43)
    for now in (0, 10, 59):
        with pytest.raises(Unauthorized):
            cache.authenticate(unknown, now=now)
    assert len(lookups) == 1, "refusals within the TTL are answered from the memo"
    with pytest.raises(Unauthorized):
        cache.authenticate(unknown, now=61)
    assert len(lookups) == 2, "after the TTL the key is looked up again"
    with tenant_scope(tenant_a):
        created = auth.create_api_key()
    assert cache.authenticate(_bearer(created.secret), now=62).tenant_id == tenant_a

"""The HTTP API through the real authorizer and Api function, as API Gateway would call them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import pytest
from viral.identity import auth
from viral.identity.repository import MembershipRepository
from viral.tenancy import tenant_scope

from tests import factories
from tests.clerk import DASHBOARD_ORIGIN, key_pair, session_token
from tests.gateway import Gateway

KeyFor = Callable[..., str]


@pytest.fixture
def key_for() -> KeyFor:
    def make(tenant: uuid.UUID, *scopes: str) -> str:
        with tenant_scope(tenant):
            return auth.create_api_key(scopes=scopes or ("read", "write", "generate", "admin")).secret

    return make


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _saved_generation(gateway: Gateway, key: str, **kwargs: object) -> dict[str, object]:
    payload = factories.generation(**kwargs)  # type: ignore[arg-type]
    assert gateway.request("POST", "/api/history", headers=bearer(key), json=payload).status == HTTPStatus.OK
    return payload


TENANT_ROUTES = [
    ("GET", "/api/history"),
    ("POST", "/api/history"),
    ("DELETE", "/api/history?id=x"),
    ("GET", "/api/user/concepts"),
    ("GET", "/api/user/usage"),
    ("GET", "/api/user/api-keys"),
    ("POST", "/api/user/api-keys/generate"),
    ("POST", "/api/user/api-keys/revoke"),
    ("GET", "/api/feedback"),
    ("POST", "/api/feedback"),
    ("GET", "/api/generations/gen-1"),
    ("POST", "/api/generations/gen-1/favorite"),
    ("GET", "/api/search?q=cats"),
    ("GET", "/api/analytics"),
    ("GET", "/api/jobs"),
    ("POST", "/api/generate"),
    ("GET", "/api/trends"),
    ("POST", "/api/trends"),
    ("PUT", "/api/user/settings"),
    ("POST", "/api/imports"),
    ("GET", "/api/imports/0f8fad5b-d9cb-469f-a165-70867728950e"),
    ("POST", "/api/billing/create-checkout"),
    ("POST", "/api/billing/create-portal"),
    ("GET", "/api/reflexion"),
    ("POST", "/api/reflexion"),
    ("POST", "/api/reflexion/rollback"),
    ("POST", "/api/video/generate"),
    ("GET", "/api/video/status?conceptId=x"),
    ("GET", "/api/videos"),
    ("POST", "/api/webhook-endpoints"),
    ("GET", "/api/webhook-endpoints"),
    ("GET", "/api/webhook-endpoints/0f8fad5b-d9cb-469f-a165-70867728950e"),
    ("PATCH", "/api/webhook-endpoints/0f8fad5b-d9cb-469f-a165-70867728950e"),
    ("DELETE", "/api/webhook-endpoints/0f8fad5b-d9cb-469f-a165-70867728950e"),
    ("POST", "/api/webhook-endpoints/0f8fad5b-d9cb-469f-a165-70867728950e/rotate-secret"),
    ("POST", "/api/webhook-endpoints/0f8fad5b-d9cb-469f-a165-70867728950e/test"),
    ("GET", "/api/webhook-endpoints/0f8fad5b-d9cb-469f-a165-70867728950e/deliveries"),
    ("GET", "/api/social/auth-url?platform=sandbox"),
    ("GET", "/api/social/accounts"),
    ("DELETE", "/api/social/accounts?id=x"),
    ("POST", "/api/posts"),
    ("GET", "/api/posts"),
    ("GET", "/api/posts/0f8fad5b-d9cb-469f-a165-70867728950e"),
    ("PATCH", "/api/posts/0f8fad5b-d9cb-469f-a165-70867728950e"),
    ("DELETE", "/api/posts/0f8fad5b-d9cb-469f-a165-70867728950e"),
    ("GET", "/api/posts/0f8fad5b-d9cb-469f-a165-70867728950e/metrics"),
    ("GET", "/api/metrics?format=json"),
    ("GET", "/api/autopilot"),
    ("PUT", "/api/autopilot"),
]


def test_route_list_covers_every_protected_route_of_the_template(gateway: Gateway) -> None:
    protected = {(m, p) for m, p in gateway.protected_routes()}
    tested = {(m, gateway.resource_of(m, t)) for m, t in TENANT_ROUTES}
    assert protected == tested


@pytest.mark.parametrize(("method", "target"), TENANT_ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-credentials"),
        pytest.param({"Authorization": "Bearer vd_" + "0" * 43}, id="unknown-key"),
        pytest.param({"Authorization": "Token abc"}, id="malformed"),
        pytest.param({"Authorization": "Bearer " + "e30.e30.e30"}, id="garbage-jwt"),
    ],
)
def test_every_route_is_401_json_without_valid_credentials(
    gateway: Gateway, method: str, target: str, headers: dict[str, str]
) -> None:
    response = gateway.request(method, target, headers=headers)
    assert response.status == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"error": "Unauthorized", "code": "UNAUTHORIZED"}


def test_revoked_key_is_401(gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor) -> None:
    key = key_for(tenant_a)
    with tenant_scope(tenant_a):
        auth.revoke_api_keys()
    assert gateway.request("GET", "/api/user/usage", headers=bearer(key)).status == HTTPStatus.UNAUTHORIZED


def test_health_needs_no_credentials(gateway: Gateway) -> None:
    response = gateway.request("GET", "/api/health")
    assert response.status == HTTPStatus.OK
    assert response.json()["database"] == "ok"


def test_usage_has_the_original_shape(gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor) -> None:
    response = gateway.request("GET", "/api/user/usage", headers={"X-API-Key": key_for(tenant_a)})
    body = response.json()
    assert response.status == HTTPStatus.OK
    assert {k: body["subscription"][k] for k in ("tier", "status")} == {"tier": "FREE", "status": "active"}
    assert {k: body["quota"][k] for k in ("total", "used", "remaining", "percentage")} == {
        "total": 10,
        "used": 0,
        "remaining": 10,
        "percentage": "0.0",
    }
    assert body["tenant"] == {"id": str(tenant_a)}
    from viral.billing.plans import plan_for

    allowance = max(3, plan_for("FREE").videos_per_month)
    assert body["videos"] == {"total": allowance, "used": 0, "remaining": allowance}


def test_clerk_session_token_works_and_bad_ones_are_401(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.configure(CLERK_JWT_KEY=key_pair()[1], CLERK_AUTHORIZED_PARTIES=DASHBOARD_ORIGIN)
    user = f"user_{uuid.uuid4().hex[:8]}"
    ok = gateway.request("GET", "/api/user/usage", headers=bearer(session_token(user)))
    assert ok.status == HTTPStatus.OK
    assert ok.json()["subscription"]["tier"] == "FREE"
    for token in (
        session_token(user, expires_in=-60),
        session_token(user, signer="attacker"),
        session_token(user, azp="https://evil.test"),
    ):
        assert gateway.request("GET", "/api/user/usage", headers=bearer(token)).status == HTTPStatus.UNAUTHORIZED


def test_history_save_list_delete_with_pagination(gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor) -> None:
    key = key_for(tenant_a)
    saved = [_saved_generation(gateway, key) for _ in range(3)]
    page = gateway.request("GET", "/api/history?limit=2&offset=0", headers=bearer(key)).json()
    assert (page["total"], page["limit"], len(page["generations"])) == (3, 2, 2)
    deleted = gateway.request("DELETE", f"/api/history?id={saved[0]['id']}", headers=bearer(key))
    assert deleted.json() == {"success": True, "deletedId": saved[0]["id"]}
    assert gateway.request("GET", "/api/history", headers=bearer(key)).json()["total"] == 2
    missing = gateway.request("DELETE", "/api/history", headers=bearer(key))
    assert (missing.status, missing.json()["details"]) == (
        HTTPStatus.UNPROCESSABLE_ENTITY,
        [{"field": "id", "message": "Field required"}],
    )


def test_bad_bodies_are_422_with_field_errors(gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor) -> None:
    key = key_for(tenant_a)
    bad = {**factories.generation(), "concepts": [{"id": "c1", "title": 5}]}
    response = gateway.request("POST", "/api/history", headers=bearer(key), json=bad)
    body = response.json()
    assert response.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert body["code"] == "VALIDATION_FAILED"
    assert any(d["field"].startswith("concepts.0") for d in body["details"])
    bad_query = gateway.request("GET", "/api/history?limit=0", headers=bearer(key))
    assert bad_query.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert bad_query.json()["details"][0]["field"] == "limit"


def test_tenant_b_gets_404_for_a_and_never_sees_its_rows(
    gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, key_for: KeyFor
) -> None:
    key_a, key_b = key_for(tenant_a), key_for(tenant_b)
    generation = _saved_generation(gateway, key_a, trends=[factories.trend("Hidden topic")])
    concept_id = generation["concepts"][0]["id"]  # type: ignore[index]
    feedback = factories.feedback(concept_id)
    assert gateway.request("POST", "/api/feedback", headers=bearer(key_a), json=feedback).status == HTTPStatus.OK
    gid = generation["id"]
    for method, target in [
        ("GET", f"/api/generations/{gid}"),
        ("POST", f"/api/generations/{gid}/favorite"),
        ("DELETE", f"/api/history?id={gid}"),
    ]:
        assert gateway.request(method, target, headers=bearer(key_b)).status == HTTPStatus.NOT_FOUND, target
    assert gateway.request("POST", "/api/feedback", headers=bearer(key_b), json=feedback).status == HTTPStatus.NOT_FOUND
    lists = {
        "history": gateway.request("GET", "/api/history", headers=bearer(key_b)).json()["generations"],
        "concepts": gateway.request("GET", "/api/user/concepts", headers=bearer(key_b)).json()["generations"],
        "search": gateway.request("GET", "/api/search?q=hidden", headers=bearer(key_b)).json()["results"],
        "feedback": gateway.request("GET", "/api/feedback", headers=bearer(key_b)).json()["recent"],
        "jobs": gateway.request("GET", "/api/jobs", headers=bearer(key_b)).json()["jobs"],
    }
    assert {name: rows for name, rows in lists.items() if rows} == {}
    analytics = gateway.request("GET", "/api/analytics", headers=bearer(key_b)).json()
    assert analytics["totalGenerations"] == 0
    # A still sees all of it
    assert gateway.request("GET", "/api/search?q=hidden", headers=bearer(key_a)).json()["count"] == 1


def test_generation_routes(gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor) -> None:
    key = key_for(tenant_a)
    generation = _saved_generation(gateway, key, trends=[factories.trend("Moon landing")])
    gid = generation["id"]
    fetched = gateway.request("GET", f"/api/generations/{gid}", headers=bearer(key)).json()
    assert fetched["id"] == gid and fetched["concepts"][0]["script"] == generation["concepts"][0]["script"]  # type: ignore[index]
    assert gateway.request("POST", f"/api/generations/{gid}/favorite", headers=bearer(key)).json() == {
        "id": gid,
        "isFavorite": True,
    }
    found = gateway.request("GET", "/api/search?q=moon", headers=bearer(key)).json()
    assert [g["id"] for g in found["results"]] == [gid]
    analytics = gateway.request("GET", "/api/analytics", headers=bearer(key)).json()
    assert analytics["trendFrequency"] == {"Moon landing": 1}
    assert gateway.request("GET", "/api/generations/nope", headers=bearer(key)).json() == {
        "error": "Generation not found",
        "code": "NOT_FOUND",
    }


def test_feedback_validation_matches_the_original(gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor) -> None:
    key = key_for(tenant_a)
    body = {
        "conceptId": "",
        "category": "crypto",
        "platform": "myspace",
        "metrics": {"views": 10, "likes": 30, "shares": 1, "comments": "many"},
    }
    response = gateway.request("POST", "/api/feedback", headers=bearer(key), json=body)
    answer = response.json()
    assert response.status == HTTPStatus.BAD_REQUEST
    assert (answer["error"], answer["code"]) == ("Validation failed", "VALIDATION_FAILED")
    assert {d["field"] for d in answer["details"]} == {"conceptId", "category", "platform", "metrics.comments"}
    over = {**factories.feedback("c"), "metrics": {"views": 10, "likes": 10, "shares": 10, "comments": 5}}
    details = gateway.request("POST", "/api/feedback", headers=bearer(key), json=over).json()["details"]
    assert details == [
        {"field": "metrics", "message": "Total engagement (25) exceeds 200% of views (10). Please verify your data."}
    ]
    not_json = gateway.request("POST", "/api/feedback", headers=bearer(key), body=b"{oops")
    assert not_json.status == HTTPStatus.BAD_REQUEST


def test_feedback_records_and_summarises(gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor) -> None:
    key = key_for(tenant_a)
    generation = _saved_generation(gateway, key)
    concept = generation["concepts"][0]  # type: ignore[index]
    posted = gateway.request(
        "POST",
        "/api/feedback",
        headers=bearer(key),
        json=factories.feedback(concept["id"], views=1000, likes=80, shares=10, comments=10),
    )
    answer = posted.json()
    assert posted.status == HTTPStatus.OK
    assert answer["success"] is True and answer["entry"]["engagementRate"] == 10.0
    assert answer["message"] == "Performance recorded: 10% engagement rate"
    summary = gateway.request("GET", "/api/feedback", headers=bearer(key)).json()
    assert summary["recent"][0]["conceptTitle"] == concept["title"]
    assert summary["platformComparison"]["tiktok"]["totalEntries"] == 1
    assert summary["platformComparison"]["youtubeShorts"]["totalEntries"] == 0
    top = summary["topCategories"][0]
    assert top["category"] == "absurd"
    assert top["stats"]["bestPerforming"]["conceptId"] == concept["id"]


def test_rate_limit_answers_429_after_the_limit(
    gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, key_for: KeyFor
) -> None:
    key = key_for(tenant_a)
    answers = [gateway.request("GET", "/api/feedback", headers=bearer(key)) for _ in range(11)]
    assert [a.status for a in answers[:10]] == [HTTPStatus.OK] * 10
    assert answers[0].headers["X-RateLimit-Limit"] == "10"
    assert answers[9].headers["X-RateLimit-Remaining"] == "0"
    limited = answers[10]
    assert limited.status == HTTPStatus.TOO_MANY_REQUESTS
    assert limited.json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    # Another tenant has its own window
    assert gateway.request("GET", "/api/feedback", headers=bearer(key_for(tenant_b))).status == HTTPStatus.OK


def test_api_keys_json_and_form_posts(gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor) -> None:
    admin = key_for(tenant_a)
    created = gateway.request(
        "POST", "/api/user/api-keys/generate", headers=bearer(admin), json={"name": "ci", "scopes": ["read"]}
    )
    secret = created.json()["key"]
    assert created.status == HTTPStatus.CREATED and secret.startswith("vd_")
    assert gateway.request("GET", "/api/user/usage", headers=bearer(secret)).status == HTTPStatus.OK
    # a read-only key cannot write
    denied = gateway.request("POST", "/api/history", headers=bearer(secret), json=factories.generation())
    assert denied.status == HTTPStatus.FORBIDDEN
    listed = gateway.request("GET", "/api/user/api-keys", headers=bearer(admin)).json()["keys"]
    assert secret not in str(listed) and any(k["name"] == "ci" for k in listed)
    form = gateway.request(
        "POST",
        "/api/user/api-keys/generate",
        headers={**bearer(admin), "Content-Type": "application/x-www-form-urlencoded"},
        body=b"",
    )
    assert form.status == HTTPStatus.SEE_OTHER
    assert form.headers["Location"] == "/dashboard/api-keys"
    assert "vd_new_api_key=vd_" in form.headers["Set-Cookie"] and "HttpOnly" in form.headers["Set-Cookie"]
    revoked = gateway.request("POST", "/api/user/api-keys/revoke", headers=bearer(admin), json={"prefix": secret[:11]})
    assert revoked.json()["revoked"][0]["prefix"] == secret[:11]
    gateway.forget_cached_principals()
    assert gateway.request("GET", "/api/user/usage", headers=bearer(secret)).status == HTTPStatus.UNAUTHORIZED


def test_non_admin_key_cannot_manage_keys(gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor) -> None:
    key = key_for(tenant_a, "read", "write")
    response = gateway.request("POST", "/api/user/api-keys/generate", headers=bearer(key), json={})
    assert response.status == HTTPStatus.FORBIDDEN


def test_keys_never_appear_in_logs_or_error_bodies(
    gateway: Gateway,
    tenant_a: uuid.UUID,
    key_for: KeyFor,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = key_for(tenant_a)
    bodies = [
        gateway.request("POST", "/api/user/api-keys/generate", headers=bearer(key), json={"scopes": ["root"]}).body,
        gateway.request("GET", "/api/user/usage", headers=bearer(key[:-2] + "zz")).body,
        gateway.request("POST", "/api/history", headers=bearer(key), json={"bad": True}).body,
    ]
    created = gateway.request("POST", "/api/user/api-keys/generate", headers=bearer(key), json={}).json()["key"]
    captured = capsys.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert "request refused" in logs  # the refusals were logged, so the scan below reads real log lines
    for secret in (key, key[:-2] + "zz", created):
        assert secret not in logs
        assert all(secret.encode() not in body for body in bodies)


def test_api_usage_is_recorded_in_batches(
    gateway: Gateway, tenant_a: uuid.UUID, key_for: KeyFor, owner_engine: Any
) -> None:
    from sqlalchemy import text
    from viral.operations.usage import usage_recorder

    key = key_for(tenant_a)
    usage_recorder.flush()
    for _ in range(3):
        gateway.request("GET", "/api/user/usage", headers=bearer(key))
    gateway.request("GET", "/api/generations/missing", headers=bearer(key))
    usage_recorder.flush()
    with owner_engine.connect() as connection:
        rows = connection.execute(
            text("select endpoint, method, status_code, api_key_id from api_usage where tenant_id = :t order by id"),
            {"t": tenant_a},
        ).all()
    assert [(r.endpoint, r.method, r.status_code) for r in rows] == [("/api/user/usage", "GET", 200)] * 3 + [
        ("/api/generations/{generation_id}", "GET", 404)
    ]
    assert all(r.api_key_id is not None for r in rows)


def test_an_admin_scoped_key_of_a_member_cannot_manage_keys_or_billing(gateway: Gateway, tenant_a: uuid.UUID) -> None:
    from viral.db.uow import unit_of_work

    with unit_of_work(tenant_a) as uow:
        member = uow.repository(MembershipRepository).provision(
            clerk_user_id=f"user_{uuid.uuid4().hex[:8]}",
            clerk_org_id=None,
            tenant_name="Tenant A",
            email=None,
            name=None,
            role="MEMBER",
        )
    with tenant_scope(tenant_a):
        key = auth.create_api_key(scopes=("read", "admin"), user_id=member.user_id).secret
    for target in ("/api/user/api-keys/generate", "/api/billing/create-portal"):
        answer = gateway.request("POST", target, headers=bearer(key), json={})
        assert answer.status == HTTPStatus.FORBIDDEN, target
        assert "no longer an ADMIN" in answer.json()["error"]


def test_usage_rows_ride_on_the_next_bind_without_an_extra_statement(
    gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, key_for: KeyFor, owner_engine: Any
) -> None:
    from sqlalchemy import event, text
    from viral.db.engine import get_engine
    from viral.operations.usage import usage_recorder

    key_a, key_b = key_for(tenant_a), key_for(tenant_b)
    usage_recorder.flush()
    gateway.request("GET", "/api/user/usage", headers=bearer(key_a))  # leaves A's row waiting
    gateway.request("GET", "/api/user/usage", headers=bearer(key_b))  # B's bind must not write A's row
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(get_engine(), "before_cursor_execute", record)
    try:
        gateway.request("GET", "/api/user/usage", headers=bearer(key_a))
    finally:
        event.remove(get_engine(), "before_cursor_execute", record)
    with owner_engine.connect() as connection:
        counts = {
            name: connection.execute(text("select count(*) from api_usage where tenant_id = :t"), {"t": t}).scalar()
            for name, t in (("a", tenant_a), ("b", tenant_b))
        }
    assert len(statements) == 2, "the bind carried the waiting row: no extra round trip"
    assert counts == {"a": 1, "b": 0}, "each tenant's rows are written only by its own bind"
    usage_recorder.flush()

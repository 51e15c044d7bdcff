"""Bad input over HTTP is a clear 4xx with one error shape, never a 500: media types, encodings, NUL characters,
numbers JSON cannot hold, and the API-key revocation that must name what it revokes."""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import Any

import pytest
from viral.content import storage
from viral.identity import auth
from viral.tenancy import tenant_scope

from tests import factories
from tests.gateway import Gateway

BODY_ROUTES = [
    ("POST", "/api/generate", {"count": 1}),
    ("POST", "/api/history", None),  # a generation, filled in per test
    ("POST", "/api/video/generate", {"conceptId": "missing-concept"}),
    ("POST", "/api/reflexion/rollback", {"version": 999}),
    ("PUT", "/api/user/settings", {"dailyGeneration": False}),
    ("POST", "/api/feedback", {"conceptId": "c"}),
    ("POST", "/api/reflexion", {"concept": {}}),
    ("POST", "/api/user/api-keys/generate", {"name": "x"}),
    ("POST", "/api/user/api-keys/revoke", {"all": False}),
    ("POST", "/api/billing/create-checkout", {"tier": "GOLD"}),
]


@pytest.fixture
def key(tenant_a: uuid.UUID) -> str:
    with tenant_scope(tenant_a):
        return auth.create_api_key(scopes=("read", "write", "generate", "admin")).secret


def _send(
    gateway: Gateway, method: str, target: str, key: str, body: bytes, content_type: str | None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = gateway.request(method, target, headers=headers, body=body)
    return answer.status, answer.json() if answer.body else None


def _payload(target: str, given: dict[str, Any] | None) -> dict[str, Any]:
    return factories.generation() if target == "/api/history" else dict(given or {})


@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8", "Application/JSON", "application/json"])
@pytest.mark.parametrize(("method", "target", "given"), BODY_ROUTES)
def test_a_json_body_is_read_as_json_whatever_the_text_media_type_says(
    gateway: Gateway, key: str, method: str, target: str, given: dict[str, Any] | None, content_type: str
) -> None:
    body = json.dumps(_payload(target, given)).encode()
    status, answer = _send(gateway, method, target, key, body, content_type)
    # As fetch() sends a string body by default, or in another letter case: the same answer as with JSON itself
    expected, _ = _send(gateway, method, target, key, body, "application/json")
    assert status < HTTPStatus.INTERNAL_SERVER_ERROR, answer
    assert status == expected, answer
    assert status != HTTPStatus.UNSUPPORTED_MEDIA_TYPE


def test_settings_sent_as_text_plain_take_effect(gateway: Gateway, key: str) -> None:
    body = b'{"dailyGeneration": true}'
    assert _send(gateway, "PUT", "/api/user/settings", key, body, "text/plain;charset=UTF-8") == (
        HTTPStatus.OK,
        {"dailyGeneration": True},
    )


@pytest.mark.parametrize(("method", "target", "given"), BODY_ROUTES)
def test_unreadable_bodies_are_415_400_never_500(
    gateway: Gateway, key: str, method: str, target: str, given: dict[str, Any] | None
) -> None:
    body = json.dumps(_payload(target, given)).encode()
    xml = _send(gateway, method, target, key, b"<tier>PRO</tier>", "application/xml")
    multipart = _send(gateway, method, target, key, body, "multipart/form-data")
    latin1 = _send(gateway, method, target, key, '{"name": "caf\u00e9"}'.encode("latin-1"), "application/json")
    not_json = _send(gateway, method, target, key, b"{oops", "text/plain")
    assert (xml[0], xml[1]["code"]) == (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
    assert (multipart[0], multipart[1]["code"]) == (HTTPStatus.BAD_REQUEST, "MALFORMED_BODY")
    assert (latin1[0], latin1[1]["code"]) == (HTTPStatus.BAD_REQUEST, "MALFORMED_BODY")
    assert (not_json[0], not_json[1]["code"]) == (HTTPStatus.BAD_REQUEST, "INVALID_JSON")
    assert all(set(answer) <= {"error", "code", "details"} for _, answer in (xml, multipart, latin1, not_json))


@pytest.mark.parametrize(
    "target",
    [
        "/api/video/status?conceptId=a%00b",
        "/api/generations/a%00b",
        "/api/search?q=cat%00s",
        "/api/jobs?jobType=x%00",
        "/api/reflexion?type=critiques&x%00=1",
    ],
)
def test_a_nul_in_a_path_or_query_is_422_before_it_reaches_postgresql(gateway: Gateway, key: str, target: str) -> None:
    answer = gateway.request("GET", target, headers={"Authorization": f"Bearer {key}"})
    assert answer.status == HTTPStatus.UNPROCESSABLE_ENTITY, answer.body
    assert answer.json()["code"] == "VALIDATION_FAILED"
    assert "NUL" in answer.json()["details"][0]["message"]


def test_a_nul_in_a_json_string_is_422_and_nothing_is_written(gateway: Gateway, key: str, tenant_a: uuid.UUID) -> None:
    generation = factories.generation()
    generation["concepts"][0]["title"] = "bad\u0000title"
    status, answer = _send(gateway, "POST", "/api/history", key, json.dumps(generation).encode(), None)
    assert (status, answer["details"][0]["field"]) == (HTTPStatus.UNPROCESSABLE_ENTITY, "concepts.0.title")
    form = _send(
        gateway, "POST", "/api/user/api-keys/generate", key, b"name=a%00b", "application/x-www-form-urlencoded"
    )
    assert form[0] == HTTPStatus.UNPROCESSABLE_ENTITY
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 0


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e999", "-1e999", "1" + "0" * 60])
def test_numbers_json_cannot_hold_are_422_and_nothing_is_stored(
    gateway: Gateway, key: str, tenant_a: uuid.UUID, number: str
) -> None:
    feedback = json.dumps(factories.feedback("c")).replace('"views": 1000', f'"views": {number}')
    assert number in feedback
    history = json.dumps(factories.generation()).replace('"score": 71', f'"score": {number}', 1)
    assert number in history
    for target, body in (("/api/feedback", feedback), ("/api/history", history)):
        status, answer = _send(gateway, "POST", target, key, body.encode(), "application/json")
        assert (status, answer["code"]) == (HTTPStatus.UNPROCESSABLE_ENTITY, "VALIDATION_FAILED"), target
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 0


def test_a_body_nested_thousands_deep_is_refused_not_a_crash(gateway: Gateway, key: str) -> None:
    body = b'{"concept": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    status, answer = _send(gateway, "POST", "/api/reflexion", key, body, "application/json")
    assert (status, answer["code"]) == (HTTPStatus.UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")


def test_feedback_keeps_the_original_400_with_every_problem(gateway: Gateway, key: str) -> None:
    body = {"conceptId": "", "category": "crypto", "platform": "tiktok", "metrics": {"views": 1}}
    status, answer = _send(gateway, "POST", "/api/feedback", key, json.dumps(body).encode(), "text/plain")
    assert (status, answer["error"], answer["code"]) == (
        HTTPStatus.BAD_REQUEST,
        "Validation failed",
        "VALIDATION_FAILED",
    )
    assert {d["field"] for d in answer["details"]} == {
        "conceptId",
        "category",
        "metrics.likes",
        "metrics.comments",
        "metrics.shares",
    }


@pytest.mark.parametrize(
    "body", [{}, {"id": ""}, {"prefix": ""}, {"id": None}, {"all": False}, {"id": "x", "all": True}]
)
def test_revoking_needs_a_key_or_an_explicit_all(
    gateway: Gateway, key: str, tenant_a: uuid.UUID, body: dict[str, Any]
) -> None:
    status, answer = _send(gateway, "POST", "/api/user/api-keys/revoke", key, json.dumps(body).encode(), None)
    assert (status, answer["code"]) == (HTTPStatus.UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
    with tenant_scope(tenant_a):
        assert len(auth.list_api_keys()) == 1, "nothing was revoked"


def test_revoking_all_keys_takes_all_true(gateway: Gateway, key: str, tenant_a: uuid.UUID) -> None:
    with tenant_scope(tenant_a):
        auth.create_api_key(name="second")
    status, answer = _send(gateway, "POST", "/api/user/api-keys/revoke", key, b'{"all": true}', None)
    assert status == HTTPStatus.OK
    assert len(answer["revoked"]) == 2
    with tenant_scope(tenant_a):
        assert auth.list_api_keys() == []


def test_the_dashboard_form_creates_a_key_with_comma_separated_scopes(
    gateway: Gateway, key: str, tenant_a: uuid.UUID
) -> None:
    form = b"name=ci&scopes=read%2Cwrite"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-www-form-urlencoded"}
    answer = gateway.request("POST", "/api/user/api-keys/generate", headers=headers, body=form)
    assert answer.status == HTTPStatus.SEE_OTHER
    with tenant_scope(tenant_a):
        created = [k for k in auth.list_api_keys() if k.name == "ci"]
    assert [tuple(k.scopes) for k in created] == [("read", "write")]

"""docs/openapi.json is generated from the code, and the template declares exactly the routes the code serves."""

from __future__ import annotations

import json
import re

from viral.api.app import build_app, openapi_document

from local.template import SamTemplate
from tests.events import ROOT

DOCUMENT = ROOT / "docs" / "openapi.json"


def test_openapi_document_is_current() -> None:
    generated = json.loads(openapi_document(build_app()))
    committed = json.loads(DOCUMENT.read_text())
    assert committed == generated, (
        "docs/openapi.json is stale: run `.venv/bin/viral openapi --output docs/openapi.json`"
    )


def test_template_routes_match_the_resolver_routes() -> None:
    document = json.loads(openapi_document(build_app()))
    served = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    template = SamTemplate.load(ROOT / "template.yaml")
    declared = {(route.method, route.path) for route in template.api_routes()}
    assert declared == served


def test_every_operation_documents_a_summary() -> None:
    document = json.loads(openapi_document(build_app()))
    missing = [f"{m} {p}" for p, item in document["paths"].items() for m, op in item.items() if not op.get("summary")]
    assert missing == []
    assert all(re.fullmatch(r"/api/[a-z0-9/{}_-]+", path) for path in document["paths"])


def test_the_app_is_built_once_and_its_routers_stay_bound_to_it() -> None:
    from viral.identity import routes as identity_routes

    app = build_app()
    assert build_app() is app
    assert identity_routes.router.api_resolver is app


def _operations() -> list[tuple[str, str, dict[str, object]]]:
    document = json.loads(DOCUMENT.read_text())
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_the_document_is_valid_openapi() -> None:
    from openapi_spec_validator import validate

    validate(json.loads(DOCUMENT.read_text()))


def test_every_operation_is_tagged_by_resource_group_and_declares_typed_answers() -> None:
    untagged = [f"{m} {p}" for m, p, op in _operations() if op.get("tags") in (None, [], ["default"])]
    untyped = [
        f"{m} {p}"
        for m, p, op in _operations()
        for status, answer in op["responses"].items()  # type: ignore[attr-defined]
        if status.startswith("2") and not answer["content"]["application/json"]["schema"]
    ]
    assert (untagged, untyped) == ([], [])


def test_every_body_route_declares_its_body_and_every_error_has_the_real_shape() -> None:
    without_body = [
        f"{m} {p}"
        for m, p, op in _operations()
        if m in ("post", "put")
        and "requestBody" not in op
        and p not in ("/api/trends", "/api/imports", "/api/billing/create-portal")
        and not p.endswith(("/favorite", "/rotate-secret", "/test"))  # actions on the path's resource: no body
    ]
    assert without_body == []
    error_refs = {
        answer["content"]["application/json"]["schema"].get("$ref")  # type: ignore[index]
        for _, path, op in _operations()
        for status, answer in op["responses"].items()  # type: ignore[attr-defined]
        if status[0] in "45" and path != "/api/health"  # its 503 is the health report saying "not ready"
    }
    assert error_refs == {"#/components/schemas/Error"}
    assert "HTTPValidationError" not in DOCUMENT.read_text()


def test_public_routes_need_no_credentials_and_the_others_declare_401() -> None:
    public = {p for m, p, op in _operations() if op.get("security") == []}
    assert public == {"/api/health", "/api/webhooks/stripe", "/api/webhooks/clerk", "/api/social/connect/{platform}"}
    assert all("401" in op["responses"] for _, p, op in _operations() if p not in public)  # type: ignore[operator]

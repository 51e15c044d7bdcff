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
    assert committed == generated, "docs/openapi.json is stale: run `.venv/bin/viral openapi`"


def test_template_routes_match_the_resolver_routes() -> None:
    document = json.loads(openapi_document(build_app()))
    served = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    template = SamTemplate.load(ROOT / "template.yaml")
    declared = {
        (route.method, route.path) for route in template.api_routes() if route.function.logical_id == "ApiFunction"
    }
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

"""The API's OpenAPI document: what the resolver generates from the routes, completed with what every route shares
(the real error answers, tags per resource group, the dashboard's form bodies, the public routes) and the two
webhook routes, which are served by functions of their own."""

from __future__ import annotations

import copy
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from viral.http.openapi import ErrorBody

TITLE = "Viral Dashboard API"
VERSION = "1.0.0"
DESCRIPTION = (
    "The Viral Dashboard backend: the original dashboard's /api contract plus new routes. Authenticate with an API "
    "key (`Authorization: Bearer vd_...` or `X-API-Key`) or a Clerk session token. Every error answers "
    "`{error, code, details?}`."
)
ERROR_REF = "#/components/schemas/Error"
PUBLIC = frozenset({"/api/health", "/api/webhooks/stripe", "/api/webhooks/clerk", "/api/social/connect/{platform}"})
# Public routes a browser is sent to: they answer a redirect (303), never a body.
REDIRECTS = frozenset({"/api/social/connect/{platform}"})
BODY_METHODS = frozenset({"post", "put", "patch"})
# The dashboard's HTML forms post these (urlencoded, or multipart), API clients send the same fields as JSON.
FORM_BODIES = frozenset({"/api/user/api-keys/generate", "/api/user/api-keys/revoke", "/api/billing/create-checkout"})

ERRORS: dict[int, str] = {
    400: "The request cannot be read: a body that is not UTF-8 or not JSON, multipart without a boundary",
    401: "No valid credentials",
    403: "Valid credentials without the scope or role this needs",
    404: "Not found in this tenant",
    409: "Clashes with the current state",
    413: "The body is larger than the gateway's 10 MB",
    415: "A media type the API cannot read (send JSON; text/plain is read as JSON)",
    422: "Validation failed: `details` lists each field and what is wrong with it",
    429: "Rate limited (`Retry-After`) or the plan's quota is used up",
    503: "A dependency is unavailable for now: try again",
}
RATE_LIMIT_HEADERS = {
    "Retry-After": {"description": "seconds until a new request may succeed", "schema": {"type": "integer"}},
}

TAGS: tuple[tuple[str, str, str], ...] = (
    ("/api/health", "health", "Liveness and readiness"),
    ("/api/generate", "concepts", "Concepts from trends, scored"),
    ("/api/trends", "concepts", ""),
    ("/api/history", "generations", "The tenant's generations: list, save, delete, search, analytics"),
    ("/api/user/concepts", "generations", ""),
    ("/api/generations", "generations", ""),
    ("/api/search", "generations", ""),
    ("/api/analytics", "generations", ""),
    ("/api/feedback", "feedback", "Real performance of concepts"),
    ("/api/reflexion", "reflexion", "The learning loop: critiques, insights, adjustments, score models"),
    ("/api/user/api-keys", "api-keys", "API keys"),
    ("/api/user", "account", "Plan, quota and settings"),
    ("/api/billing", "billing", "Stripe Checkout and billing portal"),
    ("/api/webhooks", "webhooks", "Signed deliveries from Stripe and Clerk (separate functions)"),
    ("/api/video", "videos", "Concepts rendered into videos"),
    ("/api/videos", "videos", ""),
    ("/api/imports", "imports", "Imports of the original dashboard's browser data"),
    ("/api/jobs", "jobs", "The tenant's asynchronous job ledger"),
    ("/api/webhook-endpoints", "webhook-endpoints", "Outbound webhooks: endpoints, signing secrets, deliveries"),
    ("/api/social", "social", "Connected TikTok, YouTube, Instagram and sandbox accounts"),
    ("/api/posts", "posts", "Scheduled and published posts"),
    ("/api/metrics", "metrics", "The tenant's metrics: Prometheus text, JSON and alerts"),
    ("/api/autopilot", "autopilot", "The autopilot: daily concepts rendered and posted with nobody clicking"),
)


def openapi_document(app: APIGatewayRestResolver) -> str:
    """The OpenAPI 3.1 document of the API (docs/openapi.json, the docs page, generated clients)."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Tag

    generated = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=DESCRIPTION,
            tags=[Tag(name=name, description=text) for _, name, text in TAGS if text],
            security_schemes={"bearer": HTTPBearer(description="API key (vd_...) or Clerk session token")},
            security=[{"bearer": []}],
        )
    )
    return json.dumps(complete(generated), indent=2)


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """The generated document with the shared answers, tags, form bodies, public routes and webhooks."""
    document = copy.deepcopy(document)
    document["paths"].update(WEBHOOKS)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            operation["tags"] = [_tag(path)]
            if path in PUBLIC:
                operation["security"] = []
            if path in FORM_BODIES and "requestBody" in operation:
                _add_form_bodies(operation["requestBody"])
            _add_errors(path, method, operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ErrorBody.model_json_schema()
    text = json.dumps(document)
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        if f'"#/components/schemas/{unused}"' not in text:
            schemas.pop(unused, None)
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def _tag(path: str) -> str:
    for prefix, name, _ in TAGS:
        if path == prefix or path.startswith(prefix + "/"):
            return name
    raise ValueError(f"{path} has no tag: add its resource group to TAGS")


def _add_form_bodies(body: dict[str, Any]) -> None:
    schema = body["content"]["application/json"]["schema"]
    body["content"]["application/x-www-form-urlencoded"] = {"schema": schema}
    body["content"]["multipart/form-data"] = {"schema": schema}


def _error(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }
    if status == 429:
        answer["headers"] = RATE_LIMIT_HEADERS
    return answer


def _add_errors(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    if path in WEBHOOKS:
        return
    if path in REDIRECTS:
        responses.pop("200", None)
        responses["303"] = {"description": "Back to the dashboard (?success=<platform> or ?error=<reason>)"}
    responses.get("303", {}).pop("content", None)  # a redirect has no body
    if "422" in responses:
        responses["422"] = _error(422)
    statuses = ([422, 503] if path in REDIRECTS else [503]) if path in PUBLIC else [401, 403, 404, 422, 429, 503]
    if method in BODY_METHODS and path not in PUBLIC:
        statuses += [400, 409, 413, 415]
    for status in statuses:
        if status == 503 and "503" in responses:
            continue
        responses[str(status)] = _error(status)
    operation["responses"] = dict(sorted(responses.items()))


RECEIPT_STATUSES = ["queued", "duplicate", "ignored", "processed"]


def _webhook(summary: str, signature_headers: dict[str, str]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "operationId": summary.split(":")[0].lower().replace(" ", "_"),
            "parameters": [
                {"name": name, "in": "header", "required": True, "schema": {"type": "string"}, "description": text}
                for name, text in signature_headers.items()
            ],
            "requestBody": {
                "required": True,
                "description": "the sender's event, exactly as signed (verified on the raw bytes)",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {
                    "description": "Received (recorded once; a repeat is a duplicate)",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "received": {"type": "boolean"},
                                    "status": {
                                        "type": "string",
                                        "enum": ["queued", "duplicate", "ignored", "processed"],
                                    },
                                },
                                "required": ["received", "status"],
                            }
                        }
                    },
                },
                "400": {
                    "description": "A missing or bad signature, a stale timestamp, or an event that cannot be read",
                    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                },
                "413": _error(413),
                "503": {
                    "description": "No signing secret is configured (deliveries are refused, never unverified)",
                    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                },
            },
        }
    }


WEBHOOKS: dict[str, Any] = {
    "/api/webhooks/stripe": _webhook(
        "Stripe webhook: verify, record once, queue for the billing worker",
        {"Stripe-Signature": "t=<timestamp>,v1=<HMAC-SHA256 of `<timestamp>.<body>`>"},
    ),
    "/api/webhooks/clerk": _webhook(
        "Clerk webhook: verify Svix's signature, keep users and organisations in step",
        {
            "svix-id": "the delivery's id (deduplicated)",
            "svix-timestamp": "seconds since the epoch",
            "svix-signature": "v1,<base64 HMAC-SHA256>",
        },
    ),
}

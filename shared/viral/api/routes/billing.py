"""/api/billing: Stripe Checkout and the billing portal (303 to Stripe for dashboard forms, JSON for API clients)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from viral.api.context import principal
from viral.api.middleware import rate_limited
from viral.errors import Forbidden, InvalidInput
from viral.services.billing import BillingRedirect, open_billing_portal, start_checkout

router = Router()


def _require_billing_admin() -> None:
    """Billing changes what the whole tenant pays: an ADMIN session, or an API key with the admin scope."""
    caller = principal(router)
    if caller.method == "clerk" and caller.role != "ADMIN":
        raise Forbidden("only an ADMIN can manage billing")
    if caller.method == "api_key" and "admin" not in caller.scopes:
        raise Forbidden("this API key lacks the 'admin' scope")


def _headers() -> dict[str, str]:
    return {k.lower(): v for k, v in (router.current_event.headers or {}).items()}


def _is_form_post() -> bool:
    headers = _headers()
    content_type = headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")) or (
        "text/html" in headers.get("accept", "") and "application/json" not in content_type
    )


def _fields() -> dict[str, Any]:
    """The request's fields: an urlencoded or multipart form (the dashboard's), or a JSON object."""
    raw = router.current_event.decoded_body or ""
    content_type = _headers().get("content-type", "")
    if not raw.strip():
        return {}
    if content_type.startswith("multipart/form-data"):
        return _multipart(raw.encode(), content_type)
    if _is_form_post():
        return {k: v[-1] for k, v in parse_qs(raw).items()}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput("body must be JSON") from exc
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    return body


def _multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    if not message.is_multipart():
        raise InvalidInput("the multipart form could not be read")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str) and not part.get_filename():
            fields[name] = str(part.get_content()).strip()
    return fields


def _answer(redirect: BillingRedirect) -> Response[str]:
    if _is_form_post():
        # 303, not the original's 307: the browser follows with a GET instead of re-posting the form to Stripe.
        return Response(
            status_code=HTTPStatus.SEE_OTHER,
            content_type=content_types.TEXT_PLAIN,
            body="",
            headers={"Location": redirect.url},
        )
    answer: dict[str, Any] = {"url": redirect.url}
    if redirect.session_id:
        answer["sessionId"] = redirect.session_id
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, json.dumps(answer))


@router.post(
    "/api/billing/create-checkout",
    summary="Start a Stripe Checkout for a plan (form field or JSON `tier`: STARTER, PRO or AGENCY)",
    middlewares=[rate_limited("billing")],
)
def create_checkout() -> Response[str]:
    _require_billing_admin()
    tier = _fields().get("tier")
    if not isinstance(tier, str):
        raise InvalidInput(
            "Invalid subscription tier", details=[{"field": "tier", "message": "must be STARTER, PRO or AGENCY"}]
        )
    return _answer(start_checkout(tier))


@router.post(
    "/api/billing/create-portal",
    summary="Open the Stripe billing portal for the tenant (manage plan, payment method, invoices)",
    middlewares=[rate_limited("billing")],
)
def create_portal() -> Response[str]:
    _require_billing_admin()
    return _answer(open_billing_portal())

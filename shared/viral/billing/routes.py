"""/api/billing: Stripe Checkout and the billing portal (303 to Stripe for dashboard forms, JSON for API clients)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from viral.billing.service import BillingRedirect, open_billing_portal, start_checkout
from viral.errors import InvalidInput
from viral.http.access import require_admin
from viral.http.forms import is_form_post, request_fields
from viral.http.rate_limits import rate_limited

router = Router()


def _require_billing_admin() -> None:
    """Billing changes what the whole tenant pays: only an admin (see require_admin)."""
    require_admin(router, what="billing")


def _is_form_post() -> bool:
    return is_form_post(router)


def _fields() -> dict[str, Any]:
    return request_fields(router)


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

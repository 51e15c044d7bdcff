"""/api/billing: Stripe Checkout and the billing portal (303 to Stripe for dashboard forms, JSON for API clients)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import field_validator

from viral.billing.service import BillingRedirect, open_billing_portal, start_checkout
from viral.http.access import require_admin
from viral.http.forms import FormOrJson, is_form_post
from viral.http.openapi import answers
from viral.http.rate_limits import rate_limited
from viral.wire import CamelModel

router = Router()
TO_STRIPE = "the dashboard's HTML form: on to Stripe"


class CheckoutBody(FormOrJson):
    """The plan to subscribe to (the dashboard's form field `tier`, or JSON), in any letter case."""

    tier: Literal["STARTER", "PRO", "AGENCY"]

    @field_validator("tier", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


class BillingUrl(CamelModel):
    url: str
    session_id: str | None = None


def _require_billing_admin() -> None:
    """Billing changes what the whole tenant pays: only an admin (see require_admin)."""
    require_admin(router, what="billing")


def _is_form_post() -> bool:
    return is_form_post(router)


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
    responses=answers(BillingUrl, redirect=TO_STRIPE),
)
def create_checkout(body: CheckoutBody) -> Response[str]:
    _require_billing_admin()
    return _answer(start_checkout(body.tier))


@router.post(
    "/api/billing/create-portal",
    summary="Open the Stripe billing portal for the tenant (manage plan, payment method, invoices)",
    middlewares=[rate_limited("billing")],
    responses=answers(BillingUrl, redirect=TO_STRIPE),
)
def create_portal() -> Response[str]:
    _require_billing_admin()
    return _answer(open_billing_portal())

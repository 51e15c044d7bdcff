"""A fake Stripe API on a real local socket: customers, Checkout sessions, billing portal sessions, subscriptions.

It speaks Stripe's wire format: form-encoded requests with bracketed keys (`metadata[tenant_id]=...`), JSON
objects with `object` and `id`, the `{"error": {"type", "code", "message", "param"}}` envelope, `Request-Id` and
`Idempotency-Key` headers, 401 for a wrong key, and injectable 429 / 5xx answers. Subscriptions are served in the
shape of API version 2025-03-31 and later (the billing period on the subscription items).

It also plays Stripe's side of a purchase: `complete_checkout` creates the subscription and returns the events
Stripe would send, and `sign` signs a payload exactly as Stripe signs webhook deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

from local.fakes.http_server import FakeServer, Reply, Request

API_VERSION = "2026-10-28.endive"
MONTH_S = 30 * 24 * 3600


def sign(payload: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<payload>")>."""
    body = payload.encode() if isinstance(payload, str) else payload
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def form_params(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding back to nested values: `a[b][0][c]=v` -> {"a": {"b": [{"c": "v"}]}}."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


def _error(status: int, kind: str, message: str, *, code: str | None = None, param: str | None = None) -> Reply:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return Reply(status, json.dumps({"error": error}), {"Request-Id": "req_fake_error"})


class _EveryPath(dict):  # type: ignore[type-arg]
    """FakeServer looks routes up by exact path; Stripe's have ids in them, so one dispatcher takes every path."""

    def __init__(self, dispatch: Any) -> None:
        super().__init__()
        self.dispatch = dispatch

    def get(self, key: Any, default: Any = None) -> Any:
        return self.dispatch


class FakeStripe:
    """Stripe's API for one account in test mode (state kept in memory, every request recorded)."""

    def __init__(self, *, api_key: str = "sk_test_fake_key", prices: tuple[str, ...] = ()) -> None:
        self.api_key = api_key
        self.prices = set(prices)
        self.server = FakeServer()
        self.server.routes = _EveryPath(self._dispatch)
        self.customers: dict[str, dict[str, Any]] = {}
        self.checkout_sessions: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[str, Reply] = {}
        self._failures: dict[str, list[Reply]] = {}
        self._ids = itertools.count(1)
        self._account = uuid.uuid4().hex[:10]  # ids stay unique across fakes sharing one test database
        self._lock = threading.Lock()

    @contextmanager
    def running(self) -> Iterator[FakeStripe]:
        with self.server.running():
            yield self

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    def count(self, method: str, path: str) -> int:
        return self.server.count(method, path)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{self._account}{next(self._ids):06d}"

    # --- failure injection ---------------------------------------------------------------------------------

    def rate_limit(self, path: str, times: int = 1) -> None:
        """The next `times` requests to `path` get Stripe's 429."""
        reply = _error(429, "invalid_request_error", "Request rate limit exceeded.", code="rate_limit")
        self._failures.setdefault(path, []).extend([reply] * times)

    def fail(self, path: str, times: int = 1, status: int = 500) -> None:
        """The next `times` requests to `path` fail with a Stripe api_error (5xx)."""
        reply = _error(status, "api_error", "An unknown error occurred")
        self._failures.setdefault(path, []).extend([reply] * times)

    # --- the API -----------------------------------------------------------------------------------------------

    def _dispatch(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided: sk_test_****")
        with self._lock:
            queued = self._failures.get(request.path)
            if queued:
                return queued.pop(0)
            key = request.headers.get("idempotency-key")
            if key and key in self._idempotent:
                return self._idempotent[key]
            reply = self._route(request)
            if key and reply.status < 500:
                self._idempotent[key] = reply
            return reply

    def _route(self, request: Request) -> Reply:
        params = form_params(request.body) if request.method == "POST" else {}
        if (request.method, request.path) == ("POST", "/v1/customers"):
            return self._create_customer(params)
        if (request.method, request.path) == ("POST", "/v1/checkout/sessions"):
            return self._create_checkout_session(params)
        if (request.method, request.path) == ("POST", "/v1/billing_portal/sessions"):
            return self._create_portal_session(params)
        if request.method == "GET" and request.path.startswith("/v1/subscriptions/"):
            return self._retrieve_subscription(request.path.removeprefix("/v1/subscriptions/"))
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path}).")

    @staticmethod
    def _ok(obj: dict[str, Any]) -> Reply:
        return Reply(200, json.dumps(obj), {"Request-Id": "req_fake", "Stripe-Version": API_VERSION})

    def _create_customer(self, params: dict[str, Any]) -> Reply:
        customer = {
            "id": self._id("cus"),
            "object": "customer",
            "name": params.get("name"),
            "email": params.get("email"),
            "metadata": params.get("metadata", {}),
            "created": int(time.time()),
            "livemode": False,
        }
        self.customers[customer["id"]] = customer
        return self._ok(customer)

    def _missing(self, what: str, value: Any, param: str) -> Reply:
        return _error(400, "invalid_request_error", f"No such {what}: '{value}'", code="resource_missing", param=param)

    def _create_checkout_session(self, params: dict[str, Any]) -> Reply:
        if params.get("mode") not in ("payment", "setup", "subscription"):
            return _error(400, "invalid_request_error", "Invalid mode", code="parameter_invalid_empty", param="mode")
        if params.get("customer") not in self.customers:
            return self._missing("customer", params.get("customer"), "customer")
        items = params.get("line_items") or []
        if not items or items[0].get("price") not in self.prices:
            price = items[0].get("price") if items else None
            return self._missing("price", price, "line_items[0][price]")
        session_id = self._id("cs_test")
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "customer": params["customer"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "subscription": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "created": now,
            "expires_at": now + 86_400,
            "livemode": False,
        }
        self.checkout_sessions[session_id] = {
            **session,
            "_price": items[0]["price"],
            "_subscription_metadata": (params.get("subscription_data") or {}).get("metadata", {}),
        }
        return self._ok(session)

    def _create_portal_session(self, params: dict[str, Any]) -> Reply:
        if params.get("customer") not in self.customers:
            return self._missing("customer", params.get("customer"), "customer")
        session_id = self._id("bps")
        session = {
            "id": session_id,
            "object": "billing_portal.session",
            "customer": params["customer"],
            "return_url": params.get("return_url"),
            "url": f"https://billing.stripe.com/p/session/{session_id}",
            "created": int(time.time()),
            "livemode": False,
        }
        self.portal_sessions[session_id] = session
        return self._ok(session)

    def _retrieve_subscription(self, subscription_id: str) -> Reply:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            return self._missing("subscription", subscription_id, "id")
        return self._ok(subscription)

    # --- Stripe's side of a purchase -------------------------------------------------------------------------

    def add_customer(self, *, metadata: dict[str, str]) -> str:
        """A customer made outside our API (e.g. in Stripe's dashboard); its id."""
        with self._lock:
            return str(json.loads(self._create_customer({"metadata": metadata}).body)["id"])

    def add_subscription(
        self, *, customer: str, price: str, metadata: dict[str, str], start: int, status: str = "active"
    ) -> dict[str, Any]:
        subscription_id = self._id("sub")
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "metadata": dict(metadata),
            "start_date": start,
            "created": start,
            "latest_invoice": None,
            "livemode": False,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self._id("si"),
                        "object": "subscription_item",
                        "quantity": 1,
                        "price": {
                            "id": price,
                            "object": "price",
                            "recurring": {"interval": "month", "interval_count": 1},
                        },
                        "current_period_start": start,
                        "current_period_end": start + MONTH_S,
                    }
                ],
            },
        }
        self.subscriptions[subscription_id] = subscription
        return subscription

    def complete_checkout(self, session_id: str, *, now: int | None = None) -> list[dict[str, Any]]:
        """Pay the session: create its subscription; the events Stripe would send, in the order it sends them."""
        now = int(time.time()) if now is None else now
        session = self.checkout_sessions[session_id]
        subscription = self.add_subscription(
            customer=session["customer"],
            price=session["_price"],
            metadata=session["_subscription_metadata"],
            start=now,
        )
        session.update(status="complete", payment_status="paid", subscription=subscription["id"])
        public_session = {k: v for k, v in session.items() if not k.startswith("_")}
        return [
            self.event("customer.subscription.created", subscription, created=now),
            self.event("invoice.paid", self.invoice(subscription["id"], reason="subscription_create"), created=now),
            self.event("checkout.session.completed", public_session, created=now),
        ]

    def invoice(self, subscription_id: str, *, reason: str, status: str = "paid") -> dict[str, Any]:
        """An invoice of the subscription's current period (2025-03-31+ shape: `parent.subscription_details`)."""
        subscription = self.subscriptions[subscription_id]
        item = subscription["items"]["data"][0]
        return {
            "id": self._id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "status": status,
            "billing_reason": reason,
            "amount_due": 2900,
            "amount_paid": 2900 if status == "paid" else 0,
            "attempt_count": 1,
            "currency": "usd",
            "period_start": item["current_period_start"],
            "period_end": item["current_period_start"],
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription_id, "metadata": subscription["metadata"]},
            },
            "lines": {
                "object": "list",
                "data": [
                    {
                        "id": self._id("il"),
                        "amount": 2900,
                        "period": {"start": item["current_period_start"], "end": item["current_period_end"]},
                    }
                ],
            },
        }

    def renew(self, subscription_id: str, *, at: int) -> None:
        """Start the subscription's next period at `at`."""
        item = self.subscriptions[subscription_id]["items"]["data"][0]
        item.update(current_period_start=at, current_period_end=at + MONTH_S)

    def event(self, event_type: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
        """An event envelope as Stripe delivers it (a snapshot of `obj` now)."""
        return {
            "id": self._id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": json.loads(json.dumps(obj))},
        }

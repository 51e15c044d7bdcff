"""httpx clients with explicit timeouts, and vendor failures translated into retryable or permanent errors."""

from __future__ import annotations

from typing import Any

import httpx

from viral.db.uow import transaction_open
from viral.errors import Permanent, Retryable

USER_AGENT = "ViralDashboard/1.0 (+https://github.com/viral-dashboard)"


def outside_transactions(request: httpx.Request) -> None:
    """An httpx request hook: a vendor call never happens while this context holds a database transaction.

    A slow vendor would hold the transaction (and its row locks) open for seconds; claim in one transaction,
    call outside, finish in another. Raising here makes any slip fail in tests instead of under load.
    """
    if transaction_open():
        raise RuntimeError(f"network call to {request.url.host} inside a database transaction")


def make_client(*, connect_s: float = 2.0, read_s: float = 5.0, **kwargs: Any) -> httpx.Client:
    """A client that never waits forever (connect, read, write and pool timeouts all set), and never runs inside a
    database transaction.
    """
    timeout = httpx.Timeout(connect=connect_s, read=read_s, write=read_s, pool=connect_s)
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    hooks = kwargs.pop("event_hooks", {})
    hooks = {**hooks, "request": [outside_transactions, *hooks.get("request", [])]}
    return httpx.Client(timeout=timeout, headers=headers, follow_redirects=False, event_hooks=hooks, **kwargs)


def raise_for_vendor(response: httpx.Response, vendor: str) -> None:
    """429 and 5xx are retryable, other 4xx permanent; the vendor's body never reaches our error message."""
    if response.is_success:
        return
    status = response.status_code
    if status == 429 or status >= 500:
        raise Retryable(
            f"{vendor} answered {status}", details={"status": status, "retryAfter": response.headers.get("Retry-After")}
        )
    raise Permanent(f"{vendor} answered {status}", details={"status": status})


def get_json(client: httpx.Client, url: str, vendor: str, **kwargs: Any) -> Any:
    """GET and decode JSON; transport failures are retryable, undecodable answers permanent."""
    try:
        response = client.get(url, **kwargs)
    except httpx.TimeoutException as exc:
        raise Retryable(f"{vendor} timed out") from exc
    except httpx.TransportError as exc:
        raise Retryable(f"{vendor} is unreachable") from exc
    raise_for_vendor(response, vendor)
    try:
        return response.json()
    except ValueError as exc:
        raise Permanent(f"{vendor} answered with malformed JSON") from exc

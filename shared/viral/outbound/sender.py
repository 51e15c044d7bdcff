"""One signed POST to an endpoint (Standard Webhooks), with short timeouts, no redirects and a capped answer."""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import httpcore
from standardwebhooks.webhooks import Webhook

from viral.outbound.safety import GuardedBackend, Policy, UnsafeDestination, check_url

BODY_LIMIT = 256  # bytes of an endpoint's answer we keep
USER_AGENT = "ViralDashboard-Webhooks/1"


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code, or an error (timeout, refused, connection failure)."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    body: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def envelope(event_type: str, timestamp: datetime, data: dict[str, Any]) -> bytes:
    """The body every endpoint receives: {type, timestamp, data}, compact JSON (signed byte for byte)."""
    body = {"type": event_type, "timestamp": timestamp.isoformat().replace("+00:00", "Z"), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(webhook_id: str, body: bytes, secrets: list[str], *, now: datetime | None = None) -> dict[str, str]:
    """webhook-id, webhook-timestamp (now: each attempt is signed afresh) and one v1 signature per live secret."""
    moment = now or datetime.now(UTC)
    signatures = " ".join(Webhook(secret).sign(webhook_id, moment, body) for secret in secrets)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


@lru_cache(maxsize=2)
def _pool(policy: Policy) -> httpcore.ConnectionPool:
    """One connection pool per execution environment (keep-alive to busy endpoints), guarded per connection."""
    return httpcore.ConnectionPool(
        ssl_context=ssl.create_default_context(),
        max_connections=20,
        max_keepalive_connections=20,
        keepalive_expiry=30.0,
        retries=0,
        network_backend=GuardedBackend(policy),
    )


def reset_pool() -> None:
    _pool.cache_clear()


def post(url: str, headers: dict[str, str], body: bytes, *, policy: Policy, timeout_s: float) -> Outcome:
    """POST once; never raises for what the endpoint or the network did (that is the outcome)."""
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        check_url(url, policy)  # again at delivery time: the endpoint may now resolve elsewhere
    except UnsafeDestination as refused:
        return Outcome(None, elapsed(), f"refused: {refused.message}")
    timeouts = {"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
    try:
        with _pool(policy).stream(
            "POST", url, headers=list(headers.items()), content=body, extensions={"timeout": timeouts}
        ) as response:
            kept = _read_capped(response)
            status = response.status
    except httpcore.TimeoutException:
        return Outcome(None, elapsed(), f"timed out after {timeout_s:g} s")
    except httpcore.ConnectError as error:
        return Outcome(None, elapsed(), f"could not connect: {str(error)[:200]}")
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as error:
        return Outcome(None, elapsed(), f"{type(error).__name__}: {str(error)[:200]}")
    text = kept.decode("utf-8", errors="replace") if kept else None
    if 300 <= status < 400:
        return Outcome(status, elapsed(), "redirects are not followed", text)
    return Outcome(status, elapsed(), None if 200 <= status < 300 else f"HTTP {status}", text)


def _read_capped(response: httpcore.Response) -> bytes:
    """The first BODY_LIMIT bytes; the rest is not read (closing the stream drops the connection if needed)."""
    kept = b""
    for chunk in response.iter_stream():
        kept += chunk
        if len(kept) >= BODY_LIMIT:
            break
    return kept[:BODY_LIMIT]

"""The per-route rate-limit middleware. Routes declare their bucket (`middlewares=[rate_limited("generate")]`); the
API assembly plugs in the limiter that counts requests (the operations domain's, which reads each tenant's plan).

The limiter is injected rather than imported so that any domain's routes can be rate-limited without depending on
the domain that keeps the counters (which itself depends on billing's plans): imports keep pointing one way.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from viral.errors import Forbidden
from viral.http.errors import error_body, json_response
from viral.settings import get_settings


class RateDecision(Protocol):
    @property
    def allowed(self) -> bool: ...

    @property
    def retry_after_s(self) -> int: ...

    def headers(self) -> dict[str, str]: ...

    def refund(self) -> None: ...


Limiter = Callable[[str], RateDecision]
_limiter: list[Limiter] = []


def use_rate_limiter(limiter: Limiter) -> None:
    """Install the limiter every `rate_limited` route consults (the API assembly calls this once)."""
    _limiter[:] = [limiter]


def rate_limited(bucket: str) -> Callable[[APIGatewayRestResolver, NextMiddleware], Response[Any]]:
    """A route middleware: count the request in the tenant's window for `bucket`; 429 with Retry-After past it."""

    def middleware(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        if not get_settings().rate_limit_enabled:
            return next_middleware(app)
        if not _limiter:
            raise RuntimeError("no rate limiter installed: build the API with viral.api.app.build_app")
        decision = _limiter[0](bucket)
        if not decision.allowed:
            headers = {**decision.headers(), "Retry-After": str(decision.retry_after_s)}
            message = f"Rate limit exceeded. Try again in {decision.retry_after_s}s"
            return json_response(HTTPStatus.TOO_MANY_REQUESTS, error_body(message, "RATE_LIMIT_EXCEEDED"), headers)
        try:
            response = next_middleware(app)
        except Forbidden:
            # Refused for what the caller may do, not for how often: a missing scope never uses up the window.
            decision.refund()
            raise
        response.headers.update(decision.headers())
        return response

    return middleware

"""The per-route rate-limit middleware: each tenant's requests counted in a window per bucket."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from viral.http.errors import error_body, json_response
from viral.operations.usage import hit_rate_limit
from viral.settings import get_settings


def rate_limited(bucket: str) -> Callable[[APIGatewayRestResolver, NextMiddleware], Response[Any]]:
    """A route middleware: count the request in the tenant's window for `bucket`; 429 with Retry-After past it."""

    def middleware(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        if not get_settings().rate_limit_enabled:
            return next_middleware(app)
        decision = hit_rate_limit(bucket)
        if not decision.allowed:
            headers = {**decision.headers(), "Retry-After": str(decision.retry_after_s)}
            message = f"Rate limit exceeded. Try again in {decision.retry_after_s}s"
            return json_response(HTTPStatus.TOO_MANY_REQUESTS, error_body(message, "RATE_LIMIT_EXCEEDED"), headers)
        response = next_middleware(app)
        response.headers.update(decision.headers())
        return response

    return middleware

"""Middlewares of the Api function: bind the tenant from the authorizer, rate-limit, record usage."""

from __future__ import annotations

import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from viral.errors import DomainError, Unauthorized
from viral.http import error_body, json_response, status_of
from viral.observability import logger
from viral.services.auth import Principal
from viral.services.usage import hit_rate_limit, usage_recorder
from viral.settings import get_settings
from viral.tenancy import tenant_scope

PUBLIC_RESOURCES = frozenset({"/api/health"})


def authenticated(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Bind the authorizer's tenant for the request; the client's own headers never choose it."""
    if app.current_event.resource in PUBLIC_RESOURCES:
        return next_middleware(app)
    context = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    try:
        caller = Principal.from_context(context)
    except Unauthorized:
        return json_response(HTTPStatus.UNAUTHORIZED, error_body("Unauthorized", "UNAUTHORIZED"))
    app.append_context(principal=caller)
    logger.append_keys(tenant_id=str(caller.tenant_id), auth_method=caller.method)
    started = time.perf_counter()
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    try:
        with tenant_scope(caller.tenant_id):
            response = next_middleware(app)
        status = HTTPStatus(response.status_code)
        return response
    except DomainError as error:  # answered by the error handlers after this middleware
        status = status_of(error)
        raise
    finally:
        usage_recorder.record(
            tenant_id=caller.tenant_id,
            api_key_id=caller.api_key_id,
            endpoint=app.current_event.resource,
            method=app.current_event.http_method,
            status_code=int(status),
            response_time_ms=int((time.perf_counter() - started) * 1000),
        )


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

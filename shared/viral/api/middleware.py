"""The Api function's global middleware: bind the tenant from the authorizer and record usage."""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from viral.caller import Principal
from viral.errors import DomainError, Unauthorized
from viral.http.errors import error_body, json_response, status_of
from viral.observability import logger
from viral.operations.usage import usage_recorder
from viral.social.routes import CONNECT_RESOURCE
from viral.tenancy import tenant_scope

PUBLIC_RESOURCES = frozenset({"/api/health", CONNECT_RESOURCE})


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
        status = status_of(error, invalid_input=HTTPStatus.UNPROCESSABLE_ENTITY)
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

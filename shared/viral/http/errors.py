"""Domain errors to HTTP answers, in one place: `{"error": ..., "code": ..., "details"?}` JSON, never internals."""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from viral import errors
from viral.observability import logger

STATUS: dict[type[errors.DomainError], HTTPStatus] = {
    errors.InvalidInput: HTTPStatus.BAD_REQUEST,
    errors.NotFound: HTTPStatus.NOT_FOUND,
    errors.Conflict: HTTPStatus.CONFLICT,
    errors.QuotaExceeded: HTTPStatus.TOO_MANY_REQUESTS,
    errors.Unauthorized: HTTPStatus.UNAUTHORIZED,
    errors.Forbidden: HTTPStatus.FORBIDDEN,
    errors.TenantScopeMissing: HTTPStatus.UNAUTHORIZED,
    errors.Retryable: HTTPStatus.SERVICE_UNAVAILABLE,
    errors.Permanent: HTTPStatus.BAD_GATEWAY,
}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body), headers=headers
    )


def error_body(message: str, code: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message, "code": code}
    if details is not None:
        body["details"] = details
    return body


def status_of(error: errors.DomainError, *, invalid_input: HTTPStatus = HTTPStatus.BAD_REQUEST) -> HTTPStatus:
    """The answer's status: the error's own `http_status` if it names one, else by kind (`invalid_input` for
    InvalidInput: the API answers every validation error 422, the webhooks keep the senders' 400)."""
    own = getattr(error, "http_status", None)
    if isinstance(own, int):
        return HTTPStatus(own)
    if isinstance(error, errors.InvalidInput):
        return invalid_input
    for kind in type(error).__mro__:
        status = STATUS.get(kind)
        if status is not None:
            return status
    return HTTPStatus.INTERNAL_SERVER_ERROR


def register_error_handlers(app: APIGatewayRestResolver, *, invalid_input: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
    """Map every domain error, request validation and anything unexpected to a JSON answer."""

    @app.exception_handler(errors.DomainError)
    def _domain(error: errors.DomainError) -> Response[str]:
        status = status_of(error, invalid_input=invalid_input)
        # Client errors are expected: info, not exception; a retryable 503 is a warning.
        (logger.warning if status >= 500 else logger.info)(
            "request refused", extra={"status": int(status), "code": error.code}
        )
        return json_response(status, error_body(error.message, error.code, error.details), _extra_headers(error))

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[str]:
        details = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")) or "body",
                "message": e.get("msg", "invalid"),
            }
            for e in error.errors()
        ]
        return json_response(
            HTTPStatus.UNPROCESSABLE_ENTITY, error_body("Validation failed", "VALIDATION_FAILED", details)
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_: RequestUnsupportedContentType) -> Response[str]:
        return json_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, error_body("Unsupported media type: send JSON", "UNSUPPORTED_MEDIA_TYPE")
        )

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return json_response(HTTPStatus.INTERNAL_SERVER_ERROR, error_body("Internal server error", "INTERNAL_ERROR"))

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return json_response(HTTPStatus.NOT_FOUND, error_body("Not found", "NOT_FOUND"))


def _extra_headers(error: errors.DomainError) -> dict[str, str] | None:
    headers = getattr(error, "headers", None)
    return dict(headers) if isinstance(headers, dict) else None


def raw_body(event: Any) -> bytes:
    """The exact bytes the sender signed (a webhook's signature never covers a re-serialised body)."""
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode()


def without_base_path(event: dict[str, Any], base_path: str) -> dict[str, Any]:
    """The proxy event with a custom domain's base path (API_BASE_PATH, e.g. `v1`) taken off its path.

    Behind `https://<domain>/v1` API Gateway passes `/v1/api/...` as the path, while the routes are `/api/...`.
    """
    prefix = "/" + base_path.strip("/")
    path = event.get("path")
    if prefix == "/" or not isinstance(path, str) or not (path == prefix or path.startswith(prefix + "/")):
        return event
    return {**event, "path": path[len(prefix) :] or "/"}

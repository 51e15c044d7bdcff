"""The front door of the API function: a request's body and parameters checked once, before any route or validation.

What a route reads is always UTF-8 text of a media type we understand, with no NUL character (PostgreSQL cannot
store one in text) and no number JSON cannot represent (Infinity, NaN, 1e999). What fails here is a clear 4xx with
the one error shape, never a 500 from deeper down.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator, Mapping
from http import HTTPStatus
from typing import Any

from viral.errors import DomainError

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# text/plain is what the browser's fetch() sends a string body as; its content is the client's JSON.
READ_AS_JSON = frozenset({JSON, "text/plain"})
ACCEPTED = (JSON, "text/plain", FORM, MULTIPART)
MAX_INTEGER_DIGITS = 40  # a larger integer is no count, id or amount this API knows (and Python caps them anyway)


class RequestRefused(DomainError):
    """The request cannot be read; answered before any route runs."""

    def __init__(self, status: HTTPStatus, message: str, code: str, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.code = code


def screen(event: dict[str, Any]) -> dict[str, Any]:
    """The event a route may read (its content type normalised); RequestRefused when it cannot be read."""
    _refuse_nul_in_parameters(event)
    method = str(event.get("httpMethod") or "").upper()
    if method not in BODY_METHODS or not event.get("body"):
        return event
    text = _utf8_body(event)
    media_type, parameters = _content_type(event)
    if media_type in READ_AS_JSON or (media_type.startswith("application/") and media_type.endswith("+json")):
        _check_json(text)
        return _with_content_type(event, JSON, text=text)
    if media_type == FORM:
        _check_form(text)
        return _with_content_type(event, FORM, text=text)
    if media_type == MULTIPART:
        if "boundary" not in parameters:
            raise RequestRefused(HTTPStatus.BAD_REQUEST, "multipart/form-data needs a boundary", "MALFORMED_BODY")
        return _with_content_type(event, f"{MULTIPART}; boundary={parameters['boundary']}")
    raise RequestRefused(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
        f"Unsupported media type {media_type or '(none)'}: send JSON",
        "UNSUPPORTED_MEDIA_TYPE",
        details={"accepted": list(ACCEPTED)},
    )


def _refuse_nul_in_parameters(event: Mapping[str, Any]) -> None:
    named: list[tuple[str, Any]] = [("path", event.get("path"))]
    for key in ("pathParameters", "queryStringParameters"):
        named.extend((event.get(key) or {}).items())
    for name, values in (event.get("multiValueQueryStringParameters") or {}).items():
        named.extend((name, value) for value in values or ())
    for name, value in named:
        if "\x00" in str(name) or (isinstance(value, str) and "\x00" in value):
            raise _nul(str(name))


def _nul(field: str) -> RequestRefused:
    return RequestRefused(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "Validation failed",
        "VALIDATION_FAILED",
        details=[{"field": field.replace("\x00", "\\u0000") or "body", "message": "must not contain NUL (U+0000)"}],
    )


def _utf8_body(event: Mapping[str, Any]) -> str:
    body = event["body"]
    if not event.get("isBase64Encoded"):
        return str(body)
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise RequestRefused(HTTPStatus.BAD_REQUEST, "The body is not UTF-8 text", "MALFORMED_BODY") from exc


def _content_type(event: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    value = ""
    for name, given in (event.get("headers") or {}).items():
        if name.lower() == "content-type" and isinstance(given, str):
            value = given
    media_type, *rest = value.split(";")
    parameters: dict[str, str] = {}
    for item in rest:
        key, _, given = item.partition("=")
        if key.strip() and given.strip():
            parameters[key.strip().lower()] = given.strip().strip('"')
    return media_type.strip().lower() or JSON, parameters


def _with_content_type(event: dict[str, Any], content_type: str, *, text: str | None = None) -> dict[str, Any]:
    """A copy of the event with one Content-Type header (and the body as text when it was checked as text)."""
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
    headers["Content-Type"] = content_type
    multi["Content-Type"] = [content_type]
    changed = {**event, "headers": headers, "multiValueHeaders": multi}
    if text is not None:
        changed.update(body=text, isBase64Encoded=False)
    return changed


class _NotFinite(ValueError):
    pass


def _finite_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise _NotFinite(value)
    return number


def _bounded_int(value: str) -> int:
    if len(value.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _NotFinite(value)
    return int(value)


def _no_constant(value: str) -> Any:
    raise _NotFinite(value)


def _check_json(text: str) -> None:
    try:
        parsed = json.loads(text, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant)
    except _NotFinite as exc:
        raise RequestRefused(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "Validation failed",
            "VALIDATION_FAILED",
            details=[{"field": "body", "message": f"numbers must be finite JSON numbers (got {str(exc)[:20]})"}],
        ) from exc
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise RequestRefused(HTTPStatus.BAD_REQUEST, "The body is not valid JSON", "INVALID_JSON") from exc
    except RecursionError as exc:
        raise RequestRefused(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "Validation failed",
            "VALIDATION_FAILED",
            details=[{"field": "body", "message": "the body is nested too deeply"}],
        ) from exc
    for field, value in _strings(parsed, ""):
        if "\x00" in value:
            raise _nul(field)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a parsed JSON value (object keys included), with where it is; iterative, so depth is free."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, child in item.items():
                yield where, key
                stack.append((child, f"{where}.{key}" if where else key))
        elif isinstance(item, list):
            # The validation errors' notation (concepts.0.title), so every 422 names a place the same way.
            stack.extend((child, f"{where}.{index}" if where else str(index)) for index, child in enumerate(item))


def _check_form(text: str) -> None:
    from urllib.parse import parse_qsl

    for name, value in parse_qsl(text, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            raise _nul(name)

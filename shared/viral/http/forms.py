"""Requests from the dashboard's HTML forms as well as from API clients: which kind, and their fields."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler.api_gateway import Router

from viral.errors import InvalidInput


def _headers(router: Router) -> dict[str, str]:
    return {k.lower(): v for k, v in (router.current_event.headers or {}).items()}


def is_form_post(router: Router) -> bool:
    """A browser form post (answered with a 303 redirect), not an API client (answered with JSON)."""
    headers = _headers(router)
    content_type = headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")) or (
        "text/html" in headers.get("accept", "") and "application/json" not in content_type
    )


def request_fields(router: Router) -> dict[str, Any]:
    """The request's fields: an urlencoded or multipart form (the dashboard's), or a JSON object."""
    raw = router.current_event.decoded_body or ""
    content_type = _headers(router).get("content-type", "")
    if not raw.strip():
        return {}
    if content_type.startswith("multipart/form-data"):
        return _multipart(raw.encode(), content_type)
    if is_form_post(router):
        return {k: v[-1] for k, v in parse_qs(raw).items()}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput("body must be JSON") from exc
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object")
    return body


def _multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    if not message.is_multipart():
        raise InvalidInput("the multipart form could not be read")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str) and not part.get_filename():
            fields[name] = str(part.get_content()).strip()
    return fields

"""The credential a request carries, and the API key format (the caller it proves is `viral.caller.Principal`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Literal

from viral.errors import Unauthorized
from viral.http.headers import header

KEY_PREFIX = "vd_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def credentials_from_headers(headers: Mapping[str, str] | None) -> tuple[Literal["api_key", "jwt"], str]:
    """The credential a request carries: `X-API-Key`, or `Authorization: Bearer` (a vd_ key or a JWT)."""
    api_key = header(headers, "x-api-key")
    if api_key:
        return "api_key", api_key.strip()
    authorization = (header(headers, "authorization") or "").strip()
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing credentials: send Authorization: Bearer <API key or session token>")
    return ("api_key" if token.startswith(KEY_PREFIX) else "jwt"), token

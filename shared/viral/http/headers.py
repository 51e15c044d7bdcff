"""Header look-ups: HTTP header names are case-insensitive, and API Gateway passes them as the client sent them."""

from __future__ import annotations

from collections.abc import Mapping


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value, whatever the case of its name (`name` in lower case)."""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None

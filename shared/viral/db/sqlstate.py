"""The SQLSTATE of a PostgreSQL error raised through pg8000, bare or wrapped by SQLAlchemy (no SQLAlchemy import:
the authorizer's light key look-up uses it too).
"""

from __future__ import annotations

from typing import Any


def sqlstate(error: BaseException) -> str | None:
    """The five-character SQLSTATE code (e.g. "23505"), or None when the error carries none."""
    driver_error = getattr(error, "orig", None) or error
    args: Any = getattr(driver_error, "args", ())
    if args and isinstance(args[0], dict):
        code = args[0].get("C")
        return code if isinstance(code, str) else None
    return None

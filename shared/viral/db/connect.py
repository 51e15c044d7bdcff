"""Settings to pg8000 connection parameters: the one place that knows where the database is and how to reach it.

The SQLAlchemy engine (viral.db.engine) and the authorizer's light key lookup both connect through here, so TLS,
timeouts and the role switch are decided once. Nothing here imports SQLAlchemy, except the local embedded default.
"""

from __future__ import annotations

import json
import re
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from viral.errors import InvalidInput
from viral.settings import Settings

if TYPE_CHECKING:
    import pg8000.dbapi

APPLICATION_NAME = "viral-dashboard"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def checked_role(role: str) -> str:
    """`role` if it is a plain lower-case identifier (it is interpolated into SET ROLE), else InvalidInput."""
    if not _ROLE_NAME.match(role):
        raise InvalidInput("DB_RUNTIME_ROLE must be a plain lower-case role name")
    return role


def _ssl_context(mode: str | None) -> ssl.SSLContext | None:
    if mode in (None, "disable", "allow", "prefer"):
        return None
    context = ssl.create_default_context()
    if mode == "require":  # encrypted but unverified, as libpq's sslmode=require
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def session_options(settings: Settings, sslmode: str | None) -> dict[str, Any]:
    """pg8000 keyword arguments every connection gets: timeouts, application name and, when asked, TLS."""
    options: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_s,
        "application_name": APPLICATION_NAME,
        "startup_params": {"statement_timeout": str(settings.db_statement_timeout_ms)},
    }
    mode = sslmode or settings.db_sslmode
    if (context := _ssl_context(mode)) is not None:
        options["ssl_context"] = context
    return options


def secret_location(name: str) -> dict[str, Any]:
    """Where the Secrets Manager secret (RDS-style JSON) says the database is, with its sslmode."""
    from aws_lambda_powertools.utilities import parameters  # cached for 5 minutes by Powertools

    secret: dict[str, Any] = json.loads(str(parameters.get_secret(name, max_age=300)))
    return {
        "user": secret["username"],
        "password": secret["password"],
        "host": secret["host"],
        "port": int(secret.get("port", 5432)),
        "database": secret.get("dbname", "postgres"),
        "sslmode": secret.get("sslmode", "verify-full"),
    }


def url_location(url: str) -> dict[str, Any]:
    """Where a `postgresql[+driver]://user:password@host:port/database?...` URL points (sslmode included).

    Other query parameters (e.g. `unix_sock`) are passed on to pg8000, as SQLAlchemy's pg8000 dialect does.
    """
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise InvalidInput("DATABASE_URL must be a postgresql:// URL")
    location: dict[str, Any] = {
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "host": parts.hostname or None,
        "port": parts.port or 5432,
        "database": unquote(parts.path.lstrip("/")) or None,
    }
    location.update(parse_qsl(parts.query))
    return location


def _location(settings: Settings) -> dict[str, Any]:
    if settings.database_url:
        return url_location(settings.database_url)
    if settings.db_secret_name:
        return secret_location(settings.db_secret_name)
    from viral.db.embedded import local_database_url  # the embedded default (or the deployed-stage refusal)

    return url_location(local_database_url(settings).render_as_string(hide_password=False))


def connect_params(settings: Settings) -> dict[str, Any]:
    """Every keyword argument of `pg8000.dbapi.connect` for the configured database."""
    location = _location(settings)
    sslmode = location.pop("sslmode", None)
    if location.get("host") is None:
        location.pop("host", None)  # pg8000 defaults to localhost unless a unix_sock is given
    return {**location, **session_options(settings, sslmode)}


def set_role(dbapi_connection: Any, role: str) -> None:
    """Switch a fresh connection to `role` for its whole life (the tenant is bound per transaction on top)."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"SET ROLE {checked_role(role)}")
    cursor.close()
    dbapi_connection.commit()


def connect_pg8000(settings: Settings, *, role: str) -> pg8000.dbapi.Connection:
    """A new pg8000 DB-API connection to the configured database, switched to `role`."""
    import pg8000.dbapi

    checked_role(role)
    connection = pg8000.dbapi.connect(**connect_params(settings))
    try:
        set_role(connection, role)
    except BaseException:
        connection.close()
        raise
    return connection

"""Settings to pg8000 connection parameters: the one place that knows where the database is and how to reach it.

The SQLAlchemy engine (viral.db.engine) and the authorizer's light key lookup both connect through here, so TLS,
timeouts and the role switch are decided once. Nothing here imports SQLAlchemy, except the local embedded default.
"""

from __future__ import annotations

import json
import re
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from viral.errors import InvalidInput
from viral.settings import Settings

if TYPE_CHECKING:
    import pg8000.dbapi

APPLICATION_NAME = "viral-dashboard"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Where a relative DB_SSL_ROOT_CERT is looked up: the folder holding the `viral` package (/opt/python in Lambda,
# where the shared layer ships its certs/ folder).
PACKAGE_PARENT = Path(__file__).resolve().parents[2]


def checked_role(role: str) -> str:
    """`role` if it is a plain lower-case identifier (it is interpolated into SET ROLE), else InvalidInput."""
    if not _ROLE_NAME.match(role):
        raise InvalidInput("DB_RUNTIME_ROLE must be a plain lower-case role name")
    return role


def ca_bundle_path(root_cert: str) -> Path:
    """The CA bundle file DB_SSL_ROOT_CERT names (relative: beside the `viral` package), which must exist."""
    path = Path(root_cert)
    if not path.is_absolute():
        path = PACKAGE_PARENT / path
    if not path.is_file():
        raise InvalidInput(f"DB_SSL_ROOT_CERT: no CA bundle at {path}")
    return path


def _ssl_context(mode: str | None, root_cert: str | None) -> ssl.SSLContext | None:
    if mode in (None, "disable", "allow", "prefer"):
        return None
    if mode == "require":  # encrypted but unverified, as libpq's sslmode=require
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    # verify-full: the certificate chains to the operator's bundle (only it: the system store cannot verify RDS
    # certificates) and names the host we asked for.
    return ssl.create_default_context(cafile=str(ca_bundle_path(root_cert)) if root_cert else None)


def session_options(settings: Settings, sslmode: str | None) -> dict[str, Any]:
    """pg8000 keyword arguments every connection gets: timeouts, application name and, when asked, TLS."""
    options: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_s,
        "application_name": APPLICATION_NAME,
        "startup_params": {"statement_timeout": str(settings.db_statement_timeout_ms)},
    }
    mode = sslmode or settings.db_sslmode
    if (context := _ssl_context(mode, settings.db_ssl_root_cert)) is not None:
        options["ssl_context"] = context
    return options


def secret_location(settings: Settings) -> dict[str, Any]:
    """Where the database is: the Secrets Manager secret's login, with host, port and database name from the
    settings (DB_HOST, DB_PORT, DB_NAME) when set, else from the secret.

    RDS-managed secrets hold only `username` and `password`; secrets made by hand often add `host`, `port` and
    `dbname`. The settings win, so the same secret also serves through an RDS Proxy endpoint.
    """
    from aws_lambda_powertools.utilities import parameters  # cached for 5 minutes by Powertools

    assert settings.db_secret_name is not None
    secret: dict[str, Any] = json.loads(str(parameters.get_secret(settings.db_secret_name, max_age=300)))
    missing = [key for key in ("username", "password") if not secret.get(key)]
    if missing:
        raise InvalidInput(f"the database secret has no {' or '.join(missing)}")
    host = settings.db_host or secret.get("host")
    if not host:
        raise InvalidInput("no database host: set DB_HOST (the secret has none)")
    return {
        "user": secret["username"],
        "password": secret["password"],
        "host": host,
        "port": int(settings.db_port or secret.get("port") or 5432),
        "database": settings.db_name or secret.get("dbname") or "postgres",
        "sslmode": secret.get("sslmode") or settings.db_sslmode or "verify-full",
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
        return secret_location(settings)
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

"""One lazily built engine per execution environment, shaped for Lambda (one connection, explicit timeouts)."""

from __future__ import annotations

import json
import re
import ssl
from functools import lru_cache
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from viral.errors import InvalidInput
from viral.settings import Settings, get_settings

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def database_url(settings: Settings) -> URL:
    """The database to use: DATABASE_URL, else the Secrets Manager secret, else the local embedded server."""
    if settings.database_url:
        return _as_pg8000(make_url(settings.database_url))
    if settings.db_secret_name:
        return _url_from_secret(settings.db_secret_name)
    if settings.stage in ("dev", "prod"):
        raise InvalidInput("no database configured: set DB_SECRET_NAME (or DATABASE_URL)")
    from viral.db.embedded import ensure_embedded_server  # local runs and tests only

    return ensure_embedded_server(settings.embedded_pg_data)


def _as_pg8000(url: URL) -> URL:
    if url.drivername in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        url = url.set(drivername="postgresql+pg8000")
    return url


def _url_from_secret(name: str) -> URL:
    from aws_lambda_powertools.utilities import parameters  # cached for 5 minutes by Powertools

    secret: dict[str, Any] = json.loads(str(parameters.get_secret(name, max_age=300)))
    return URL.create(
        "postgresql+pg8000",
        username=secret["username"],
        password=secret["password"],
        host=secret["host"],
        port=int(secret.get("port", 5432)),
        database=secret.get("dbname", "postgres"),
        query={"sslmode": secret.get("sslmode", "verify-full")},
    )


def _ssl_context(mode: str | None) -> ssl.SSLContext | None:
    if mode in (None, "disable", "allow", "prefer"):
        return None
    context = ssl.create_default_context()
    if mode == "require":  # encrypted but unverified, as libpq's sslmode=require
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def build_engine(url: URL, settings: Settings, *, runtime_role: str | None) -> Engine:
    """An engine on `url`; with `runtime_role`, every connection switches to that unprivileged role."""
    query = dict(url.query)
    sslmode = query.pop("sslmode", None) or settings.db_sslmode
    url = url.set(query=query)
    connect_args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_s,
        "application_name": "viral-dashboard",
        "startup_params": {"statement_timeout": str(settings.db_statement_timeout_ms)},
    }
    if isinstance(sslmode, str) and (context := _ssl_context(sslmode)) is not None:
        connect_args["ssl_context"] = context
    pool: dict[str, Any] = (
        {"poolclass": NullPool}
        if settings.db_pool_mode == "null"
        else {"pool_size": 1, "max_overflow": 0, "pool_pre_ping": True, "pool_recycle": 1800}
    )
    engine = create_engine(url, connect_args=connect_args, **pool)
    if runtime_role is not None:
        if not _ROLE_NAME.match(runtime_role):
            raise InvalidInput("DB_RUNTIME_ROLE must be a plain lower-case role name")

        @event.listens_for(engine, "connect")
        def _switch_role(dbapi_connection: Any, _record: Any) -> None:
            # Session-level on purpose: it holds for the connection's whole life, and the tenant is bound
            # per transaction on top of it. The role owns nothing and has no BYPASSRLS.
            cursor = dbapi_connection.cursor()
            cursor.execute(f"SET ROLE {runtime_role}")
            cursor.close()
            dbapi_connection.commit()

    return engine


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The runtime engine of this execution environment (built on first use)."""
    settings = get_settings()
    return build_engine(database_url(settings), settings, runtime_role=settings.db_runtime_role)


@lru_cache(maxsize=1)
def get_sessionmaker() -> sessionmaker[Session]:
    """Sessions on the runtime engine; objects stay readable after commit, sessions never outlive a call."""
    return sessionmaker(bind=get_engine(), expire_on_commit=False, autoflush=False)


def reset_engine() -> None:
    """Forget the engine (tests and the local runtime switch databases or settings)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()

"""One lazily built engine per execution environment, shaped for Lambda (one connection, explicit timeouts)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from viral.db.connect import checked_role, secret_location, session_options, set_role
from viral.settings import Settings, get_settings


def database_url(settings: Settings) -> URL:
    """The database to use: DATABASE_URL, else the Secrets Manager secret, else the local embedded server."""
    if settings.database_url:
        return _as_pg8000(make_url(settings.database_url))
    if settings.db_secret_name:
        return _url_from_secret(settings)
    from viral.db.embedded import local_database_url  # local runs and tests only

    return local_database_url(settings)


def _as_pg8000(url: URL) -> URL:
    if url.drivername in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        url = url.set(drivername="postgresql+pg8000")
    return url


def _url_from_secret(settings: Settings) -> URL:
    secret = secret_location(settings)
    return URL.create(
        "postgresql+pg8000",
        username=secret["user"],
        password=secret["password"],
        host=secret["host"],
        port=secret["port"],
        database=secret["database"],
        query={"sslmode": secret["sslmode"]},
    )


def build_engine(url: URL, settings: Settings, *, runtime_role: str | None) -> Engine:
    """An engine on `url`; with `runtime_role`, every connection switches to that unprivileged role."""
    query = dict(url.query)
    sslmode = query.pop("sslmode", None)
    url = url.set(query=query)
    connect_args = session_options(settings, sslmode if isinstance(sslmode, str) else None)
    pool: dict[str, Any] = (
        {"poolclass": NullPool}
        if settings.db_pool_mode == "null"
        else {"pool_size": settings.db_pool_size, "max_overflow": 0, "pool_pre_ping": True, "pool_recycle": 1800}
    )
    role = checked_role(runtime_role) if runtime_role is not None else None
    # hide_parameters: a logged database error never carries tenant content or key hashes.
    engine = create_engine(url, connect_args=connect_args, hide_parameters=True, **pool)
    if role is not None:

        @event.listens_for(engine, "connect")
        def _switch_role(dbapi_connection: Any, _record: Any) -> None:
            # Session-level on purpose: it holds for the connection's whole life, and the tenant is bound
            # per transaction on top of it. The role owns nothing and has no BYPASSRLS.
            set_role(dbapi_connection, role)

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


def drop_connections() -> None:
    """Forget pooled connections without closing them: after a SnapStart restore their sockets are not ours."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)


def reset_engine() -> None:
    """Forget the engine (tests and the local runtime switch databases or settings)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()

"""The engine is shaped for Lambda: one connection or NullPool, explicit timeouts, TLS when asked."""

from __future__ import annotations

import ssl

import pytest
from sqlalchemy import make_url
from sqlalchemy.pool import NullPool, QueuePool
from viral.db.engine import build_engine, database_url
from viral.errors import InvalidInput
from viral.settings import Settings

URL = make_url("postgresql+pg8000://app:pw@db.example.internal:5432/viral")


def test_pooled_mode_keeps_exactly_one_connection() -> None:
    engine = build_engine(URL, Settings(db_pool_mode="pooled"), runtime_role="viral_app")
    assert isinstance(engine.pool, QueuePool)
    assert (engine.pool.size(), engine.pool._max_overflow, engine.pool._pre_ping) == (1, 0, True)


def test_null_pool_mode_for_a_pooler() -> None:
    engine = build_engine(URL, Settings(db_pool_mode="null"), runtime_role=None)
    assert isinstance(engine.pool, NullPool)


def test_timeouts_are_explicit() -> None:
    engine = build_engine(URL, Settings(db_connect_timeout_s=3, db_statement_timeout_ms=4000), runtime_role=None)
    creator_kwargs = _captured_connect_args(engine)
    assert creator_kwargs["timeout"] == 3
    assert creator_kwargs["startup_params"] == {"statement_timeout": "4000"}


def _captured_connect_args(engine: object) -> dict[str, object]:
    captured: dict[str, object] = {}

    def fake_connect(*_args: object, **kwargs: object) -> None:
        captured.update(kwargs)
        raise ConnectionRefusedError("captured")

    dialect = engine.dialect  # type: ignore[attr-defined]
    original = dialect.loaded_dbapi.connect
    dialect.loaded_dbapi.connect = fake_connect
    try:
        with pytest.raises(Exception, match="captured"):
            engine.connect()  # type: ignore[attr-defined]
    finally:
        dialect.loaded_dbapi.connect = original
    return captured


def test_verify_full_checks_certificate_and_host() -> None:
    engine = build_engine(make_url(f"{URL}?sslmode=verify-full"), Settings(), runtime_role=None)
    context = _captured_connect_args(engine)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is True
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_sslmode_from_settings_when_the_url_has_none() -> None:
    engine = build_engine(URL, Settings(db_sslmode="require"), runtime_role=None)
    context = _captured_connect_args(engine)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE


def test_runtime_role_name_must_be_a_plain_identifier() -> None:
    with pytest.raises(InvalidInput):
        build_engine(URL, Settings(), runtime_role="app; drop table tenants")


def test_deployed_stages_never_fall_back_to_the_embedded_database() -> None:
    with pytest.raises(InvalidInput, match="DB_SECRET_NAME"):
        database_url(Settings(stage="prod", database_url=None, db_secret_name=None))


def test_database_url_wins_and_uses_pg8000() -> None:
    url = database_url(Settings(database_url="postgresql://u:p@h:5432/d", db_secret_name="ignored"))
    assert url.drivername == "postgresql+pg8000"
    assert (url.host, url.database) == ("h", "d")

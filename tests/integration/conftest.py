"""One real PostgreSQL per test run (embedded, or DATABASE_URL), migrated once; each test on fresh tenants."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, Engine, make_url
from viral.db.engine import build_engine, reset_engine
from viral.db.migrate import upgrade
from viral.settings import Settings, get_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """The test database, migrated to head; the runtime engine is pointed at it."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        url = make_url(given).set(drivername="postgresql+pg8000")
    else:
        from viral.db.embedded import ensure_embedded_server

        base = Path(os.environ.get("TEST_PG_ROOT") or tempfile.gettempdir()) / "viral-test-pg" / uuid.uuid4().hex[:8]
        url = ensure_embedded_server(base / "pgdata")
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url.render_as_string(hide_password=False)
    get_settings.cache_clear()
    reset_engine()
    upgrade(url, get_settings())
    yield url
    reset_engine()
    if previous is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = previous
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def owner_engine(database_url: URL) -> Iterator[Engine]:
    """An engine as the database owner (superuser here): for catalog checks and seeding, never for app code."""
    engine = build_engine(database_url, Settings(), runtime_role=None)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def runtime_engine(database_url: URL) -> Iterator[Engine]:
    """A separate engine as the runtime role, for hand-written SQL that must still be confined by RLS."""
    engine = build_engine(database_url, Settings(), runtime_role=get_settings().db_runtime_role)
    yield engine
    engine.dispose()


@pytest.fixture
def new_tenant(database_url: URL) -> Callable[[str], uuid.UUID]:
    """Create a fresh tenant (tests never share one, so they never see each other's rows)."""
    from viral.identity.tenants import create_tenant

    def make(name: str = "Test tenant") -> uuid.UUID:
        return create_tenant(name).id

    return make


@pytest.fixture
def tenant_a(new_tenant: Callable[[str], uuid.UUID]) -> uuid.UUID:
    return new_tenant("Tenant A")


@pytest.fixture
def tenant_b(new_tenant: Callable[[str], uuid.UUID]) -> uuid.UUID:
    return new_tenant("Tenant B")


@pytest.fixture
def gateway(database_url: URL) -> Iterator[Any]:
    """The template's API in process, through the real authorizer (its principal memo fresh per test)."""
    from tests.gateway import Gateway

    instance = Gateway()
    instance.forget_cached_principals()
    yield instance
    instance.close()

"""The simulated clock moves Python and PostgreSQL together, in the simulation's own database only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import URL, Engine, text
from viral.db.engine import build_engine
from viral.db.migrate import upgrade
from viral.settings import Settings, get_settings

from local.simulation.clock import SimulatedClock, install_database_clock, owner_connection

START = datetime(2031, 3, 1, 8, tzinfo=UTC)


@pytest.fixture
def simulation_database(database_url: URL) -> Iterator[URL]:
    name = f"simclock_{uuid.uuid4().hex[:10]}"
    owner = owner_connection(database_url)  # CREATE and DROP DATABASE need a connection outside a transaction
    try:
        owner.run(f'CREATE DATABASE "{name}"')
        url = database_url.set(database=name)
        upgrade(url, get_settings())
        yield url
        owner.run(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        owner.close()


def _runtime(url: URL) -> Engine:
    return build_engine(url, Settings(), runtime_role=get_settings().db_runtime_role)


def test_now_and_column_defaults_follow_the_simulated_clock(simulation_database: URL, owner_engine: Engine) -> None:
    rewritten = install_database_clock(simulation_database)
    assert rewritten > 10  # created_at and friends, in every table
    assert install_database_clock(simulation_database) == rewritten  # idempotent: nothing calls the real now()
    engine = _runtime(simulation_database)
    try:
        with SimulatedClock(simulation_database, START) as clock:
            clock.move_to(START + timedelta(days=3, hours=2))
            python_now = datetime.now(UTC)
            with engine.begin() as connection:
                database_now = connection.execute(text("select now()")).scalar_one()
                tenant = uuid.uuid4()
                connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
                connection.execute(text("insert into tenants (id, name) values (:t, 'clock')"), {"t": tenant})
                created = connection.execute(
                    text("select created_at, quota_reset_at from tenants where id = :t"), {"t": tenant}
                ).one()
            assert abs((database_now - python_now).total_seconds()) < 5
            assert python_now.date() == (START + timedelta(days=3)).date()
            assert abs((created.created_at - python_now).total_seconds()) < 5
            assert created.quota_reset_at - created.created_at == timedelta(days=30)
            clock.move_to(START)  # never backwards
            assert datetime.now(UTC) > START + timedelta(days=3)
        with engine.begin() as connection:  # after the run the database tells the real time again
            assert abs((connection.execute(text("select now()")).scalar_one() - datetime.now(UTC)).total_seconds()) < 5
    finally:
        engine.dispose()


def test_the_test_database_itself_keeps_the_real_clock(database_url: URL, owner_engine: Engine) -> None:
    with owner_engine.connect() as connection:
        schemas = connection.execute(text("select count(*) from pg_namespace where nspname = 'sim'")).scalar_one()
    assert schemas == 0

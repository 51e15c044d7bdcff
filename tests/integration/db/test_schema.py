"""The schema as the catalog sees it: RLS on every tenant table, an unprivileged runtime role, clean downgrades."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import URL, Engine, create_engine, text
from sqlalchemy.pool import NullPool
from viral.db.migrate import downgrade, head_revision, upgrade
from viral.db.models import TENANT_TABLES
from viral.settings import Settings, get_settings

HEAD = head_revision()


def test_every_table_with_tenant_id_has_rls_enabled_and_forced(owner_engine: Engine) -> None:
    with owner_engine.connect() as connection:
        rows = connection.execute(
            text("""
            select c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   (select count(*) from pg_policy p where p.polrelid = c.oid) as policies,
                   a.attnotnull
              from pg_class c join pg_namespace n on n.oid = c.relnamespace
              join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
             where n.nspname = 'public' and c.relkind = 'r'
        """)
        ).all()
    tables = {r.relname: r for r in rows}
    # webhook_events records deliveries before any tenant is known: global on purpose, and no runtime grant.
    assert set(tables) - {"webhook_events"} == set(TENANT_TABLES)
    for name in TENANT_TABLES:
        row = tables[name]
        assert (row.relrowsecurity, row.relforcerowsecurity, row.attnotnull) == (True, True, True), name
        assert row.policies >= 1, name


def test_tenants_table_is_itself_row_secured(owner_engine: Engine) -> None:
    with owner_engine.connect() as connection:
        row = connection.execute(
            text("select relrowsecurity, relforcerowsecurity from pg_class where relname = 'tenants'")
        ).one()
    assert tuple(row) == (True, True)


def test_runtime_roles_own_nothing_and_cannot_bypass_rls(owner_engine: Engine) -> None:
    settings = get_settings()
    with owner_engine.connect() as connection:
        for role in (settings.db_runtime_role, settings.db_system_role):
            attributes = connection.execute(
                text("select rolsuper, rolbypassrls, rolcanlogin, rolcreaterole from pg_roles where rolname = :r"),
                {"r": role},
            ).one()
            owned = connection.execute(
                text("select count(*) from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname = :r"),
                {"r": role},
            ).scalar_one()
            assert tuple(attributes) == (False, False, False, False), role
            assert owned == 0, role


def test_runtime_role_has_no_access_to_webhook_events(owner_engine: Engine) -> None:
    with owner_engine.connect() as connection:
        allowed = connection.execute(
            text("select has_table_privilege(:r, 'webhook_events', 'SELECT')"), {"r": get_settings().db_runtime_role}
        ).scalar_one()
    assert allowed is False


def test_generation_search_is_served_by_trigram_indexes(owner_engine: Engine) -> None:
    with owner_engine.connect() as connection:
        indexes = connection.execute(
            text("select indexname, indexdef from pg_indexes where tablename in ('concepts', 'generations')")
        ).all()
    definitions = {name: definition for name, definition in indexes}
    # One search document per generation (0008); the per-column indexes it replaced are gone.
    assert "gin_trgm_ops" in definitions["ix_generations_search_doc_trgm"]
    assert not {"ix_concepts_search_text_trgm", "ix_generations_trend_text_trgm"} & set(definitions)


@pytest.fixture
def scratch_database(database_url: URL) -> URL:
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text(f'create database "{name}"'))
    engine.dispose()
    return database_url.set(database=name)


def test_migrations_upgrade_downgrade_and_upgrade_again(scratch_database: URL) -> None:
    settings = Settings()
    assert upgrade(scratch_database, settings) == HEAD
    assert downgrade(scratch_database, settings, revision="base") == "base"
    from viral.db.engine import build_engine

    engine = build_engine(scratch_database, settings, runtime_role=None)
    with engine.connect() as connection:
        left = connection.execute(
            text("select count(*) from pg_tables where schemaname = 'public' and tablename <> 'alembic_version'")
        ).scalar_one()
    engine.dispose()
    assert left == 0
    assert upgrade(scratch_database, settings) == HEAD

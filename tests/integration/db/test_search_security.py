"""Search runs through search_generation_ids (0008): a SECURITY DEFINER function owned by a search-only role.

It must read the tenant only from the transaction's binding, be callable by the runtime role alone, and never
be a way to become that role; reads return stored JSON exactly as validation would have shaped it.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, Connection, Engine, exc, text
from viral.content import storage
from viral.content.schemas import Generation
from viral.db.engine import build_engine
from viral.settings import Settings, get_settings
from viral.tenancy import tenant_scope

from tests import factories

SEARCH_ROLE = "viral_search"
FUNCTION = "search_generation_ids(text, integer)"


def _search_ids(connection: Connection, pattern: str, tenant: uuid.UUID | None, limit: int = 50) -> list[str]:
    """Call the function as the runtime role, with `tenant` bound to the transaction (or none)."""
    if tenant is not None:
        connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
    rows = connection.execute(text("select * from search_generation_ids(:p, :l)"), {"p": pattern, "l": limit})
    return [row[0] for row in rows]


def _seed_generations(owner_engine: Engine, tenant: uuid.UUID, count: int, needle_at: int) -> None:
    """`count` bare generations, newest first by number; only number `needle_at` has 'needle' in its search_doc."""
    with owner_engine.begin() as connection:
        connection.execute(
            text("""
            insert into generations (tenant_id, id, date, search_doc)
            select cast(:t as uuid), 'g-' || i, now() - make_interval(secs => i),
                   case when i = :needle then 'hay' || chr(31) || 'a needle here' else 'hay' end
              from generate_series(1, :n) i
            """),
            {"t": str(tenant), "n": count, "needle": needle_at},
        )


def test_function_returns_nothing_without_a_tenant_bound(
    tenant_a: uuid.UUID, runtime_engine: Engine, owner_engine: Engine
) -> None:
    _seed_generations(owner_engine, tenant_a, 3, needle_at=2)
    with runtime_engine.connect() as connection, connection.begin():
        unbound = _search_ids(connection, "%", None)
        connection.execute(text("select set_config('app.tenant_id', '', true)"))
        empty = _search_ids(connection, "%", None)
    with runtime_engine.connect() as connection, connection.begin():
        bound = _search_ids(connection, "%", tenant_a)
    assert (unbound, empty) == ([], [])
    assert bound == ["g-1", "g-2", "g-3"]  # not vacuous: with the tenant bound it finds them


def test_function_sees_only_the_bound_tenant_in_both_phases(
    new_tenant: Any, runtime_engine: Engine, owner_engine: Engine
) -> None:
    # Given two tenants past the recent window, each with one old match, and a small tenant with a new one
    big_a, big_b, small = new_tenant("A"), new_tenant("B"), new_tenant("C")
    _seed_generations(owner_engine, big_a, 2100, needle_at=2050)
    _seed_generations(owner_engine, big_b, 2100, needle_at=2099)
    _seed_generations(owner_engine, small, 10, needle_at=1)
    found: dict[str, list[str]] = {}
    for name, tenant in (("a", big_a), ("b", big_b), ("small", small)):
        with runtime_engine.connect() as connection, connection.begin():
            found[name] = _search_ids(connection, "%needle%", tenant)
    # Then each finds only its own (the index-backed phase for the big ones, the recent window for the small one)
    assert found == {"a": ["g-2050"], "b": ["g-2099"], "small": ["g-1"]}


def test_function_returns_the_newest_matches_up_to_the_limit(
    tenant_a: uuid.UUID, runtime_engine: Engine, owner_engine: Engine
) -> None:
    _seed_generations(owner_engine, tenant_a, 2100, needle_at=0)
    with runtime_engine.connect() as connection, connection.begin():
        recent = _search_ids(connection, "hay", tenant_a, limit=3)
        capped = _search_ids(connection, "hay", tenant_a, limit=100_000)
        none = _search_ids(connection, "hay", tenant_a, limit=0)
    assert recent == ["g-1", "g-2", "g-3"]
    assert len(capped) == storage.MAX_PAGE
    assert none == []


@pytest.fixture
def runtime_login(database_url: URL, owner_engine: Engine) -> Iterator[Engine]:
    """An engine logged in as a role that is only a member of the runtime role (as a deployed login would be;
    the test server's login is a superuser, which may SET ROLE to anything)."""
    name = f"viral_login_{uuid.uuid4().hex[:8]}"
    runtime = get_settings().db_runtime_role
    with owner_engine.begin() as connection:
        connection.execute(text(f"create role {name} login in role {runtime}"))
    engine = build_engine(database_url.set(username=name), Settings(), runtime_role=runtime)
    try:
        yield engine
    finally:
        engine.dispose()
        with owner_engine.begin() as connection:
            connection.execute(text(f"drop role {name}"))


def test_runtime_role_cannot_become_the_search_role(runtime_login: Engine, owner_engine: Engine) -> None:
    runtime = get_settings().db_runtime_role
    with runtime_login.connect() as connection:
        assert connection.execute(text("select current_user")).scalar_one() == runtime
        with pytest.raises(exc.DBAPIError) as refused:
            connection.execute(text(f"set role {SEARCH_ROLE}"))
        connection.rollback()
        # ...while it can still search, through the function
        assert _search_ids(connection, "%", uuid.uuid4()) == []
    with owner_engine.connect() as connection:
        member = connection.execute(
            text("select pg_has_role(:app, :search, 'MEMBER')"), {"app": runtime, "search": SEARCH_ROLE}
        ).scalar_one()
    assert "permission denied" in str(refused.value.orig)
    assert member is False


def test_search_function_is_security_definer_owned_by_the_search_role_with_a_fixed_path(
    owner_engine: Engine,
) -> None:
    with owner_engine.connect() as connection:
        proc = connection.execute(
            text("""
            select p.prosecdef, r.rolname as owner, p.proconfig, p.provolatile
              from pg_proc p join pg_roles r on r.oid = p.proowner
             where p.oid = cast(:f as regprocedure)
            """),
            {"f": FUNCTION},
        ).one()
        grantees = connection.execute(
            text("""
            select coalesce(g.rolname, 'PUBLIC') from pg_proc p
              cross join lateral aclexplode(p.proacl) a
              left join pg_roles g on g.oid = a.grantee
             where p.oid = cast(:f as regprocedure) and a.privilege_type = 'EXECUTE'
            """),
            {"f": FUNCTION},
        ).scalars()
        role = connection.execute(
            text("select rolcanlogin, rolsuper, rolbypassrls, rolcreaterole from pg_roles where rolname = :r"),
            {"r": SEARCH_ROLE},
        ).one()
    assert (proc.prosecdef, proc.owner, proc.provolatile) == (True, SEARCH_ROLE, "s")
    assert proc.proconfig == ["search_path=pg_catalog, public, pg_temp"]
    # Only the runtime role (and the owner, implicitly) may call it: PUBLIC's default grant is revoked.
    assert set(grantees) - {SEARCH_ROLE} == {get_settings().db_runtime_role}
    assert tuple(role) == (False, False, False, False)


def test_search_role_can_read_only_what_search_needs(owner_engine: Engine) -> None:
    checks = {
        ("generations", "SELECT"): "select has_column_privilege(:r, 'generations', 'search_doc', 'SELECT')",
        ("generations", "trends"): "select has_column_privilege(:r, 'generations', 'trends', 'SELECT')",
        ("generations", "UPDATE"): "select has_table_privilege(:r, 'generations', 'UPDATE')",
        ("generations", "DELETE"): "select has_table_privilege(:r, 'generations', 'DELETE')",
        ("concepts", "SELECT"): "select has_table_privilege(:r, 'concepts', 'SELECT')",
        ("tenants", "SELECT"): "select has_table_privilege(:r, 'tenants', 'SELECT')",
    }
    with owner_engine.connect() as connection:
        allowed = {key: connection.execute(text(sql), {"r": SEARCH_ROLE}).scalar_one() for key, sql in checks.items()}
        owned = connection.execute(
            text("select count(*) from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname = :r"),
            {"r": SEARCH_ROLE},
        ).scalar_one()
    assert {key for key, granted in allowed.items() if granted} == {("generations", "SELECT")}
    assert owned == 0


def test_search_ignores_control_characters_and_never_spans_two_fields(tenant_a: uuid.UUID) -> None:
    # Given a generation whose trend text ends in "quitting" and whose first concept starts with "cats"
    target = factories.generation(
        concepts=[factories.concept(title="Cats doing taxes")], trends=[factories.trend("Quiet quitting")]
    )
    with tenant_scope(tenant_a):
        storage.save_generation(target)
        # When the query carries control characters, they are dropped
        with_controls = storage.search_generations("cats\x00 doing\x1f")
        # ...so the field separator cannot be used to match across the trend text and a concept
        spanning = storage.search_generations("quitting\x1fcats")
        only_controls = storage.search_generations("\x1f\x01")
    assert [g.id for g in with_controls] == [target["id"]]
    assert (spanning, only_controls) == ([], [])


def test_reads_return_the_json_validation_would_give(tenant_a: uuid.UUID) -> None:
    # Given a generation with an explicit null, extra fields and integer scores (floats once validated)
    payload = factories.generation(trends=[{**factories.trend("Extra"), "velocity": 3, "customField": {"x": 1}}])
    payload["concepts"][0]["newerDashboardField"] = ["kept"]
    with tenant_scope(tenant_a):
        storage.save_generation(payload)
        listed = storage.get_generations()[0]
        single = storage.get_generation(payload["id"])
        searched = storage.search_generations("extra")[0]
    expected = Generation.model_validate(payload).wire()
    assert single is not None
    assert listed.wire() == single.wire() == searched.wire() == expected
    # ...and attribute access still gives the validated values
    assert listed.concepts[0].post_time.utc == payload["concepts"][0]["postTime"]["utc"]
    assert listed.trends[0].velocity == 3.0
    assert listed.validated().wire() == expected


def _migration(name: str) -> Any:
    path = Path(__file__).resolve().parents[3] / "functions" / "db_migrate" / "migrations" / "versions" / name
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_backfill_writes_what_the_app_writes(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    # Given generations saved by the app (which writes search_doc and trend_topics itself)
    saved = [
        factories.generation(trends=[factories.trend("Quiet quitting"), factories.trend("Tax season")]),
        factories.generation(concepts=[], trends=[]),
    ]
    with tenant_scope(tenant_a):
        for generation in saved:
            storage.save_generation(generation)
    select_columns = text(
        "select id, search_doc, trend_topics from generations where tenant_id = :t order by id"
    ).bindparams(t=tenant_a)
    with owner_engine.connect() as connection, connection.begin() as transaction:
        written = connection.execute(select_columns).all()
        # When the columns are blanked (as right after ADD COLUMN) and migration 0008's backfill runs
        connection.execute(
            text("update generations set search_doc = '', trend_topics = '{}' where tenant_id = :t"),
            {"t": str(tenant_a)},
        )
        connection.execute(text(_migration("0008_search.py")._BACKFILL))
        backfilled = connection.execute(select_columns).all()
        transaction.rollback()
    # Then it rebuilds exactly what the app wrote
    assert [tuple(r) for r in backfilled] == [tuple(r) for r in written]
    assert any("\x1f" in row.search_doc for row in written)
    assert sorted(row.trend_topics for row in written) == [[], ["Quiet quitting", "Tax season"]]

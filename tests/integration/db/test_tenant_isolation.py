"""Tenant isolation, twice: every storage function is scoped, and row-level security holds underneath."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.content import storage
from viral.errors import DomainError, Forbidden, NotFound, TenantScopeMissing
from viral.learning import storage as learning_storage
from viral.operations.repository import RateLimitRepository
from viral.tenancy import tenant_scope

from tests import factories


def _seed(tenant: uuid.UUID) -> dict[str, str]:
    """Give a tenant one of everything the storage API reads; the ids, to attack them from elsewhere."""
    generation = factories.generation(trends=[factories.trend("Secret topic")])
    concept_id = generation["concepts"][0]["id"]
    with tenant_scope(tenant):
        storage.save_generation(generation)
        storage.toggle_favorite(generation["id"])
        critique = learning_storage.save_critique(factories.critique(concept_id))
        insight = learning_storage.save_insight(factories.insight())
        adjustment = learning_storage.save_adjustment(factories.adjustment(critique.id))
        feedback = learning_storage.save_performance_feedback(factories.feedback(concept_id))
    return {
        "generation": generation["id"],
        "concept": concept_id,
        "critique": critique.id,
        "insight": insight.id,
        "adjustment": adjustment.id,
        "feedback": feedback.id,
    }


def _everything_visible() -> dict[str, Any]:
    """What every read function of the storage API returns for the bound tenant."""
    far = datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=1)
    return {
        "get_generations": storage.get_generations(),
        "get_favorites": storage.get_favorites(),
        "search_generations": storage.search_generations("secret topic") + storage.search_generations("cats"),
        "get_generations_by_date_range": storage.get_generations_by_date_range(*far),
        "get_critiques": learning_storage.get_critiques(),
        "get_unapplied_critiques": learning_storage.get_unapplied_critiques(),
        "get_insights": learning_storage.get_insights(),
        "get_insights_by_pattern": learning_storage.get_insights_by_pattern("absurd-tiktok-over-predicted"),
        "get_adjustments": learning_storage.get_adjustments(),
        "get_adjustments_by_category": learning_storage.get_adjustments_by_category("absurd"),
        "get_performance_feedback": learning_storage.get_performance_feedback(),
    }


def test_tenant_b_sees_none_of_tenant_a_through_any_read(tenant_a: uuid.UUID, tenant_b: uuid.UUID) -> None:
    ids = _seed(tenant_a)
    with tenant_scope(tenant_b):
        visible = _everything_visible()
        assert storage.get_generation(ids["generation"]) is None
        assert learning_storage.get_critiques_by_concept(ids["concept"]) == []
        analytics = storage.get_analytics_data()
        stats = learning_storage.get_reflexion_stats()
    assert {name: rows for name, rows in visible.items() if rows} == {}
    assert (analytics.total_generations, analytics.total_concepts, analytics.trend_frequency) == (0, 0, {})
    assert (stats.total_critiques, stats.total_insights, stats.total_adjustments) == (0, 0, 0)
    # ...while tenant A does see all of it (so the empty answers above are not vacuous)
    with tenant_scope(tenant_a):
        assert {name: rows for name, rows in _everything_visible().items() if not rows} == {}


def test_tenant_b_cannot_change_or_delete_tenant_a_rows(tenant_a: uuid.UUID, tenant_b: uuid.UUID) -> None:
    ids = _seed(tenant_a)
    with tenant_scope(tenant_b):
        with pytest.raises(NotFound):
            storage.delete_generation(ids["generation"])
        with pytest.raises(NotFound):
            storage.toggle_favorite(ids["generation"])
        # Writes that point at A's rows are refused: B has no such concept or critique
        with pytest.raises(DomainError):
            learning_storage.save_critique(factories.critique(ids["concept"]))
        with pytest.raises(DomainError):
            learning_storage.save_adjustment(factories.adjustment(ids["critique"]))
        with pytest.raises(DomainError):
            learning_storage.save_performance_feedback(factories.feedback(ids["concept"]))
        # Saving a generation with A's id creates B's own row; A's stays as it was
        storage.save_generation(factories.generation(ids["generation"], concepts=[]))
        # An insight with A's pattern is B's own
        learning_storage.save_insight({**factories.insight(evidence=9)})
    with tenant_scope(tenant_a):
        generation = storage.get_generation(ids["generation"])
        insights = learning_storage.get_insights()
    assert generation is not None
    assert generation.is_favorite is True
    assert len(generation.concepts) == 2
    assert [i.evidence_count for i in insights] == [1]


NO_SCOPE_CALLS: dict[str, Callable[[], Any]] = {
    "save_generation": lambda: storage.save_generation(factories.generation()),
    "get_generations": storage.get_generations,
    "get_generation": lambda: storage.get_generation("gen-x"),
    "delete_generation": lambda: storage.delete_generation("gen-x"),
    "toggle_favorite": lambda: storage.toggle_favorite("gen-x"),
    "get_favorites": storage.get_favorites,
    "search_generations": lambda: storage.search_generations("cats"),
    "get_generations_by_date_range": lambda: storage.get_generations_by_date_range(
        datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
    ),
    "get_analytics_data": storage.get_analytics_data,
    "save_critique": lambda: learning_storage.save_critique(factories.critique("c-1")),
    "get_critiques": learning_storage.get_critiques,
    "get_critiques_by_concept": lambda: learning_storage.get_critiques_by_concept("c-1"),
    "get_unapplied_critiques": learning_storage.get_unapplied_critiques,
    "save_insight": lambda: learning_storage.save_insight(factories.insight()),
    "get_insights": learning_storage.get_insights,
    "get_insights_by_pattern": lambda: learning_storage.get_insights_by_pattern("p"),
    "save_adjustment": lambda: learning_storage.save_adjustment(factories.adjustment("crit-1")),
    "get_adjustments": learning_storage.get_adjustments,
    "get_adjustments_by_category": lambda: learning_storage.get_adjustments_by_category("absurd"),
    "get_reflexion_stats": learning_storage.get_reflexion_stats,
    "save_performance_feedback": lambda: learning_storage.save_performance_feedback(factories.feedback("c-1")),
    "get_performance_feedback": learning_storage.get_performance_feedback,
}


@pytest.mark.parametrize("name", sorted(NO_SCOPE_CALLS))
def test_every_storage_function_fails_closed_without_a_tenant(name: str, database_url: object) -> None:
    with pytest.raises(TenantScopeMissing):
        NO_SCOPE_CALLS[name]()


def test_no_scope_list_covers_the_whole_storage_api() -> None:
    prefixes = ("save_", "get_", "delete_", "search_", "toggle_")
    public = {n for module in (storage, learning_storage) for n in dir(module) if n.startswith(prefixes)}
    assert public - {"count_generations"} == set(NO_SCOPE_CALLS)


def _bind(connection: Any, tenant: uuid.UUID | None) -> None:
    if tenant is not None:
        connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})


def test_runtime_role_confined_by_rls_even_with_hand_written_sql(
    runtime_engine: Engine, tenant_a: uuid.UUID, tenant_b: uuid.UUID
) -> None:
    ids = _seed(tenant_a)
    tables = [
        "generations",
        "concepts",
        "self_critiques",
        "reflexion_insights",
        "scoring_adjustments",
        "performance_feedback",
        "users",
        "api_keys",
        "tenants",
    ]
    for bound in (tenant_b, None):
        with runtime_engine.begin() as connection:
            _bind(connection, bound)
            counts = {t: connection.execute(text(f"select count(*) from {t}")).scalar_one() for t in tables}
            assert counts["tenants"] == (1 if bound else 0)
            assert {t: n for t, n in counts.items() if t != "tenants" and n} == {}
            updated = connection.execute(
                text("update generations set is_favorite = false where id = :id"), {"id": ids["generation"]}
            ).rowcount
            deleted = connection.execute(text("delete from concepts where id = :id"), {"id": ids["concept"]}).rowcount
            assert (updated, deleted) == (0, 0)
    # Writing a row for another tenant is refused by the WITH CHECK policy
    with pytest.raises(Exception, match="row-level security"), runtime_engine.begin() as connection:
        _bind(connection, tenant_b)
        connection.execute(
            text("insert into generations (tenant_id, id, trend_text) values (:t, 'gen-smuggled', '')"),
            {"t": str(tenant_a)},
        )
    # The tenant's own rows are there when A is bound (the zeros above are not vacuous)
    with runtime_engine.begin() as connection:
        _bind(connection, tenant_a)
        assert connection.execute(text("select count(*) from concepts")).scalar_one() == 2


def test_tenant_binding_ends_with_the_transaction(runtime_engine: Engine, tenant_a: uuid.UUID) -> None:
    _seed(tenant_a)
    with runtime_engine.begin() as connection:
        _bind(connection, tenant_a)
        assert connection.execute(text("select count(*) from generations")).scalar_one() == 1
    # The same pooled connection, next transaction: nothing is bound any more
    with runtime_engine.begin() as connection:
        assert connection.execute(text("select current_setting('app.tenant_id', true)")).scalar_one() in ("", None)
        assert connection.execute(text("select count(*) from generations")).scalar_one() == 0


def test_two_tenants_in_two_threads_never_see_each_other(tenant_a: uuid.UUID, tenant_b: uuid.UUID) -> None:
    # The original kept the tenant in a process global, which leaked exactly here.
    errors: list[str] = []
    barrier = threading.Barrier(2)

    def work(tenant: uuid.UUID, marker: str) -> None:
        try:
            with tenant_scope(tenant):
                barrier.wait(timeout=10)
                for i in range(25):
                    storage.save_generation(
                        factories.generation(f"{marker}-{i}", trends=[factories.trend(f"{marker} topic")])
                    )
                    seen = {g.id.split("-")[0] for g in storage.get_generations(limit=500)}
                    if seen != {marker}:
                        errors.append(f"{marker} saw {seen}")
        except Exception as exc:
            errors.append(f"{marker}: {exc!r}")

    threads = [
        threading.Thread(target=work, args=(tenant_a, "alpha")),
        threading.Thread(target=work, args=(tenant_b, "beta")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 25


def test_nested_unit_of_work_for_another_tenant_is_refused(tenant_a: uuid.UUID, tenant_b: uuid.UUID) -> None:
    from viral.db.uow import unit_of_work

    with unit_of_work(tenant_a), pytest.raises(TenantScopeMissing):
        storage.get_generations()  # joins A's unit of work: fine
        with unit_of_work(tenant_b):
            pass


def test_system_path_lists_tenants_but_reads_no_content(runtime_engine: Engine, tenant_a: uuid.UUID) -> None:
    from viral.identity.tenants import list_tenants

    _seed(tenant_a)
    assert tenant_a in {t.id for t in list_tenants()}
    with pytest.raises(Exception, match="permission denied"), runtime_engine.begin() as connection:
        connection.execute(text("set local role viral_system"))
        connection.execute(text("select count(*) from generations"))


def test_forbidden_maps_rls_violations(tenant_a: uuid.UUID) -> None:
    from viral.db.uow import unit_of_work

    with pytest.raises(Forbidden), unit_of_work(tenant_a) as uow:
        uow.session.execute(
            text("insert into generations (tenant_id, id, trend_text) values (:t, 'g', '')"), {"t": str(uuid.uuid4())}
        )


def test_a_unit_of_work_without_its_bind_sees_and_writes_nothing(tenant_a: uuid.UUID) -> None:
    """bind=False is for statements that bind the tenant themselves; anything else fails closed."""
    from viral.db.uow import unit_of_work

    _seed(tenant_a)
    with unit_of_work(tenant_a, bind=False) as uow:
        assert uow.session.execute(text("select count(*) from generations")).scalar_one() == 0
    with pytest.raises(Forbidden), unit_of_work(tenant_a, bind=False) as uow:
        uow.session.execute(
            text("insert into generations (tenant_id, id, trend_text) values (:t, 'g-x', '')"), {"t": str(tenant_a)}
        )
    with unit_of_work(tenant_a, bind=False) as uow:  # the rate-limit hit binds itself, then counts for A only
        first = uow.repository(RateLimitRepository).hit("probe", window_seconds=10)
        second = uow.repository(RateLimitRepository).hit("probe", window_seconds=10)
    assert (first.count, second.count, first.tier) == (1, 2, "FREE")

"""No storage call needs more than three statements, whatever the data size (counted at the driver)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from viral.content import storage
from viral.db.engine import get_engine
from viral.learning import storage as learning_storage
from viral.tenancy import tenant_scope

from tests import factories


@pytest.fixture
def statements(database_url: object) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_every_storage_call_takes_at_most_three_statements(tenant_a: uuid.UUID, statements: list[str]) -> None:
    big = factories.generation(
        concepts=[factories.concept() for _ in range(36)], trends=[factories.trend(f"t{i}") for i in range(30)]
    )
    concept_id = big["concepts"][0]["id"]
    calls: dict[str, Callable[[], Any]] = {
        "save_generation (new, 36 concepts)": lambda: storage.save_generation(big),
        "save_generation (update)": lambda: storage.save_generation(big),
        "get_generations": lambda: storage.get_generations(limit=50),
        "get_generation": lambda: storage.get_generation(big["id"]),
        "toggle_favorite": lambda: storage.toggle_favorite(big["id"]),
        "get_favorites": storage.get_favorites,
        "search_generations": lambda: storage.search_generations("cats"),
        "get_generations_by_date_range": lambda: storage.get_generations_by_date_range(
            datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
        ),
        "get_analytics_data": storage.get_analytics_data,
        "save_performance_feedback": lambda: learning_storage.save_performance_feedback(factories.feedback(concept_id)),
        "get_performance_feedback": learning_storage.get_performance_feedback,
        "save_critique": lambda: learning_storage.save_critique(factories.critique(concept_id, critique_id="crit-rt")),
        "get_critiques": learning_storage.get_critiques,
        "get_critiques_by_concept": lambda: learning_storage.get_critiques_by_concept(concept_id),
        "get_unapplied_critiques": learning_storage.get_unapplied_critiques,
        "save_insight": lambda: learning_storage.save_insight(factories.insight()),
        "get_insights": learning_storage.get_insights,
        "get_insights_by_pattern": lambda: learning_storage.get_insights_by_pattern("absurd-tiktok-over-predicted"),
        "save_adjustment": lambda: learning_storage.save_adjustment(factories.adjustment("crit-rt")),
        "get_adjustments": learning_storage.get_adjustments,
        "get_adjustments_by_category": lambda: learning_storage.get_adjustments_by_category("absurd"),
        "get_reflexion_stats": learning_storage.get_reflexion_stats,
        "delete_generation": lambda: storage.delete_generation(big["id"]),
    }
    counts: dict[str, int] = {}
    with tenant_scope(tenant_a):
        for name, call in calls.items():
            statements.clear()
            call()
            counts[name] = len(statements)
    assert {name: n for name, n in counts.items() if n > 3} == {}
    assert min(counts.values()) >= 2, "binding the tenant is one statement, the work at least another"

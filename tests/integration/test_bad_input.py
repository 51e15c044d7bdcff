"""Bad input to the storage API: a clear error, and nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from viral.content import storage
from viral.errors import InvalidInput, NotFound
from viral.learning import storage as learning_storage
from viral.tenancy import tenant_scope

from tests import factories


def _bad_generations() -> dict[str, Any]:
    good = factories.generation()
    return {
        "not a dict": "hello",
        "missing concepts": {k: v for k, v in good.items() if k != "concepts"},
        "wrong type": {**good, "isFavorite": {"yes": 1}},
        "bad date": {**good, "date": "yesterday-ish"},
        "oversized title": {**good, "concepts": [{**good["concepts"][0], "title": "x" * 501}]},
        "oversized id": {**good, "id": "g" * 65},
        "id with spaces": {**good, "id": "drop table; --"},
        "unknown category": {**good, "concepts": [{**good["concepts"][0], "category": "crypto"}]},
        "duplicate concept ids": {**good, "concepts": [good["concepts"][0], good["concepts"][0]]},
        "too many concepts": {**good, "concepts": [factories.concept() for _ in range(101)]},
        "script not a list": {**good, "concepts": [{**good["concepts"][0], "script": "0-3s cat"}]},
    }


@pytest.mark.parametrize("case", sorted(_bad_generations()))
def test_invalid_generation_is_refused_with_field_details_and_nothing_written(tenant_a: uuid.UUID, case: str) -> None:
    with tenant_scope(tenant_a):
        with pytest.raises(InvalidInput) as raised:
            storage.save_generation(_bad_generations()[case])
        assert storage.count_generations() == 0
    assert raised.value.details, "the error names the offending fields"
    assert all({"field", "message"} <= set(d) for d in raised.value.details)


@pytest.mark.parametrize(
    "call",
    [
        lambda: storage.get_generations(limit=0),
        lambda: storage.get_generations(limit=10_000),
        lambda: storage.get_generations(offset=-1),
        lambda: storage.get_generation(123),  # type: ignore[arg-type]
        lambda: storage.get_generation("x" * 65),
        lambda: storage.search_generations(""),
        lambda: storage.search_generations("x" * 201),
        lambda: storage.get_generations_by_date_range("2020", "2021"),  # type: ignore[arg-type]
        lambda: learning_storage.save_insight({**factories.insight(), "evidenceCount": 0}),
        lambda: learning_storage.save_performance_feedback({**factories.feedback("c"), "metrics": {"views": "many"}}),
        lambda: learning_storage.save_performance_feedback(factories.feedback("c", views=10, likes=11)),
        lambda: learning_storage.save_critique({**factories.critique("c"), "confidenceLevel": "certain"}),
    ],
)
def test_wrong_types_and_ranges_are_invalid_input(tenant_a: uuid.UUID, call: Any) -> None:
    with tenant_scope(tenant_a), pytest.raises(InvalidInput):
        call()


def test_unknown_ids_are_not_found_or_invalid_and_write_nothing(tenant_a: uuid.UUID) -> None:
    with tenant_scope(tenant_a):
        with pytest.raises(NotFound):
            storage.delete_generation("gen-missing")
        with pytest.raises(NotFound):
            storage.toggle_favorite("gen-missing")
        # Feedback and critiques for a concept the tenant does not have reference nothing: refused
        with pytest.raises(InvalidInput, match="referenced record"):
            learning_storage.save_performance_feedback(factories.feedback("concept-missing"))
        with pytest.raises(InvalidInput, match="referenced record"):
            learning_storage.save_critique(factories.critique("concept-missing"))
        assert learning_storage.get_performance_feedback() == []
        assert learning_storage.get_critiques() == []

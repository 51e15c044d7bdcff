"""The storage API behaves as the original's Prisma port did (with its defects fixed), on the real database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from viral.content import storage
from viral.errors import Conflict, NotFound
from viral.identity.tenant_repository import TenantRepository
from viral.learning import storage as learning_storage
from viral.tenancy import tenant_scope

from tests import factories


def test_save_generation_round_trips_every_field(tenant_a: uuid.UUID) -> None:
    # Given a generation as the dashboard sends it
    payload = factories.generation()
    with tenant_scope(tenant_a):
        # When it is saved and read back
        storage.save_generation(payload)
        stored = storage.get_generation(payload["id"])
    # Then every field the dashboard reads comes back the same, concepts in their order
    assert stored is not None
    wire = stored.wire()
    assert wire["id"] == payload["id"]
    assert [c["id"] for c in wire["concepts"]] == [c["id"] for c in payload["concepts"]]
    assert wire["concepts"][0]["script"] == payload["concepts"][0]["script"]
    assert wire["concepts"][0]["postTime"] == payload["concepts"][0]["postTime"]
    assert wire["trends"][0]["topic"] == payload["trends"][0]["topic"]
    assert wire["isFavorite"] is False


def test_save_generation_upserts_and_replaces_concepts(tenant_a: uuid.UUID) -> None:
    payload = factories.generation()
    with tenant_scope(tenant_a):
        storage.save_generation(payload)
        kept = payload["concepts"][0]
        updated = {**payload, "concepts": [{**kept, "title": "Renamed"}, factories.concept()]}
        storage.save_generation(updated)
        stored = storage.get_generation(payload["id"])
        assert storage.count_generations() == 1
    assert stored is not None
    assert [c.id for c in stored.concepts] == [kept["id"], updated["concepts"][1]["id"]]
    assert stored.concepts[0].title == "Renamed"


def test_save_generation_does_not_consume_quota(tenant_a: uuid.UUID) -> None:
    from viral.db.uow import unit_of_work

    with tenant_scope(tenant_a):
        storage.save_generation(factories.generation())
        with unit_of_work() as uow:
            tenant = uow.repository(TenantRepository).get()
    assert tenant is not None
    assert tenant.used_quota == 0


def test_concept_id_of_another_generation_is_a_conflict_and_writes_nothing(tenant_a: uuid.UUID) -> None:
    first = factories.generation()
    with tenant_scope(tenant_a):
        storage.save_generation(first)
        clash = factories.generation(concepts=[first["concepts"][0]])
        with pytest.raises(Conflict):
            storage.save_generation(clash)
        assert storage.get_generation(clash["id"]) is None


def test_get_generations_newest_first_with_pagination(tenant_a: uuid.UUID) -> None:
    now = datetime.now(UTC)
    ids = [f"gen-order-{i}" for i in range(5)]
    with tenant_scope(tenant_a):
        for i, gid in enumerate(ids):
            storage.save_generation(factories.generation(gid, date=now - timedelta(hours=i)))
        first_page = storage.get_generations(limit=2)
        second_page = storage.get_generations(limit=2, offset=2)
    assert [g.id for g in first_page] == ids[:2]
    assert [g.id for g in second_page] == ids[2:4]


def test_toggle_favorite_and_get_favorites(tenant_a: uuid.UUID) -> None:
    a, b = factories.generation(), factories.generation()
    with tenant_scope(tenant_a):
        storage.save_generation(a)
        storage.save_generation(b)
        assert storage.toggle_favorite(a["id"]) is True
        assert [g.id for g in storage.get_favorites()] == [a["id"]]
        assert storage.toggle_favorite(a["id"]) is False
        assert storage.get_favorites() == []


def test_delete_generation_removes_it_and_unknown_id_is_not_found(tenant_a: uuid.UUID) -> None:
    payload = factories.generation()
    with tenant_scope(tenant_a):
        storage.save_generation(payload)
        storage.delete_generation(payload["id"])
        assert storage.get_generation(payload["id"]) is None
        with pytest.raises(NotFound):
            storage.delete_generation(payload["id"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("TAXES", "title"),
        ("#soup", "hashtag"),
        ("quiet quitting", "trend topic"),
        ("Meme Stocks", "trend source"),
        ("caption", "caption"),
    ],
)
def test_search_generations_matches_concept_fields_and_trend_topics(
    tenant_a: uuid.UUID, query: str, expected: str
) -> None:
    target = factories.generation(
        concepts=[factories.concept(title="Cats doing taxes", hashtags=("#soup",), trend_source="meme stocks")],
        trends=[factories.trend("Quiet quitting")],
    )
    target["concepts"][0]["caption"] = "a caption"
    other = factories.generation(
        concepts=[factories.concept(title="Dogs", hashtags=("#dog",), trend_source="park")],
        trends=[factories.trend("Weather")],
    )
    other["concepts"][0]["caption"] = "nothing here"
    with tenant_scope(tenant_a):
        storage.save_generation(target)
        storage.save_generation(other)
        found = storage.search_generations(query)
    assert [g.id for g in found] == [target["id"]], expected


def test_search_treats_like_wildcards_literally(tenant_a: uuid.UUID) -> None:
    with tenant_scope(tenant_a):
        storage.save_generation(factories.generation())
        assert storage.search_generations("%") == []
        assert storage.search_generations("_") == []


def test_get_generations_by_date_range(tenant_a: uuid.UUID) -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    with tenant_scope(tenant_a):
        for day in range(5):
            storage.save_generation(factories.generation(f"gen-day-{day}", date=base + timedelta(days=day)))
        found = storage.get_generations_by_date_range(base + timedelta(days=1), base + timedelta(days=3))
    assert [g.id for g in found] == ["gen-day-3", "gen-day-2", "gen-day-1"]


def test_get_analytics_data_aggregates_in_sql(tenant_a: uuid.UUID) -> None:
    day = datetime(2026, 5, 4, 12, tzinfo=UTC)
    with tenant_scope(tenant_a):
        storage.save_generation(factories.generation(date=day, trends=[factories.trend("A"), factories.trend("B")]))
        storage.save_generation(factories.generation(date=day, trends=[factories.trend("A")]))
        analytics = storage.get_analytics_data()
    assert analytics.total_generations == 2
    assert analytics.total_concepts == 4
    assert len(analytics.category_breakdown) == 12
    assert analytics.category_breakdown["absurd"] == 2
    assert analytics.category_breakdown["food"] == 2
    assert analytics.category_breakdown["music"] == 0
    assert analytics.trend_frequency == {"A": 2, "B": 1}
    assert analytics.daily_generations == {"2026-05-04": 2}


def _saved_concept(tenant: uuid.UUID) -> str:
    payload = factories.generation()
    with tenant_scope(tenant):
        storage.save_generation(payload)
    return str(payload["concepts"][0]["id"])


def test_critiques_newest_first_by_concept_and_unapplied(tenant_a: uuid.UUID) -> None:
    concept_id = _saved_concept(tenant_a)
    now = datetime.now(UTC)
    with tenant_scope(tenant_a):
        older = learning_storage.save_critique({**factories.critique(concept_id), "createdAt": now - timedelta(days=1)})
        newer = learning_storage.save_critique({**factories.critique(concept_id), "appliedAt": now})
        assert [c.id for c in learning_storage.get_critiques()] == [newer.id, older.id]
        assert [c.id for c in learning_storage.get_critiques_by_concept(concept_id)] == [newer.id, older.id]
        assert [c.id for c in learning_storage.get_unapplied_critiques()] == [older.id]
        stored = learning_storage.get_critiques(limit=1)[0]
    assert stored.performance_gap.direction == "over-predicted"
    assert stored.hypothesized_reasons == ["weak first second"]


def test_save_insight_upserts_on_category_platform_pattern(tenant_a: uuid.UUID) -> None:
    with tenant_scope(tenant_a):
        first = learning_storage.save_insight(factories.insight(evidence=1))
        second = learning_storage.save_insight({**factories.insight(evidence=3), "recommendation": "Strong pattern"})
        insights = learning_storage.get_insights()
        by_pattern = learning_storage.get_insights_by_pattern("absurd-tiktok-over-predicted")
        by_category = learning_storage.get_insights("food")
    assert second.id == first.id
    assert len(insights) == 1
    assert insights[0].evidence_count == 3
    assert insights[0].recommendation == "Strong pattern"
    assert [i.id for i in by_pattern] == [first.id]
    assert by_category == []


def test_adjustments_by_category_and_decimal_values_as_numbers(tenant_a: uuid.UUID) -> None:
    concept_id = _saved_concept(tenant_a)
    with tenant_scope(tenant_a):
        critique = learning_storage.save_critique(factories.critique(concept_id))
        learning_storage.save_adjustment(factories.adjustment(critique.id, category="absurd"))
        learning_storage.save_adjustment(factories.adjustment(critique.id, category="food"))
        adjustments = learning_storage.get_adjustments()
        absurd = learning_storage.get_adjustments_by_category("absurd")
    assert len(adjustments) == 2
    assert [a.category for a in absurd] == ["absurd"]
    assert absurd[0].new_value == pytest.approx(0.9)
    assert isinstance(absurd[0].old_value, float)


def test_reflexion_stats_counts(tenant_a: uuid.UUID) -> None:
    concept_id = _saved_concept(tenant_a)
    now = datetime.now(UTC)
    with tenant_scope(tenant_a):
        critique = learning_storage.save_critique(factories.critique(concept_id))
        learning_storage.save_critique({**factories.critique(concept_id), "createdAt": now - timedelta(days=30)})
        learning_storage.save_insight(factories.insight())
        learning_storage.save_adjustment(factories.adjustment(critique.id))
        stats = learning_storage.get_reflexion_stats()
    assert (stats.total_critiques, stats.total_insights, stats.total_adjustments, stats.recent_critiques) == (
        2,
        1,
        1,
        1,
    )


def test_performance_feedback_flattens_metrics_and_computes_engagement(tenant_a: uuid.UUID) -> None:
    concept_id = _saved_concept(tenant_a)
    with tenant_scope(tenant_a):
        saved = learning_storage.save_performance_feedback(
            factories.feedback(concept_id, views=2000, likes=150, shares=30, comments=20)
        )
        stored = learning_storage.get_performance_feedback()
    assert saved.engagement_rate == pytest.approx(10.0)
    assert len(stored) == 1
    assert stored[0].metrics.views == 2000
    assert stored[0].engagement_rate == pytest.approx(10.0)
    assert stored[0].data_source == "manual"

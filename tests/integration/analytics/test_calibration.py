"""GET /api/analytics: the original's figures kept, plus how well calibrated the viral score is (predicted against
actual virality from the critics' performance gaps), per platform and category, per feedback source and overall.

Real PostgreSQL; the known set is written as the owner (critiques with chosen gaps), and one critique comes from
the real feedback path, so the JSON keys the critic writes are the ones read.
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.analytics.calibration import analytics_with_calibration
from viral.content.storage import save_generation
from viral.identity import auth
from viral.learning.feedback import record_feedback
from viral.tenancy import tenant_scope

from tests import factories
from tests.gateway import Gateway

# (platform, category, feedback source or None for a critique whose feedback is gone, predicted, actual)
KNOWN: list[tuple[str, str, str | None, float, float]] = [
    ("tiktok", "absurd", "api", 80, 60),
    ("tiktok", "absurd", "api", 50, 40),
    ("tiktok", "absurd", "api", 30, 35),
    ("youtube-shorts", "food", "manual", 70, 20),
    ("youtube-shorts", "food", "manual", 40, 60),
    ("instagram-reels", "tech", "manual", 60, 50),
    ("instagram-reels", "tech", "manual", 60, 70),  # a tie on the predicted side: both ranked 2.5
    ("instagram-reels", "tech", "manual", 20, 30),
    ("instagram-reels", "tech", "manual", 90, 10),
    ("tiktok", "news", None, 70, 70),
]


def key_of(tenant: uuid.UUID) -> dict[str, str]:
    with tenant_scope(tenant):
        secret = auth.create_api_key(scopes=("read", "write")).secret
    return {"Authorization": f"Bearer {secret}"}


def seed_known_set(engine: Engine, tenant: uuid.UUID) -> None:
    """One concept per pair, its feedback (with the pair's source) and a critique with the pair's gap."""
    concepts = [factories.concept(category=category) for _, category, *_ in KNOWN]
    with tenant_scope(tenant):
        save_generation(factories.generation(concepts=concepts))
    with engine.begin() as connection:
        for concept, (platform, category, source, predicted, actual) in zip(concepts, KNOWN, strict=True):
            feedback_id = None
            if source is not None:
                feedback_id = f"fb-{uuid.uuid4().hex[:12]}"
                connection.execute(
                    text(
                        "insert into performance_feedback (tenant_id, id, concept_id, concept_title, category, "
                        "platform, views, likes, shares, comments, engagement_rate, data_source) values "
                        "(:t, :id, :c, 'x', :category, :platform, 100, 10, 1, 1, 12, :source)"
                    ),
                    {"t": tenant, "id": feedback_id, "c": concept["id"], "category": category, "platform": platform}
                    | {"source": source},
                )
            gap = {
                "conceptId": concept["id"],
                "conceptTitle": "x",
                "category": category,
                "platform": platform,
                "predictedVirality": predicted,
                "actualEngagement": 5.0,
                "actualViralityScore": actual,
                "gap": actual - predicted,
                "gapPercentage": 0.0,
                "direction": "accurate",
            }
            connection.execute(
                text(
                    "insert into self_critiques (tenant_id, id, concept_id, feedback_id, performance_gap, critique, "
                    "hypothesized_reasons, scoring_issues, adjustment_plan, confidence_level) values "
                    "(:t, :id, :c, :f, cast(:gap as jsonb), 'c', '[]', '[]', 'p', 'high')"
                ),
                {"t": tenant, "id": f"crit-{uuid.uuid4().hex[:12]}", "c": concept["id"], "f": feedback_id}
                | {"gap": json.dumps(gap)},
            )


def by_key(entries: list[dict[str, Any]], *keys: str) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(entry[k] for k in keys): entry for entry in entries}


def test_calibration_on_a_known_set_per_platform_and_category_per_source_and_overall(
    tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    seed_known_set(owner_engine, tenant_a)
    with tenant_scope(tenant_a):
        calibration = analytics_with_calibration().wire()["calibration"]
    groups = by_key(calibration["byPlatformCategory"], "platform", "category")
    assert set(groups) == {
        ("tiktok", "absurd"),
        ("youtube-shorts", "food"),
        ("instagram-reels", "tech"),
        ("tiktok", "news"),
    }
    # Predictions in the same order as the outcomes: rank correlation 1; too high by 8.33 on average.
    assert groups["tiktok", "absurd"] == {
        "platform": "tiktok",
        "category": "absurd",
        "samples": 3,
        "meanPredicted": pytest.approx(53.3333),
        "meanActual": 45.0,
        "meanAbsoluteError": pytest.approx(11.6667),
        "bias": pytest.approx(8.3333),
        "rankCorrelation": 1.0,
    }
    # Two samples: the means are given, the rank correlation is not.
    youtube = groups["youtube-shorts", "food"]
    assert (youtube["samples"], youtube["meanAbsoluteError"], youtube["bias"], youtube["rankCorrelation"]) == (
        2,
        35.0,
        15.0,
        None,
    )
    # Spearman with a tie: ranks (2.5, 2.5, 1, 4) against (3, 4, 2, 1) correlate at -1.5 / sqrt(4.5 * 5).
    instagram = groups["instagram-reels", "tech"]
    assert instagram["rankCorrelation"] == pytest.approx(-0.3162, abs=1e-4)
    assert (instagram["meanAbsoluteError"], instagram["bias"]) == (27.5, 17.5)
    sources = by_key(calibration["bySource"], "source")
    assert {source: entry["samples"] for (source,), entry in sources.items()} == {"api": 3, "manual": 6, "none": 1}
    assert sources["api",]["rankCorrelation"] == 1.0 and sources["none",]["rankCorrelation"] is None
    assert sources["manual",]["meanAbsoluteError"] == pytest.approx((50 + 20 + 10 + 10 + 10 + 80) / 6, abs=1e-4)
    overall = calibration["overall"]
    assert (overall["samples"], overall["meanAbsoluteError"], overall["bias"]) == (10, 21.5, 12.5)
    assert -1 <= overall["rankCorrelation"] <= 1


def test_a_critique_from_the_feedback_route_is_counted_under_its_platform_category_and_manual_source(
    tenant_a: uuid.UUID,
) -> None:
    concept = factories.concept(category="food")
    with tenant_scope(tenant_a):
        save_generation(factories.generation(concepts=[concept]))
        _, reflection = record_feedback({**factories.feedback(str(concept["id"])), "category": "food"})
        calibration = analytics_with_calibration().calibration
    gap = reflection.critique.performance_gap
    [entry] = calibration.by_platform_category
    assert (entry.platform, entry.category, entry.samples) == ("tiktok", "food", 1)
    assert entry.mean_predicted == pytest.approx(gap.predicted_virality, abs=1e-4)
    assert entry.mean_actual == pytest.approx(gap.actual_virality_score, abs=1e-4)
    assert [(s.source, s.samples) for s in calibration.by_source] == [("manual", 1)]


def test_the_route_keeps_the_original_fields_answers_an_empty_tenant_and_keeps_tenants_apart(
    gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    seed_known_set(owner_engine, tenant_a)
    a = gateway.request("GET", "/api/analytics", headers=key_of(tenant_a))
    assert a.status == HTTPStatus.OK
    body = a.json()
    assert {"totalGenerations", "totalConcepts", "categoryBreakdown", "trendFrequency", "dailyGenerations"} <= set(body)
    assert body["totalConcepts"] == len(KNOWN) and body["calibration"]["overall"]["samples"] == len(KNOWN)

    b = gateway.request("GET", "/api/analytics", headers=key_of(tenant_b)).json()
    assert b["totalGenerations"] == 0
    assert b["calibration"] == {
        "overall": {
            "samples": 0,
            "meanPredicted": None,
            "meanActual": None,
            "meanAbsoluteError": None,
            "bias": None,
            "rankCorrelation": None,
        },
        "bySource": [],
        "byPlatformCategory": [],
    }

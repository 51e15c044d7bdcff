"""Proof that the reflexion loop learns: a simulated audience, 30 cycles, ours against the original's rule.

The audience has hidden true category weights per (category, platform); each cycle we generate concepts, the
audience reacts (the true score with multiplicative noise, turned into engagement by the documented mapping),
feedback is recorded, and the learner runs. Per cycle we report the mean absolute error between predicted and
actual score and Spearman's rank correlation, measured BEFORE learning from that cycle.
Arms (each on a fresh tenant, same seeds): ours; the original's rule (on every |gap| > 20 points, change the
category weight by 10/15/20% by the gap percentage, clamped to [0.5, 2]); and ours when the model already
matches the truth (it must not chase the noise).
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any

from viral.content.engine_repository import EngineRepository
from viral.learning.repository import CritiqueRepository, FeedbackRepository

from bench.common import RESULTS_DIR, Figure, print_table, throwaway_database, write_results
from local.simulation.measures import spearman

CYCLES = 30
NOISE = 0.08
SEED = 2026
PLATFORMS = {"tiktok": "tiktok", "youtube-shorts": "youtubeShorts", "instagram-reels": "instagramReels"}


def hidden_truth(rng: random.Random, *, at_truth: bool) -> dict[str, dict[str, float]]:
    from viral.content.scoring import DEFAULT_WEIGHTS

    truth = deepcopy(DEFAULT_WEIGHTS["categoryWeights"])
    if not at_truth:
        for platform in truth:
            for category in truth[platform]:
                truth[platform][category] = min(2.0, max(0.5, truth[platform][category] * rng.uniform(0.6, 1.6)))
    return truth


def audience_score(breakdown: dict[str, Any], category_weight_true: float, rng: random.Random) -> float:
    """The score the audience really gives: our formula with the true category weight, times noise."""
    from viral.content.scoring import squash

    factors = {f["name"]: f["multiplier"] for f in breakdown["factors"]}
    raw = breakdown["raw"] / factors["categoryWeight"] * category_weight_true
    return min(99.0, max(10.0, squash(raw) * math.exp(rng.gauss(0, NOISE))))


def original_rule(uow: Any, critiques: list[Any]) -> None:
    """The original app's adjustment, applied critique by critique as it did (category weight only)."""
    from viral.learning.reflexion import current_model

    model = current_model(uow)
    weights = deepcopy(model.weights)
    changed = False
    for critique in critiques:
        gap = critique.performance_gap
        if abs(gap.gap) <= 20:
            continue
        pct = abs(gap.gap_percentage)
        factor = 0.2 if pct > 40 else 0.15 if pct > 25 else 0.1 if pct > 15 else 0.0
        old = weights["categoryWeights"][gap.platform][gap.category]
        new = old * (1 - factor) if gap.direction == "over-predicted" else old * (1 + factor)
        weights["categoryWeights"][gap.platform][gap.category] = min(2.0, max(0.5, new))
        changed = True
    if changed:
        uow.repository(EngineRepository).add_score_model(
            version=model.version + 1,
            weights=weights,
            source="adjustment",
            based_on=model.version,
            reason="original rule",
        )
    uow.repository(CritiqueRepository).mark_applied([c.id for c in critiques])


def run_arm(*, learner: str, at_truth: bool) -> dict[str, list[float]]:
    from sqlalchemy import text
    from viral.content.concepts import ConceptRequest
    from viral.content.generation import generate
    from viral.db.engine import get_engine
    from viral.db.uow import unit_of_work
    from viral.identity.tenants import create_tenant
    from viral.learning.reflexion import reflect, run_reflexion, score_to_engagement
    from viral.learning.schemas import FeedbackMetrics, PerformanceFeedback
    from viral.tenancy import tenant_scope

    rng = random.Random(SEED)
    truth = hidden_truth(rng, at_truth=at_truth)
    tenant = create_tenant(f"learning-{learner}-{at_truth}").id
    with get_engine().begin() as connection:  # runtime role: a tenant may raise its own quota only via billing,
        connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
        connection.execute(text("update tenants set monthly_quota = 100000 where id = :t"), {"t": tenant})
    mae: list[float] = []
    rank: list[float] = []
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    for cycle in range(CYCLES):
        with tenant_scope(tenant):
            generation = generate(ConceptRequest(), now=start + timedelta(days=cycle), seed=SEED + cycle).generation
            predicted, actual = [], []
            with unit_of_work() as uow:
                critiques = []
                for concept in generation.concepts:
                    data = concept.wire()
                    for platform, key in PLATFORMS.items():
                        score = data["platformVirality"][key]
                        observed = audience_score(score["breakdown"], truth[platform][concept.category], rng)
                        predicted.append(float(score["score"]))
                        actual.append(observed)
                        views = 20_000
                        likes = round(views * score_to_engagement(observed) / 100)
                        feedback = PerformanceFeedback(
                            id=str(uuid.uuid4()),
                            concept_id=concept.id,
                            concept_title=concept.title,
                            category=concept.category,
                            platform=platform,
                            metrics=FeedbackMetrics(views=views, likes=likes, shares=0, comments=0),
                            engagement_rate=likes / views * 100,
                        )
                        uow.repository(FeedbackRepository).add(feedback)
                        critiques.append(reflect(uow, feedback).critique)
                if learner == "original_rule":
                    original_rule(uow, critiques)
            if learner == "ours":
                run_reflexion()
        mae.append(round(sum(abs(p - a) for p, a in zip(predicted, actual, strict=True)) / len(actual), 3))
        rank.append(spearman(predicted, actual) or 0.0)
    return {"mae": mae, "rank_corr": rank}


def run() -> bool:
    started = time.perf_counter()
    with throwaway_database():
        ours = run_arm(learner="ours", at_truth=False)
        original = run_arm(learner="original_rule", at_truth=False)
        at_truth = run_arm(learner="ours", at_truth=True)
    result = {"ours": ours, "original_rule": original, "at_truth": {"mae": at_truth["mae"]}}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "learning.json").write_text(json.dumps(result, indent=2) + "\n")
    from bench.charts import line_chart

    legend = line_chart(
        RESULTS_DIR / "learning.png",
        {"ours": ours["mae"], "original rule": original["mae"], "ours at truth": at_truth["mae"]},
        title="Prediction error per learning cycle",
        x_label="cycle",
        y_label="mean absolute error (virality points)",
    )
    tail = slice(10, CYCLES)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    figures = [
        Figure("ours: MAE cycle 10 / cycle 1", ours["mae"][9] / ours["mae"][0], "x", "<=", 0.5),
        Figure("ours: rank correlation at cycle 10", ours["rank_corr"][9], "", ">=", 0.7),
        Figure(
            "MAE cycles 11-30: ours / original rule",
            mean(ours["mae"][tail]) / mean(original["mae"][tail]),
            "x",
            "<",
            1.0,
        ),
        Figure(
            "rank corr cycles 11-30: ours - original rule",
            mean(ours["rank_corr"][tail]) - mean(original["rank_corr"][tail]),
            "",
            ">",
            0.0,
        ),
        Figure(
            "at truth: MAE cycles 26-30 / cycles 1-5",
            mean(at_truth["mae"][25:]) / mean(at_truth["mae"][:5]),
            "x",
            "<=",
            1.10,
        ),
    ]
    duration_s = round(time.perf_counter() - started, 1)
    write_results("learning_summary", figures, {"legend": legend, "duration_s": duration_s})
    print_table("Reflexion learning (bench/results/learning.json, learning.png)", figures)
    return all(f.passed for f in figures)

"""The reflexion loop: feedback -> gap -> self-critique -> insight -> bounded, reversible score-model adjustment.

One engagement-to-score mapping (the original's reflexion map, kept as the documented one):
    e <= 0 -> 10;  e <= 2 -> 10 + 15e;  e <= 5 -> 40 + 10(e - 2);  e <= 10 -> 70 + 4(e - 5);
    else min(100, 90 + 2(e - 10))
where e is the engagement rate in percent, (likes + shares + comments) / views * 100.

The learner works on the score's raw scale (score = 100 tanh(raw / 100)), where a category weight multiplies raw:
each critique gives the ratio raw_actual / raw_predicted for its (category, platform). A weight moves only when
enough evidence agrees (at least MIN_EVIDENCE critiques and a t-statistic of the mean log-ratio of at least T_MIN),
by a damped, bounded step, so it converges on real bias and does not chase noise.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections import defaultdict
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from viral.content.engine_repository import EngineRepository
from viral.content.repository import GenerationRepository
from viral.content.scoring import DEFAULT_WEIGHTS, PLATFORM_KEYS, WEIGHT_BOUNDS, ScoreModel
from viral.db.uow import UnitOfWork, unit_of_work
from viral.errors import InvalidInput, NotFound
from viral.learning.critic import Critic, WrittenCritique, rule_based_critique
from viral.learning.messages import ReflexionJobMessage
from viral.learning.repository import AdjustmentRepository, CritiqueRepository, InsightRepository
from viral.learning.schemas import (
    PerformanceFeedback,
    PerformanceGap,
    ReflexionInsight,
    ScoringAdjustment,
    SelfCritique,
)
from viral.outbound.events import emit

ACCURATE_BAND_PCT = 20
MIN_EVIDENCE = 3
T_MIN = 2.0
LEARNING_RATE = 0.6
MAX_STEP = 0.25  # a weight moves by at most 25% per adjustment
WINDOW = 60  # the newest critiques per (category, platform) that count as evidence
EVIDENCE_LIMIT = 5000  # the newest critiques read per run (every cell's window, with room)


def engagement_to_score(rate_pct: float) -> float:
    """The one engagement-to-score mapping (see the module docstring)."""
    e = max(0.0, rate_pct)
    if e <= 0:
        return 10.0
    if e <= 2:
        return 10 + 15 * e
    if e <= 5:
        return 40 + 10 * (e - 2)
    if e <= 10:
        return 70 + 4 * (e - 5)
    return min(100.0, 90 + 2 * (e - 10))


def score_to_engagement(score: float) -> float:
    """The inverse of engagement_to_score on its increasing part (for simulations and tests)."""
    s = max(10.0, min(100.0, score))
    if s <= 40:
        return (s - 10) / 15
    if s <= 70:
        return 2 + (s - 40) / 10
    if s <= 90:
        return 5 + (s - 70) / 4
    return 10 + (s - 90) / 2


def raw_of(score: float) -> float:
    """The inverse of the score's squash: the raw value that maps to `score`."""
    return 100 * math.atanh(max(0.5, min(score, 99.5)) / 100)


def measure_gap(concept: dict[str, Any], feedback: PerformanceFeedback) -> PerformanceGap:
    """Predicted (the concept's score for that platform) against actual (from engagement), as the original did."""
    virality = (concept.get("platformVirality") or {}).get(PLATFORM_KEYS[feedback.platform]) or {}
    predicted = float(virality.get("score", 70))  # the original's default when a concept carried no score
    breakdown = virality.get("breakdown") or {}
    weights = {f["name"]: f["multiplier"] for f in breakdown.get("factors", []) if "name" in f}
    actual = engagement_to_score(feedback.engagement_rate or 0.0)
    gap = predicted - actual
    percentage = round(gap / predicted * 100) if predicted else 0
    direction = (
        "accurate" if abs(percentage) <= ACCURATE_BAND_PCT else "over-predicted" if gap > 0 else "under-predicted"
    )
    return PerformanceGap(
        concept_id=feedback.concept_id,
        concept_title=feedback.concept_title,
        category=feedback.category,
        platform=feedback.platform,
        predicted_virality=predicted,
        actual_engagement=feedback.engagement_rate or 0.0,
        actual_virality_score=round(actual, 2),
        gap=round(gap, 2),
        gap_percentage=percentage,
        direction=direction,
        model_version=breakdown.get("modelVersion"),
        predicted_raw=breakdown.get("raw"),
        category_weight=weights.get("categoryWeight"),
    )


def current_model(uow: UnitOfWork) -> ScoreModel:
    """The tenant's current score model (the defaults until a first adjustment stores a version)."""
    found = uow.repository(EngineRepository).current_score_model()
    return ScoreModel() if found is None else ScoreModel(version=found[0], weights=found[1])


# --- one feedback ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reflection:
    critique: SelfCritique
    created: bool


def critic_text(feedback: PerformanceFeedback, critic: Critic | None) -> WrittenCritique | None:
    """What the configured critic writes about this feedback, asked with no transaction held: an LLM critic is a
    network call, and it must not keep a transaction (and the rows it locked) open while it answers.
    None without a critic, or when it had nothing usable to say (the rules then write the critique).
    """
    if critic is None:
        return None
    with unit_of_work() as uow:
        concept = uow.repository(GenerationRepository).concept_data(feedback.concept_id)
    if concept is None:
        raise NotFound("Concept not found")
    return critic.critique(concept, measure_gap(concept, feedback))


def reflect(uow: UnitOfWork, feedback: PerformanceFeedback, *, written: WrittenCritique | None = None) -> Reflection:
    """Critique one feedback (once: a second call returns the first critique) and record its insight.

    `written` is the critic's text, obtained beforehand with `critic_text`; without it the rules write one.
    """
    existing = uow.repository(CritiqueRepository).for_feedback(feedback.concept_id, feedback.id)
    if existing is not None:
        return Reflection(existing, created=False)
    concept = uow.repository(GenerationRepository).concept_data(feedback.concept_id)
    if concept is None:
        raise NotFound("Concept not found")
    gap = measure_gap(concept, feedback)
    written = written or rule_based_critique(gap, feedback)
    critique = SelfCritique(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"critique:{uow.tenant_id}:{feedback.concept_id}:{feedback.id}")),
        concept_id=feedback.concept_id,
        feedback_id=feedback.id,
        performance_gap=gap,
        critique=written.critique,
        hypothesized_reasons=written.reasons,
        scoring_issues=written.scoring_issues,
        adjustment_plan=written.adjustment_plan,
        confidence_level=written.confidence,
    )
    if not uow.repository(CritiqueRepository).add_once(critique):
        return Reflection(
            uow.repository(CritiqueRepository).for_feedback(feedback.concept_id, feedback.id) or critique, created=False
        )
    emit(uow, "critique.created", {"critiqueId": critique.id, "conceptId": critique.concept_id, "gap": gap.gap})
    uow.repository(InsightRepository).record_evidence(
        ReflexionInsight(
            id=str(uuid.uuid4()),
            category=gap.category,
            platform=gap.platform,
            pattern=f"{gap.category}-{gap.platform}-{gap.direction}",
            evidence_count=1,
            impact={"over-predicted": "negative", "under-predicted": "positive"}.get(gap.direction, "neutral"),
            recommendation=written.adjustment_plan,
        )
    )
    return Reflection(critique, created=True)


def reflect_on_feedback(feedback: PerformanceFeedback, *, critic: Critic | None = None) -> Reflection:
    written = critic_text(feedback, critic)
    with unit_of_work() as uow:
        return reflect(uow, feedback, written=written)


# --- learning from the accumulated critiques ------------------------------------------------------------------


@dataclass(frozen=True)
class RunReport:
    critiques_considered: int
    adjustments: list[ScoringAdjustment]
    model_version: int

    def wire(self) -> dict[str, Any]:
        return {
            "critiquesConsidered": self.critiques_considered,
            "adjustmentsApplied": len(self.adjustments),
            "modelVersion": self.model_version,
            "adjustments": [a.wire() for a in self.adjustments],
        }


def _log_ratio(critique: SelfCritique, model: ScoreModel) -> float | None:
    """How far off the current weight is, by this critique: log(raw_actual / raw_predicted_now)."""
    gap = critique.performance_gap
    if gap.predicted_raw is None or not gap.category_weight:
        raw_predicted = raw_of(gap.predicted_virality)
        weight_then = None
    else:
        raw_predicted, weight_then = gap.predicted_raw, gap.category_weight
    if weight_then:  # re-express the prediction under today's weight (earlier adjustments already moved it)
        raw_predicted *= model.category_weight(gap.category, gap.platform) / weight_then
    if raw_predicted <= 0:
        return None
    return math.log(raw_of(gap.actual_virality_score) / raw_predicted)


def run_reflexion(*, now: datetime | None = None) -> RunReport:
    """Learn from the current tenant's critiques: adjust each (category, platform) weight the evidence supports,
    each adjustment a new score-model version.

    The evidence of a cell is its newest critiques (up to WINDOW), applied or not, each re-expressed under
    today's weight, so an adjustment keeps what earlier critiques taught instead of forgetting them once used:
    the weight converges to the value the evidence supports, in steps of at most MAX_STEP. A cell moves only
    when it has a critique no adjustment has used yet (those are then marked applied): a rerun, or a duplicate
    job, with no new evidence changes nothing. Critiques older than the last rollback no longer count.
    """
    now = now or datetime.now(UTC)
    with unit_of_work() as uow:
        model = current_model(uow)
        since = uow.repository(EngineRepository).last_rollback_at()
        critiques = uow.repository(CritiqueRepository).evidence(since=since, limit=EVIDENCE_LIMIT)
        groups: dict[tuple[str, str], list[SelfCritique]] = defaultdict(list)
        for critique in critiques:  # newest first
            key = (critique.performance_gap.category, critique.performance_gap.platform)
            if critique.confidence_level != "low" and len(groups[key]) < WINDOW:
                groups[key].append(critique)
        adjustments: list[ScoringAdjustment] = []
        for (category, platform), group in sorted(groups.items()):
            fresh = [c for c in group if c.applied_at is None]
            if not fresh:
                continue
            ratios = [r for c in group if (r := _log_ratio(c, model)) is not None]
            step = _step(ratios)
            if step is None:
                continue
            model, adjustment = _adjust(uow, model, category, platform, step, fresh, len(ratios))
            adjustments.append(adjustment)
        considered = sum(len(g) for g in groups.values())
        return RunReport(critiques_considered=considered, adjustments=adjustments, model_version=model.version)


def _step(log_ratios: list[float]) -> float | None:
    """The multiplicative step the evidence supports, or None when it is too thin or too noisy."""
    if len(log_ratios) < MIN_EVIDENCE:
        return None
    mean = statistics.fmean(log_ratios)
    spread = statistics.stdev(log_ratios)
    t = abs(mean) / (spread / math.sqrt(len(log_ratios))) if spread > 0 else math.inf
    if t < T_MIN or abs(mean) < math.log(1.02):
        return None
    return min(1 + MAX_STEP, max(1 - MAX_STEP, math.exp(LEARNING_RATE * mean)))


def _adjust(
    uow: UnitOfWork,
    model: ScoreModel,
    category: str,
    platform: str,
    step: float,
    group: list[SelfCritique],
    evidence: int,
) -> tuple[ScoreModel, ScoringAdjustment]:
    low, high = WEIGHT_BOUNDS
    old = model.category_weight(category, platform)
    new = round(min(high, max(low, old * step)), 4)
    weights = deepcopy(model.weights)
    weights["categoryWeights"][platform][category] = new
    version = model.version + 1
    if model.version == 1:  # the defaults were implicit: store them so a rollback can restore them
        uow.repository(EngineRepository).ensure_default_model(DEFAULT_WEIGHTS)
    direction = "over-predicted" if step < 1 else "under-predicted"
    reason = (
        f"{category}/{platform} {direction} across {evidence} critiques: weight x{step:.3f} "
        f"({old:g} -> {new:g}), bounded to [{low}, {high}]"
    )
    uow.repository(EngineRepository).add_score_model(
        version=version, weights=weights, source="adjustment", based_on=model.version, reason=reason
    )
    adjustment = ScoringAdjustment(
        id=str(uuid.uuid4()),
        category=category,
        adjustment_type="category-weight",
        old_value=old,
        new_value=new,
        reason=reason,
        critique_id=group[0].id,
    )
    uow.repository(AdjustmentRepository).add(adjustment, score_model_version=version)
    uow.repository(CritiqueRepository).mark_applied([c.id for c in group])
    uow.repository(InsightRepository).mark_applied(category, platform, f"{category}-{platform}-{direction}")
    emit(uow, "model.adjusted", {"modelVersion": version, "category": category, "platform": platform, "reason": reason})
    return ScoreModel(version=version, weights=weights), adjustment


def rollback(version: int) -> dict[str, int]:
    """Make the weights of an earlier version current again, as a new version (history is never rewritten)."""
    if not isinstance(version, int) or version < 1:
        raise InvalidInput("version must be a positive integer")
    with unit_of_work() as uow:
        current = current_model(uow)
        if version == 1 and current.version == 1:
            return {"restoredVersion": 1, "modelVersion": 1}
        target = uow.repository(EngineRepository).score_model(version) if version > 1 or current.version > 1 else None
        weights = target if target is not None else (deepcopy(DEFAULT_WEIGHTS) if version == 1 else None)
        if weights is None:
            raise NotFound(f"score model version {version} not found")
        if current.version == 1:
            uow.repository(EngineRepository).ensure_default_model(DEFAULT_WEIGHTS)
        new_version = current.version + 1
        uow.repository(EngineRepository).add_score_model(
            version=new_version,
            weights=weights,
            source="rollback",
            based_on=version,
            reason=f"rollback to version {version}",
        )
    return {"restoredVersion": version, "modelVersion": new_version}


def schedule_reflexion(*, now: datetime | None = None) -> dict[str, Any]:
    """The schedule's work: one message per tenant on the reflexion queue (batched sends), so every tenant gets its
    run from the workers however many tenants there are; a tenant's run never waits for another's.
    """
    from viral.aws.sqs import send_batch
    from viral.identity.tenants import list_tenants
    from viral.settings import get_settings

    now = now or datetime.now(UTC)
    messages = [ReflexionJobMessage(tenant_id=tenant.id, scheduled_at=now) for tenant in list_tenants()]
    return {"tenants": len(messages), "enqueued": send_batch(get_settings().reflexion_queue_url, messages)}


def run_reflexion_job(message: ReflexionJobMessage) -> RunReport:
    """One tenant's learner run (idempotent: it learns only from critiques not applied yet)."""
    from viral.tenancy import tenant_scope

    with tenant_scope(message.tenant_id):
        return run_reflexion()

"""The original app's storage API for reflexion records and performance feedback, in the current tenant scope.

Like the generations half (viral.content.storage), each function joins the caller's unit of work when one is open.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from viral.content.storage import MAX_PAGE, checked_content_id, page_bounds, validated
from viral.db.uow import unit_of_work
from viral.errors import InvalidInput
from viral.learning.repository import (
    AdjustmentRepository,
    CritiqueRepository,
    FeedbackRepository,
    InsightRepository,
    reflexion_stats,
)
from viral.learning.schemas import (
    PerformanceFeedback,
    ReflexionInsight,
    ReflexionStats,
    ScoringAdjustment,
    SelfCritique,
)

# --- reflexion records -----------------------------------------------------------------------------------


def save_critique(critique: SelfCritique | dict[str, Any]) -> SelfCritique:
    model: SelfCritique = validated(SelfCritique, critique)
    with unit_of_work() as uow:
        uow.repository(CritiqueRepository).add(model)
    return model


def get_critiques(*, limit: int = 50) -> list[SelfCritique]:
    limit, _ = page_bounds(limit)
    with unit_of_work() as uow:
        return uow.repository(CritiqueRepository).recent(limit=limit)


def get_critiques_by_concept(concept_id: str) -> list[SelfCritique]:
    with unit_of_work() as uow:
        return uow.repository(CritiqueRepository).by_concept(checked_content_id(concept_id, "conceptId"))


def get_unapplied_critiques() -> list[SelfCritique]:
    with unit_of_work() as uow:
        return uow.repository(CritiqueRepository).unapplied()


def save_insight(insight: ReflexionInsight | dict[str, Any]) -> ReflexionInsight:
    """Insert, or update the insight with the same (category, platform, pattern); the stored insight."""
    model: ReflexionInsight = validated(ReflexionInsight, insight)
    with unit_of_work() as uow:
        return uow.repository(InsightRepository).upsert(model)


def get_insights(category: str | None = None) -> list[ReflexionInsight]:
    with unit_of_work() as uow:
        return uow.repository(InsightRepository).newest(category=category)


def get_insights_by_pattern(pattern: str) -> list[ReflexionInsight]:
    if not isinstance(pattern, str) or len(pattern) > 10_000:
        raise InvalidInput("pattern must be a string of at most 10,000 characters")
    with unit_of_work() as uow:
        return uow.repository(InsightRepository).by_pattern(pattern)


def save_adjustment(adjustment: ScoringAdjustment | dict[str, Any]) -> ScoringAdjustment:
    model: ScoringAdjustment = validated(ScoringAdjustment, adjustment)
    with unit_of_work() as uow:
        uow.repository(AdjustmentRepository).add(model)
    return model


def get_adjustments(*, limit: int = 50) -> list[ScoringAdjustment]:
    limit, _ = page_bounds(limit)
    with unit_of_work() as uow:
        return uow.repository(AdjustmentRepository).recent(limit=limit)


def get_adjustments_by_category(category: str, *, limit: int = MAX_PAGE) -> list[ScoringAdjustment]:
    limit, _ = page_bounds(limit)
    with unit_of_work() as uow:
        return uow.repository(AdjustmentRepository).recent(limit=limit, category=category)


def get_reflexion_stats(*, now: datetime | None = None) -> ReflexionStats:
    with unit_of_work() as uow:
        return reflexion_stats(uow.repository(CritiqueRepository), now=now or datetime.now(UTC))


# --- performance feedback -------------------------------------------------------------------------------


def engagement_rate(views: int, likes: int, shares: int, comments: int) -> float:
    """(likes + shares + comments) / views * 100, as the original; 0 when there are no views."""
    return 0.0 if views <= 0 else (likes + shares + comments) / views * 100


def save_performance_feedback(feedback: PerformanceFeedback | dict[str, Any]) -> PerformanceFeedback:
    """Store feedback; the id and engagement rate are filled in when missing, as the original did."""
    if isinstance(feedback, dict):
        feedback = {"id": str(uuid.uuid4()), **feedback}
    model: PerformanceFeedback = validated(PerformanceFeedback, feedback)
    if model.engagement_rate is None:
        m = model.metrics
        model = model.model_copy(update={"engagement_rate": engagement_rate(m.views, m.likes, m.shares, m.comments)})
    with unit_of_work() as uow:
        uow.repository(FeedbackRepository).add(model)
    return model


def get_performance_feedback(*, limit: int = 100) -> list[PerformanceFeedback]:
    limit, _ = page_bounds(limit)
    with unit_of_work() as uow:
        return uow.repository(FeedbackRepository).recent(limit=limit)

"""The original app's storage API, in Python: same names and meaning, always inside the current tenant scope.

Each function joins the caller's unit of work when one is open (so a service can combine several in one
transaction) or opens its own for the tenant bound to this context. With no tenant bound they raise
TenantScopeMissing. Unlike the original, save_generation does not touch the quota.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from viral.db.repositories.generations import StoredGeneration
from viral.db.repositories.learning import reflexion_stats
from viral.db.uow import unit_of_work
from viral.errors import InvalidInput, NotFound
from viral.schemas.content import AnalyticsData, Generation
from viral.schemas.learning import (
    PerformanceFeedback,
    ReflexionInsight,
    ReflexionStats,
    ScoringAdjustment,
    SelfCritique,
)

MAX_PAGE = 500
MAX_QUERY_LENGTH = 200


def _validated(model: type[Any], value: Any) -> Any:
    """Accept a model instance or its JSON-shaped dict; anything else is InvalidInput with field details."""
    if isinstance(value, model):
        return value
    try:
        return TypeAdapter(model).validate_python(value)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput(f"invalid {model.__name__}", details=details) from exc


def _page(limit: int, offset: int = 0) -> tuple[int, int]:
    if not (isinstance(limit, int) and 1 <= limit <= MAX_PAGE) or not (isinstance(offset, int) and offset >= 0):
        raise InvalidInput(f"limit must be 1..{MAX_PAGE} and offset >= 0")
    return limit, offset


def _content_id(value: Any, name: str = "id") -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise InvalidInput(f"{name} must be a string of 1 to 64 characters")
    return value


# --- generations -----------------------------------------------------------------------------------------


def save_generation(generation: Generation | dict[str, Any]) -> Generation:
    """Insert or replace a generation with its concepts (no quota side effect)."""
    model: Generation = _validated(Generation, generation)
    with unit_of_work() as uow:
        uow.generations.upsert(model)
    return model


def get_generations(*, limit: int = 50, offset: int = 0) -> list[StoredGeneration]:
    """The tenant's generations, newest first (as stored: validated when written, not again on read)."""
    limit, offset = _page(limit, offset)
    with unit_of_work() as uow:
        return uow.generations.newest(limit=limit, offset=offset)


def count_generations() -> int:
    with unit_of_work() as uow:
        return uow.generations.count()


def get_generation(generation_id: str) -> StoredGeneration | None:
    with unit_of_work() as uow:
        return uow.generations.get(_content_id(generation_id))


def delete_generation(generation_id: str) -> None:
    """Delete a generation and its concepts; NotFound when the tenant has no such generation."""
    with unit_of_work() as uow:
        if not uow.generations.delete(_content_id(generation_id)):
            raise NotFound("generation not found")


def toggle_favorite(generation_id: str) -> bool:
    """Flip the favourite flag; the new value."""
    with unit_of_work() as uow:
        value = uow.generations.toggle_favorite(_content_id(generation_id))
    if value is None:
        raise NotFound("generation not found")
    return value


def get_favorites(*, limit: int = 50, offset: int = 0) -> list[StoredGeneration]:
    limit, offset = _page(limit, offset)
    with unit_of_work() as uow:
        return uow.generations.newest(limit=limit, offset=offset, favorites_only=True)


def search_generations(query: str, *, limit: int = 50) -> list[StoredGeneration]:
    """Generations whose concepts (title, caption, hashtags, trend source) or trend topics contain `query`."""
    if not isinstance(query, str) or not query.strip() or len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"the search query must be 1 to {MAX_QUERY_LENGTH} characters")
    limit, _ = _page(limit)
    with unit_of_work() as uow:
        return uow.generations.search(query.strip(), limit=limit)


def get_generations_by_date_range(start: datetime, end: datetime, *, limit: int = MAX_PAGE) -> list[StoredGeneration]:
    if not isinstance(start, datetime) or not isinstance(end, datetime) or start > end:
        raise InvalidInput("start and end must be datetimes with start <= end")
    limit, _ = _page(limit)
    with unit_of_work() as uow:
        return uow.generations.newest(limit=limit, start=start, end=end)


def get_analytics_data() -> AnalyticsData:
    with unit_of_work() as uow:
        return uow.generations.analytics()


# --- reflexion records -----------------------------------------------------------------------------------


def save_critique(critique: SelfCritique | dict[str, Any]) -> SelfCritique:
    model: SelfCritique = _validated(SelfCritique, critique)
    with unit_of_work() as uow:
        uow.critiques.add(model)
    return model


def get_critiques(*, limit: int = 50) -> list[SelfCritique]:
    limit, _ = _page(limit)
    with unit_of_work() as uow:
        return uow.critiques.recent(limit=limit)


def get_critiques_by_concept(concept_id: str) -> list[SelfCritique]:
    with unit_of_work() as uow:
        return uow.critiques.by_concept(_content_id(concept_id, "conceptId"))


def get_unapplied_critiques() -> list[SelfCritique]:
    with unit_of_work() as uow:
        return uow.critiques.unapplied()


def save_insight(insight: ReflexionInsight | dict[str, Any]) -> ReflexionInsight:
    """Insert, or update the insight with the same (category, platform, pattern); the stored insight."""
    model: ReflexionInsight = _validated(ReflexionInsight, insight)
    with unit_of_work() as uow:
        return uow.insights.upsert(model)


def get_insights(category: str | None = None) -> list[ReflexionInsight]:
    with unit_of_work() as uow:
        return uow.insights.newest(category=category)


def get_insights_by_pattern(pattern: str) -> list[ReflexionInsight]:
    if not isinstance(pattern, str) or len(pattern) > 10_000:
        raise InvalidInput("pattern must be a string of at most 10,000 characters")
    with unit_of_work() as uow:
        return uow.insights.by_pattern(pattern)


def save_adjustment(adjustment: ScoringAdjustment | dict[str, Any]) -> ScoringAdjustment:
    model: ScoringAdjustment = _validated(ScoringAdjustment, adjustment)
    with unit_of_work() as uow:
        uow.adjustments.add(model)
    return model


def get_adjustments(*, limit: int = 50) -> list[ScoringAdjustment]:
    limit, _ = _page(limit)
    with unit_of_work() as uow:
        return uow.adjustments.recent(limit=limit)


def get_adjustments_by_category(category: str, *, limit: int = MAX_PAGE) -> list[ScoringAdjustment]:
    limit, _ = _page(limit)
    with unit_of_work() as uow:
        return uow.adjustments.recent(limit=limit, category=category)


def get_reflexion_stats(*, now: datetime | None = None) -> ReflexionStats:
    with unit_of_work() as uow:
        return reflexion_stats(uow.critiques, now=now or datetime.now(UTC))


# --- performance feedback -------------------------------------------------------------------------------


def engagement_rate(views: int, likes: int, shares: int, comments: int) -> float:
    """(likes + shares + comments) / views * 100, as the original; 0 when there are no views."""
    return 0.0 if views <= 0 else (likes + shares + comments) / views * 100


def save_performance_feedback(feedback: PerformanceFeedback | dict[str, Any]) -> PerformanceFeedback:
    """Store feedback; the id and engagement rate are filled in when missing, as the original did."""
    if isinstance(feedback, dict):
        feedback = {"id": str(uuid.uuid4()), **feedback}
    model: PerformanceFeedback = _validated(PerformanceFeedback, feedback)
    if model.engagement_rate is None:
        m = model.metrics
        model = model.model_copy(update={"engagement_rate": engagement_rate(m.views, m.likes, m.shares, m.comments)})
    with unit_of_work() as uow:
        uow.feedback.add(model)
    return model


def get_performance_feedback(*, limit: int = 100) -> list[PerformanceFeedback]:
    limit, _ = _page(limit)
    with unit_of_work() as uow:
        return uow.feedback.recent(limit=limit)

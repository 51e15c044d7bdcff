"""Performance feedback from the dashboard: the original's validation rules, storage, and the overview."""

from __future__ import annotations

import uuid
from typing import Any

from viral.db.models import Concept
from viral.db.uow import unit_of_work
from viral.errors import InvalidInput, NotFound
from viral.learning.critic import configured_critic
from viral.learning.reflexion import Reflection, critic_text, reflect
from viral.learning.repository import FeedbackRepository
from viral.learning.schemas import FeedbackMetrics, PerformanceFeedback
from viral.learning.storage import engagement_rate
from viral.operations.repository import feedback_summary
from viral.vocabulary import CATEGORY_VALUES

PLATFORMS = ("tiktok", "youtube-shorts", "instagram-reels")
PLATFORM_KEYS = {"tiktok": "tiktok", "youtube-shorts": "youtubeShorts", "instagram-reels": "instagramReels"}
COUNTS = ("views", "likes", "comments", "shares")
OPTIONAL_COUNTS = ("saves", "clickThroughRate", "watchTimeSeconds")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN is not


def _error(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _count_errors(metrics: dict[str, Any]) -> list[dict[str, str]]:
    errors = []
    for name in COUNTS:
        if not _is_number(metrics.get(name)):
            errors.append(_error(f"metrics.{name}", f"{name} is required and must be a number"))
        elif metrics[name] < 0:
            errors.append(_error(f"metrics.{name}", f"{name} cannot be negative"))
    for name in OPTIONAL_COUNTS:
        value = metrics.get(name)
        if value is not None and (not _is_number(value) or value < 0):
            errors.append(_error(f"metrics.{name}", f"{name} must be a non-negative number"))
    return errors


def _consistency_errors(metrics: dict[str, Any]) -> list[dict[str, str]]:
    views = metrics["views"]
    errors = [
        _error(f"metrics.{name}", f"{name} cannot exceed views")
        for name in ("likes", "shares", "comments", "saves")
        if _is_number(metrics.get(name)) and metrics[name] > views
    ]
    total = metrics["likes"] + metrics["comments"] + metrics["shares"] + (metrics.get("saves") or 0)
    if total > 2 * views:
        errors.append(
            _error(
                "metrics", f"Total engagement ({total:g}) exceeds 200% of views ({views:g}). Please verify your data."
            )
        )
    ctr: Any = metrics.get("clickThroughRate")
    if _is_number(ctr) and ctr > 100:
        errors.append(_error("metrics.clickThroughRate", "clickThroughRate must be between 0 and 100"))
    return errors


def _identity_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    errors = []
    concept_id = body.get("conceptId")
    if not isinstance(concept_id, str) or not concept_id.strip():
        errors.append(_error("conceptId", "conceptId is required and must be a string"))
    elif len(concept_id) > 64:
        errors.append(_error("conceptId", "conceptId must be at most 64 characters"))
    if body.get("category") not in CATEGORY_VALUES:
        errors.append(_error("category", f"Invalid category. Must be one of: {', '.join(CATEGORY_VALUES)}"))
    if body.get("platform") not in PLATFORMS:
        errors.append(_error("platform", f"Invalid platform. Must be one of: {', '.join(PLATFORMS)}"))
    variant = body.get("variantId")
    if variant is not None and (not isinstance(variant, str) or len(variant) > 64):
        errors.append(_error("variantId", "variantId must be a string of at most 64 characters"))
    return errors


def _optional_field_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    checks = {
        "estimatedRpm": (lambda v: _is_number(v) and v >= 0, "estimatedRpm must be a non-negative number"),
        "sponsorInterest": (lambda v: isinstance(v, bool), "sponsorInterest must be a boolean"),
        "notes": (lambda v: isinstance(v, str) and len(v) <= 5000, "notes must be a string of at most 5000 characters"),
    }
    return [_error(name, message) for name, (ok, message) in checks.items() if name in body and not ok(body[name])]


def validate_feedback_request(body: Any) -> list[dict[str, str]]:
    """Every problem with a feedback body, each as {field, message}, collected together as the original did."""
    if not isinstance(body, dict):
        return [_error("body", "Request body must be an object")]
    errors = _identity_errors(body) + _optional_field_errors(body)
    metrics = body.get("metrics")
    if not isinstance(metrics, dict):
        return [*errors, _error("metrics", "metrics is required and must be an object")]
    metric_errors = _count_errors(metrics)
    return errors + (metric_errors or _consistency_errors(metrics))


def record_feedback(body: Any) -> tuple[PerformanceFeedback, Reflection]:
    """Validate and store one feedback entry for a concept of the current tenant, and critique it in the same
    transaction (rule-based or the configured LLM critic, which falls back to the rules)."""
    errors = validate_feedback_request(body)
    if errors:
        raise InvalidInput("Validation failed", details=errors)
    metrics = body["metrics"]
    counts = {name: round(metrics[name]) for name in COUNTS}
    with unit_of_work() as uow:
        concept = uow.session.get(Concept, (uow.tenant_id, body["conceptId"]))
        if concept is None:
            raise NotFound("Concept not found")
        title = concept.title
    feedback = PerformanceFeedback(
        id=str(uuid.uuid4()),
        concept_id=body["conceptId"],
        concept_title=title,
        category=body["category"],
        platform=body["platform"],
        variant_id=body.get("variantId") or None,
        metrics=FeedbackMetrics(**counts),
        engagement_rate=round(
            engagement_rate(counts["views"], counts["likes"], counts["shares"], counts["comments"]), 2
        ),
    )
    written = critic_text(feedback, configured_critic())  # an LLM critic answers before the transaction opens
    with unit_of_work() as uow:
        uow.repository(FeedbackRepository).add(feedback)
        stored = uow.repository(FeedbackRepository).recent(limit=1)[0]
        reflection = reflect(uow, stored, written=written)
    return stored, reflection


def feedback_overview(*, recent: int = 10) -> dict[str, Any]:
    """{recent, platformComparison, topCategories} as the original's GET /api/feedback, aggregated in SQL."""
    with unit_of_work() as uow:
        latest = uow.repository(FeedbackRepository).recent(limit=recent)
        platforms, top_categories = feedback_summary(uow.repository(FeedbackRepository))
    comparison = {
        key: platforms.get(platform, {"totalEntries": 0, "avgEngagement": 0, "avgViews": 0})
        for platform, key in PLATFORM_KEYS.items()
    }
    for category in top_categories:
        breakdown = category["stats"]["platformBreakdown"] or {}
        category["stats"]["platformBreakdown"] = {
            key: breakdown.get(platform, {"entries": 0, "avgEngagement": 0}) for platform, key in PLATFORM_KEYS.items()
        }
    return {"recent": [f.wire() for f in latest], "platformComparison": comparison, "topCategories": top_categories}

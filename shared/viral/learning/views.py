"""What GET/POST /api/reflexion answer: the original's shapes over the tenant's reflexion records."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from viral.content.engine_repository import EngineRepository
from viral.content.repository import GenerationRepository
from viral.db.uow import unit_of_work
from viral.errors import InvalidInput, NotFound
from viral.learning.critic import configured_critic
from viral.learning.feedback import validate_feedback_request
from viral.learning.reflexion import critic_text, current_model, reflect, run_reflexion
from viral.learning.repository import (
    AdjustmentRepository,
    CritiqueRepository,
    FeedbackRepository,
    InsightRepository,
    reflexion_stats,
)
from viral.learning.schemas import FeedbackMetrics, PerformanceFeedback, SelfCritique
from viral.learning.storage import engagement_rate


def summary(*, recent: int = 5) -> dict[str, Any]:
    with unit_of_work() as uow:
        critiques = uow.repository(CritiqueRepository).recent(limit=200)
        insights = uow.repository(InsightRepository).newest()
        adjustments = uow.repository(AdjustmentRepository).recent(limit=recent)
        stats = reflexion_stats(uow.repository(CritiqueRepository), now=datetime.now(UTC))
        model = current_model(uow)
    gaps = [abs(c.performance_gap.gap) for c in critiques]
    issues = Counter(issue for c in critiques for issue in c.scoring_issues)
    return {
        "summary": {
            "totalCritiques": stats.total_critiques,
            "totalAdjustments": stats.total_adjustments,
            "totalInsights": stats.total_insights,
            "avgGap": round(sum(gaps) / len(gaps), 2) if gaps else 0,
            "accuracyRate": round(
                sum(1 for c in critiques if c.performance_gap.direction == "accurate") / len(critiques) * 100, 1
            )
            if critiques
            else 0,
            "topIssue": issues.most_common(1)[0][0] if issues else None,
            "modelVersion": model.version,
        },
        "recent": {
            "critiques": [c.wire() for c in critiques[:recent]],
            "insights": [i.wire() for i in insights[:recent]],
            "adjustments": [a.wire() for a in adjustments],
        },
    }


def listing(kind: str, *, limit: int, category: str | None, offset: int = 0) -> dict[str, Any]:
    with unit_of_work() as uow:
        if kind == "critiques":
            critiques = uow.repository(CritiqueRepository).recent(limit=limit, offset=offset)
            return {"critiques": [c.wire() for c in critiques]}
        if kind == "insights":
            return {"insights": [i.wire() for i in uow.repository(InsightRepository).newest(category=category)]}
        if kind == "adjustments":
            return {
                "adjustments": [
                    a.wire()
                    for a in uow.repository(AdjustmentRepository).recent(limit=limit, category=category, offset=offset)
                ]
            }
        if kind == "models":
            return {
                "models": [
                    {
                        "version": m["version"],
                        "source": m["source"],
                        "basedOnVersion": m["based_on_version"],
                        "reason": m["reason"],
                        "createdAt": m["created_at"].isoformat(),
                    }
                    for m in uow.repository(EngineRepository).score_models()
                ]
            }
    raise InvalidInput(f"unknown type {kind!r}")


def _check_body(body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The original's three 400s, then the feedback rules."""
    if not isinstance(body, dict) or not body.get("concept") or not body.get("feedback"):
        raise InvalidInput("Missing required fields: concept and feedback")
    concept, feedback = body["concept"], body["feedback"]
    if not isinstance(concept, dict) or not all(concept.get(k) for k in ("id", "title", "category")):
        raise InvalidInput("Invalid concept structure")
    if not isinstance(feedback, dict) or not all(feedback.get(k) for k in ("conceptId", "platform", "metrics")):
        raise InvalidInput("Invalid feedback structure")
    errors = validate_feedback_request({"category": concept.get("category"), **feedback})
    if errors:
        raise InvalidInput("Validation failed", details=errors)
    return concept, feedback


def reflect_now(body: Any) -> dict[str, Any]:
    """POST /api/reflexion: critique one concept's feedback now (once per feedback), then let the learner run."""
    concept_body, feedback_body = _check_body(body)
    metrics = {k: round(feedback_body["metrics"][k]) for k in ("views", "likes", "shares", "comments")}
    # The same feedback posted twice is one feedback (and so one critique): its id derives from its content.
    digest = hashlib.sha256(
        json.dumps(
            [concept_body["id"], feedback_body["platform"], metrics, feedback_body.get("reportedAt")], sort_keys=True
        ).encode()
    ).hexdigest()
    feedback_id = str(feedback_body.get("id") or uuid.UUID(digest[:32]))
    with unit_of_work() as uow:
        concept = uow.repository(GenerationRepository).concept_data(concept_body["id"])
    if concept is None:
        raise NotFound("Concept not found")
    feedback = PerformanceFeedback(
        id=feedback_id[:64],
        concept_id=concept_body["id"],
        concept_title=str(concept.get("title", ""))[:500],
        category=concept["category"],
        platform=feedback_body["platform"],
        metrics=FeedbackMetrics(**metrics),
        engagement_rate=round(
            engagement_rate(metrics["views"], metrics["likes"], metrics["shares"], metrics["comments"]), 2
        ),
    )
    written = critic_text(feedback, configured_critic())  # an LLM critic answers before the transaction opens
    with unit_of_work() as uow:
        uow.repository(FeedbackRepository).add_once(feedback)
        reflection = reflect(uow, feedback, written=written)
        report = run_reflexion()
    critique: SelfCritique = reflection.critique
    gap = critique.performance_gap
    answer: dict[str, Any] = {
        "id": critique.id,
        "gap": gap.gap,
        "gapPercentage": gap.gap_percentage,
        "direction": gap.direction,
        "critique": critique.critique,
        "hypothesizedReasons": critique.hypothesized_reasons,
        "scoringIssues": critique.scoring_issues,
        "adjustmentPlan": critique.adjustment_plan,
        "confidenceLevel": critique.confidence_level,
    }
    return {
        "success": True,
        "critique": answer,
        "learning": report.wire(),
        "message": f"Reflexion complete: {gap.direction} by {abs(gap.gap_percentage):g}%",
    }

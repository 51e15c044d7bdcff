"""/api/feedback: performance feedback with the original's validation rules and answer shapes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from viral.http.access import require_scope
from viral.http.openapi import answers
from viral.http.rate_limits import rate_limited
from viral.learning.answers import FeedbackBody, FeedbackOverview, FeedbackRecorded
from viral.learning.feedback import feedback_overview, record_feedback

router = Router()
MAX_RECENT = 100


@router.post(
    "/api/feedback",
    summary="Record a concept's real performance (the original's rules: 400 `Validation failed` with every problem)",
    middlewares=[rate_limited("feedback")],
    responses=answers(FeedbackRecorded),
)
def post_feedback(body: FeedbackBody) -> dict[str, Any]:
    require_scope(router, "write")
    entry, reflection = record_feedback(body.model_dump(mode="json", by_alias=True, exclude_unset=True))
    rate = entry.engagement_rate or 0.0
    gap = reflection.critique.performance_gap
    return {
        "success": True,
        "entry": {
            "id": entry.id,
            "engagementRate": rate,
            "reportedAt": entry.reported_at.isoformat() if entry.reported_at else None,
        },
        "message": f"Performance recorded: {rate:g}% engagement rate",
        "reflexion": {
            "critiqueId": reflection.critique.id,
            "direction": gap.direction,
            "gapPercentage": gap.gap_percentage,
        },
    }


@router.get(
    "/api/feedback",
    summary=f"Recent feedback (`limit`, default 10, at most {MAX_RECENT}), platform comparison and top categories",
    middlewares=[rate_limited("feedback")],
    responses=answers(FeedbackOverview),
)
def get_feedback(limit: Annotated[int, Query(ge=1, description=f"capped at {MAX_RECENT}")] = 10) -> dict[str, Any]:
    require_scope(router, "read")
    return feedback_overview(recent=min(limit, MAX_RECENT))

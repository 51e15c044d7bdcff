"""/api/feedback: performance feedback with the original's validation rules and answer shapes."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from viral.errors import InvalidInput
from viral.http.access import require_scope
from viral.http.rate_limits import rate_limited
from viral.learning.feedback import feedback_overview, record_feedback

router = Router()


@router.post("/api/feedback", summary="Record a concept's real performance", middlewares=[rate_limited("feedback")])
def post_feedback() -> dict[str, Any]:
    require_scope(router, "write")
    try:
        body = json.loads(router.current_event.decoded_body or "")
    except json.JSONDecodeError as exc:
        raise InvalidInput("Validation failed", details=[{"field": "body", "message": "body must be JSON"}]) from exc
    entry, reflection = record_feedback(body)
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
    summary="Recent feedback, platform comparison and top categories",
    middlewares=[rate_limited("feedback")],
)
def get_feedback() -> dict[str, Any]:
    require_scope(router, "read")
    return feedback_overview()

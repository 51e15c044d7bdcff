"""Analytics routes: the tenant's analytics with the score's calibration, a post's snapshots as a time series,
and the tenant's metrics."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from viral.analytics import metrics
from viral.analytics.calibration import AnalyticsAnswer, analytics_with_calibration
from viral.analytics.repository import SnapshotRepository
from viral.db.models import AnalyticsSnapshot
from viral.db.uow import unit_of_work
from viral.errors import InvalidInput, NotFound
from viral.http.access import require_scope
from viral.http.openapi import answers

router = Router()

PostId = Annotated[uuid.UUID, Path(description="the post's id")]


@router.get(
    "/api/analytics",
    summary="Totals, categories, trend topics, generations per day, and how well calibrated the viral score is",
    responses=answers(AnalyticsAnswer),
)
def analytics() -> dict[str, Any]:
    require_scope(router, "read")
    return analytics_with_calibration().wire()


def _number(value: Any) -> float | int | None:
    return None if value is None else (int(value) if isinstance(value, int) else float(value))


def snapshot_wire(snapshot: AnalyticsSnapshot) -> dict[str, Any]:
    return {
        "id": str(snapshot.id),
        "bucket": snapshot.bucket,
        "platform": snapshot.platform,
        "collectedAt": snapshot.collected_at.isoformat(),
        "methodology": snapshot.methodology,
        "views": snapshot.views,
        "likes": snapshot.likes,
        "comments": snapshot.comments,
        "shares": snapshot.shares,
        "saves": snapshot.saves,
        "watchTimeSeconds": _number(snapshot.watch_time_s),
        "averageViewDurationSeconds": _number(snapshot.avg_view_duration_s),
        "completionRate": _number(snapshot.completion_rate),
    }


@router.get("/api/posts/<post_id>/metrics", summary="A post's analytics snapshots as a time series, oldest first")
def post_metrics(post_id: PostId) -> dict[str, Any]:
    require_scope(router, "read")
    with unit_of_work() as uow:
        repository = uow.repository(SnapshotRepository)
        if not repository.post_exists(post_id):
            raise NotFound("Post not found")
        series = [snapshot_wire(s) for s in repository.series(post_id)]
    return {"postId": str(post_id), "snapshots": series}


def _json(body: dict[str, Any]) -> Response[str]:
    return Response(200, content_types.APPLICATION_JSON, json.dumps(body))


@router.get(
    "/api/metrics",
    summary="The tenant's metrics: Prometheus text (default), JSON, or alerts",
    responses={
        200: {
            "description": "Prometheus text exposition (format=prometheus), or JSON (format=json or alerts)",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
def tenant_metrics(
    format: Annotated[str | None, Query(max_length=16, description="prometheus (default), json or alerts")] = None,
) -> Response[str]:
    require_scope(router, "read")
    chosen = format or "prometheus"
    if chosen not in metrics.FORMATS:
        raise InvalidInput(
            f"format must be one of: {', '.join(metrics.FORMATS)}", details=[{"field": "format", "message": chosen}]
        )
    if chosen == "alerts":
        return _json({"alerts": metrics.tenant_alerts()})
    figures = metrics.tenant_metrics()
    if chosen == "json":
        return _json(figures.wire())
    return Response(200, metrics.PROMETHEUS_CONTENT_TYPE, metrics.prometheus_text(figures))

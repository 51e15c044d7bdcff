"""EventBridge schedule (08:00 UTC): enqueue one concept generation per tenant that enabled it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.content.daily import schedule_daily_generation
from viral.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = schedule_daily_generation()
    metrics.add_metric(name="DailyGenerationsEnqueued", unit="Count", value=len(report.enqueued))
    metrics.add_metric(name="DailyGenerationsNotEnqueued", unit="Count", value=len(report.failed))
    return {"enqueued": len(report.enqueued), "failed": report.failed}

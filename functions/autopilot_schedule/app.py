"""EventBridge schedule (every 15 minutes): enqueue one autopilot step per tenant with the autopilot on."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.autopilot.service import schedule_runs
from viral.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = schedule_runs()
    metrics.add_metric(name="AutopilotRunsEnqueued", unit="Count", value=report["enqueued"])
    return report

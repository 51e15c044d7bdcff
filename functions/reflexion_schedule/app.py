"""EventBridge schedule (every 6 hours): the reflexion learner over each tenant's unapplied critiques."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.learning.reflexion import run_reflexion_for_all_tenants
from viral.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = run_reflexion_for_all_tenants()
    metrics.add_metric(name="ReflexionAdjustments", unit="Count", value=report["adjustments"])
    return report

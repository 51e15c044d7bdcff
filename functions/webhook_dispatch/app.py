"""EventBridge schedule (every minute): queue a dispatch for each tenant with webhook events or retries waiting."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.observability import logger, metrics, tracer
from viral.outbound.delivery import dispatch_waiting_tenants


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = dispatch_waiting_tenants()
    metrics.add_metric(name="WebhookTenantsDispatched", unit="Count", value=report["tenants"])
    return report

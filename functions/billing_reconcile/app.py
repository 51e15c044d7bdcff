"""EventBridge schedules: daily, enqueue a Stripe reconciliation per paying tenant; hourly, reset ended free periods."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel
from viral.billing.service import run_billing_task
from viral.observability import logger, metrics, tracer


class BillingTaskEvent(BaseModel):
    """The schedule's Input: which task to run."""

    task: Literal["reconcile", "reset-quotas"]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = BillingTaskEvent.model_validate(event).task
    report = run_billing_task(task)
    metrics.add_metric(name="BillingTaskDone", unit="Count", value=len(report.done))
    metrics.add_metric(name="BillingTaskFailed", unit="Count", value=len(report.failed))
    return report.wire()

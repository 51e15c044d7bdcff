"""EventBridge schedule (every five minutes): re-send or fail stuck videos, ledger jobs and posts."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.observability import logger, metrics, tracer
from viral.upkeep.sweeper import sweep


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = sweep()
    metrics.add_metric(name="SweptResent", unit="Count", value=report.resent.total())
    metrics.add_metric(name="SweptFailed", unit="Count", value=report.failed.total())
    metrics.add_metric(name="SweepErrors", unit="Count", value=report.errors + len(report.not_sent))
    return {
        "resent": dict(report.resent),
        "failed": dict(report.failed),
        "errors": report.errors,
        "notSent": len(report.not_sent),
    }

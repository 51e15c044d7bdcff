"""EventBridge schedule (every minute): send every tenant's due posts to post-jobs, in batches."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.observability import logger, metrics, tracer
from viral.social.dispatch import dispatch_due_posts


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = dispatch_due_posts()
    metrics.add_metric(name="DuePostsSent", unit="Count", value=report.sent)
    metrics.add_metric(name="DuePostsNotSent", unit="Count", value=len(report.failed))
    return {"sent": report.sent, "failed": len(report.failed)}

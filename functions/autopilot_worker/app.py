"""SQS autopilot-jobs: one autopilot step per record (pick, render, post), for its tenant (partial batch failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.autopilot.messages import AutopilotJobMessage
from viral.autopilot.service import run_autopilot
from viral.aws.consumer import process_sqs_batch, sqs_processor
from viral.observability import logger, metrics, tracer


class AutopilotJobRecord(SqsRecordModel):
    body: Json[AutopilotJobMessage]  # type: ignore[assignment]


processor = sqs_processor(AutopilotJobRecord)


def record_handler(record: AutopilotJobRecord) -> str:
    logger.append_keys(tenant_id=str(record.body.tenant_id))
    report = run_autopilot(record.body.tenant_id)
    metrics.add_metric(name="AutopilotPicks", unit="Count", value=report.picked)
    metrics.add_metric(name="AutopilotVideosRequested", unit="Count", value=report.submitted)
    metrics.add_metric(name="AutopilotPostsScheduled", unit="Count", value=report.posted)
    return report.outcome


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, context, processor, record_handler)

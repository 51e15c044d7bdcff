"""SQS reflexion-jobs: run the reflexion learner for one tenant per record (partial batch failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.aws.consumer import process_sqs_batch, sqs_processor
from viral.learning.messages import ReflexionJobMessage
from viral.learning.reflexion import run_reflexion_job
from viral.observability import logger, metrics, tracer


class ReflexionJobRecord(SqsRecordModel):
    body: Json[ReflexionJobMessage]  # type: ignore[assignment]


processor = sqs_processor(ReflexionJobRecord)


def record_handler(record: ReflexionJobRecord) -> int:
    logger.append_keys(tenant_id=str(record.body.tenant_id))
    report = run_reflexion_job(record.body)
    metrics.add_metric(name="ReflexionAdjustments", unit="Count", value=len(report.adjustments))
    return len(report.adjustments)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, context, processor, record_handler)

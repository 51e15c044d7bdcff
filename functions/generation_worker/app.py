"""SQS generation-jobs: run each tenant's concept generation once (partial batch failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.aws.consumer import process_sqs_batch, sqs_processor
from viral.content.daily import run_generation_job
from viral.content.messages import GenerationJobMessage
from viral.observability import logger, metrics, tracer


class GenerationJobRecord(SqsRecordModel):
    body: Json[GenerationJobMessage]  # type: ignore[assignment]


processor = sqs_processor(GenerationJobRecord)


def record_handler(record: GenerationJobRecord) -> str:
    message = record.body
    logger.append_keys(tenant_id=str(message.tenant_id), job_id=str(message.job_id))
    return run_generation_job(message)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, context, processor, record_handler)

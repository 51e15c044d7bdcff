"""SQS post-jobs: move each post through its state machine (claim, upload, check, publish) exactly once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.aws.consumer import process_sqs_batch, sqs_processor
from viral.observability import logger, metrics, tracer
from viral.social.messages import PostJobMessage
from viral.social.worker import process_post_job


class PostJobRecord(SqsRecordModel):
    body: Json[PostJobMessage]  # type: ignore[assignment]


# A batch whose every record failed is answered like any other (all listed as failures), not raised.
processor = sqs_processor(PostJobRecord)


def record_handler(record: PostJobRecord) -> str:
    message = record.body
    logger.append_keys(tenant_id=str(message.tenant_id), post_id=str(message.post_id), step=message.step)
    outcome = process_post_job(
        message,
        receive_count=int(record.attributes.ApproximateReceiveCount or 1),
        receipt_handle=record.receiptHandle,
    )
    logger.info("post step done", extra={"outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, context, processor, record_handler)

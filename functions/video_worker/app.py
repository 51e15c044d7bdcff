"""SQS video-jobs: advance each video's state machine by one step (submit, poll, download and check)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.aws.consumer import process_sqs_batch, sqs_processor
from viral.observability import logger, metrics, tracer
from viral.video.messages import VideoJobMessage
from viral.video.service import advance_video


class VideoJobRecord(SqsRecordModel):
    body: Json[VideoJobMessage]  # type: ignore[assignment]


processor = sqs_processor(VideoJobRecord)


def record_handler(record: VideoJobRecord) -> str:
    message = record.body
    logger.append_keys(tenant_id=str(message.tenant_id), video_id=str(message.video_id), step=message.step)
    outcome = advance_video(
        message,
        receive_count=int(record.attributes.ApproximateReceiveCount or 1),
        receipt_handle=record.receiptHandle,
    )
    logger.info("video step done", extra={"outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, context, processor, record_handler)

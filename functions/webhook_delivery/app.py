"""SQS webhook-deliveries: fan a tenant's events out to its endpoints, or make one signed attempt of one delivery."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.aws.consumer import process_sqs_batch, sqs_processor
from viral.observability import logger, metrics, tracer
from viral.outbound.delivery import handle_webhook_message
from viral.outbound.messages import WebhookMessage


class WebhookRecord(SqsRecordModel):
    body: Json[WebhookMessage]  # type: ignore[assignment]


# A batch whose every record failed is answered like any other (all listed as failures), not raised.
processor = sqs_processor(WebhookRecord)


def record_handler(record: WebhookRecord) -> str:
    message = record.body
    logger.append_keys(tenant_id=str(message.tenant_id), kind=message.kind)
    outcome = handle_webhook_message(message)
    metrics.add_metric(name=f"Webhook{outcome.title().replace('-', '')}", unit="Count", value=1)
    return outcome


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, context, processor, record_handler)

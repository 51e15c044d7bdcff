"""SQS billing-events: apply each Stripe event once, and reconcile tenants with Stripe (partial batch failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.aws.consumer import process_sqs_batch, sqs_processor
from viral.billing.messages import BillingMessage, ReconcileMessage
from viral.billing.service import handle_billing_message
from viral.observability import logger, metrics, tracer


class BillingRecord(SqsRecordModel):
    body: Json[BillingMessage]  # type: ignore[assignment]


processor = sqs_processor(BillingRecord)


def record_handler(record: BillingRecord) -> str:
    message = record.body
    if isinstance(message, ReconcileMessage):
        logger.append_keys(tenant_id=str(message.tenant_id), kind=message.kind)
    else:
        logger.append_keys(stripe_event=message.event_id, event_type=message.event_type, kind=message.kind)
    outcome = handle_billing_message(message)
    metrics.add_metric(name=f"Billing{outcome.capitalize()}", unit="Count", value=1)
    return outcome


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, context, processor, record_handler)

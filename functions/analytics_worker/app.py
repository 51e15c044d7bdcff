"""SQS analytics-jobs: snapshot one tenant's due posts per record (partial batch failures)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.analytics.collector import run_collection_job
from viral.analytics.messages import AnalyticsJobMessage
from viral.aws.consumer import process_sqs_batch, sqs_processor
from viral.observability import logger, metrics, tracer


class AnalyticsJobRecord(SqsRecordModel):
    body: Json[AnalyticsJobMessage]  # type: ignore[assignment]


processor = sqs_processor(AnalyticsJobRecord)


def record_handler(record: AnalyticsJobRecord) -> int:
    logger.append_keys(tenant_id=str(record.body.tenant_id))
    result = run_collection_job(record.body.tenant_id)
    metrics.add_metric(name="AnalyticsSnapshots", unit="Count", value=result.collected)
    metrics.add_metric(name="AnalyticsDerivedFeedback", unit="Count", value=result.derived_feedback)
    metrics.add_metric(name="AnalyticsCollectFailures", unit="Count", value=result.failed)
    metrics.add_metric(name="AnalyticsCollectDeferred", unit="Count", value=result.deferred)
    return result.collected


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_sqs_batch(event, context, processor, record_handler)

"""S3 ObjectCreated on uploads/<tenant>/*.mp4: check the uploaded video and register it as the tenant's video."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.observability import logger, metrics, tracer
from viral.video.service import ingest_upload


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notification = parse(event=event, model=S3Model)
    outcomes: dict[str, str] = {}
    for record in notification.Records:
        key = unquote_plus(record.s3.object.key)  # S3 event keys are URL-encoded ('+' for spaces)
        outcomes[key] = ingest_upload(
            bucket=record.s3.bucket.name, key=key, etag=record.s3.object.eTag or "", size=record.s3.object.size or 0
        )
        logger.info("upload ingested", extra={"key": key[:200], "outcome": outcomes[key]})
    return {"outcomes": outcomes}

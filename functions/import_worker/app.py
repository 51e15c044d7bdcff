"""S3 ObjectCreated on imports/<tenant>/<import-id>.json: run the Dexie import of each uploaded export once."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import S3Model
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.imports.service import UploadedObject, import_uploads
from viral.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notification = parse(event=event, model=S3Model)
    uploads = [
        UploadedObject(
            bucket=record.s3.bucket.name,
            key=unquote_plus(record.s3.object.key),  # S3 event keys are URL-encoded ('+' for spaces)
            etag=record.s3.object.eTag,
            size=int(record.s3.object.size) if record.s3.object.size is not None else None,
        )
        for record in notification.Records
    ]
    outcomes = import_uploads(uploads)
    for outcome in outcomes.values():
        metrics.add_metric(name=f"Imports{outcome.title()}", unit="Count", value=1)
    return {"outcomes": outcomes}

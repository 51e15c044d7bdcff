"""One configuration for every SQS consumer: parsed records, partial batch failure, no raise on a failed batch.

A record whose handler raises is reported back to SQS alone (`batchItemFailures`), so SQS retries just it and,
after the queue's maxReceiveCount, moves it to the dead-letter queue. A batch whose every record failed is
answered the same way instead of raising: one poison message costs one record failure, not a Lambda error
for the whole batch (which would also re-deliver the records that succeeded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext


def sqs_processor(record_model: type[SqsRecordModel]) -> BatchProcessor:
    """The batch processor every consumer uses."""
    return BatchProcessor(event_type=EventType.SQS, model=record_model, raise_on_entire_batch_failure=False)


def process_sqs_batch(
    event: dict[str, Any],
    context: LambdaContext,
    processor: BatchProcessor,
    record_handler: Callable[[Any], Any],
) -> PartialItemFailureResponse:
    """Run `record_handler` on each parsed record; the partial-failure answer SQS expects."""
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)

"""Sending versioned messages to SQS."""

from __future__ import annotations

from pydantic import BaseModel

from viral.aws import client
from viral.errors import Permanent, Retryable


def send(queue_url: str | None, message: BaseModel, *, delay_s: int = 0) -> str:
    """Send one message (its JSON, camelCase); the SQS message id."""
    if not queue_url:
        raise Permanent("the queue is not configured")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client("sqs").send_message(
            QueueUrl=queue_url,
            MessageBody=message.model_dump_json(by_alias=True),
            DelaySeconds=max(0, min(900, delay_s)),
        )
    except (BotoCoreError, ClientError) as exc:
        raise Retryable("the queue did not accept the message") from exc
    return str(answer["MessageId"])

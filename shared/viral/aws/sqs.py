"""Sending versioned messages to SQS."""

from __future__ import annotations

from collections.abc import Sequence

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


def send_batch(queue_url: str | None, messages: Sequence[tuple[BaseModel, int]]) -> int:
    """Send (message, delay in seconds) pairs, ten per request; how many were sent. A refused entry is Retryable."""
    if not messages:
        return 0
    if not queue_url:
        raise Permanent("the queue is not configured")
    from botocore.exceptions import BotoCoreError, ClientError

    for start in range(0, len(messages), 10):
        entries = [
            {
                "Id": str(n),
                "MessageBody": message.model_dump_json(by_alias=True),
                "DelaySeconds": max(0, min(900, delay_s)),
            }
            for n, (message, delay_s) in enumerate(messages[start : start + 10])
        ]
        try:
            answer = client("sqs").send_message_batch(QueueUrl=queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            raise Retryable("the queue did not accept the messages") from exc
        if answer.get("Failed"):
            raise Retryable("the queue refused some messages", details={"failed": len(answer["Failed"])})
    return len(messages)

"""Sending versioned messages to SQS."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

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


BATCH = 10  # SQS's limit of entries per SendMessageBatch

Outgoing = BaseModel | tuple[BaseModel, int]  # a message, or a message and its delay in seconds


def send_batch(queue_url: str | None, messages: Sequence[Outgoing], *, concurrency: int = 8) -> int:
    """Send many messages (each optionally with a delay), ten to a request and several requests at once; the
    number sent.

    Entries SQS refuses inside a batch are sent again once; any still refused raise Retryable (the caller's
    schedule retries; consumers are idempotent, so a message sent twice does no harm).
    """
    if not messages:
        return 0
    if not queue_url:
        raise Permanent("the queue is not configured")
    pairs = [m if isinstance(m, tuple) else (m, 0) for m in messages]
    chunks = [pairs[i : i + BATCH] for i in range(0, len(pairs), BATCH)]
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(chunks)))) as pool:
        refused = [entry for failed in pool.map(lambda c: _send_chunk(queue_url, c), chunks) for entry in failed]
    for start in range(0, len(refused), BATCH):
        if _send_chunk(queue_url, refused[start : start + BATCH]):
            raise Retryable(f"the queue refused some of {len(messages)} messages")
    return len(messages)


def _send_chunk(queue_url: str, chunk: Sequence[tuple[BaseModel, int]]) -> list[tuple[BaseModel, int]]:
    """One SendMessageBatch; the entries SQS did not accept."""
    from botocore.exceptions import BotoCoreError, ClientError

    entries = [
        {
            "Id": str(n),
            "MessageBody": message.model_dump_json(by_alias=True),
            "DelaySeconds": max(0, min(900, delay_s)),
        }
        for n, (message, delay_s) in enumerate(chunk)
    ]
    try:
        answer = client("sqs").send_message_batch(QueueUrl=queue_url, Entries=entries)
    except (BotoCoreError, ClientError):
        return list(chunk)
    return [chunk[int(failure["Id"])] for failure in answer.get("Failed", [])]

"""SQS event source mappings on one machine: a thread per queue long-polls moto and calls the function with batches.

As Lambda does (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html): records carry messageId,
receiptHandle, body, attributes (ApproximateReceiveCount...), eventSourceARN and awsRegion; only the messages the
function handled are deleted. With ReportBatchItemFailures the function names its failures; a crash fails the
whole batch. Failed messages come back after the queue's visibility timeout and moto's redrive moves them to the
dead-letter queue after maxReceiveCount receives. One poller per event source means one batch at a time (below
any ScalingConfig.MaximumConcurrency); batches hold at most 10 messages (one receive), and no batching window.
"""

from __future__ import annotations

import base64
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from local.stack import QueueSpec, StackResolver, Unresolvable
from local.template import FunctionEvent, FunctionSpec, SamTemplate

log = logging.getLogger("local.sqs")

WAIT_S = 1  # long-poll wait: short, so that stopping takes about a second
ERROR_PAUSE_S = 2.0
MAX_MESSAGES = 10  # SQS hands out at most 10 messages per receive
DEFAULT_BATCH_SIZE = 10
# The system attributes Lambda puts in a record's `attributes`.
RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
)

Message = dict[str, Any]  # one message of a ReceiveMessage answer
# Hands received messages to their consumer; returns the receipt handles of the ones to delete.
Deliver = Callable[[list[Message]], Iterable[str]]


class Function(Protocol):
    """What the pollers need of a local function (local.lambda_runtime.LambdaFunction)."""

    spec: FunctionSpec

    @property
    def name(self) -> str: ...

    def invoke(self, event: Any, *, request_id: str | None = None) -> Any: ...


@dataclass(frozen=True)
class SqsEventSource:
    """One `Type: SQS` event of a function."""

    function_id: str
    event_name: str
    queue: QueueSpec
    batch_size: int = DEFAULT_BATCH_SIZE
    report_item_failures: bool = False
    enabled: bool = True


def sqs_event_sources(template: SamTemplate, resolver: StackResolver) -> list[SqsEventSource]:
    """Every SQS event of the template's functions; ValueError when one names a queue the template does not hold."""
    sources: list[SqsEventSource] = []
    for event in template.function_events("SQS"):
        try:
            queue = resolver.queue_of_arn(event.properties.get("Queue"))
        except Unresolvable as error:
            raise ValueError(f"{event.function.logical_id}.{event.name}: {error}") from error
        sources.append(
            SqsEventSource(
                function_id=event.function.logical_id,
                event_name=event.name,
                queue=queue,
                batch_size=int(resolver.resolve(event.properties.get("BatchSize", DEFAULT_BATCH_SIZE))),
                report_item_failures="ReportBatchItemFailures" in (event.properties.get("FunctionResponseTypes") or []),
                enabled=_enabled(event, resolver),
            )
        )
    return sources


def _enabled(event: FunctionEvent, resolver: StackResolver) -> bool:
    return str(resolver.resolve(event.properties.get("Enabled", True))).lower() != "false"


def lambda_record(message: Message, *, queue_arn: str, region: str) -> dict[str, Any]:
    """A message as a record of Lambda's SQS event."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {k: v for k, v in (message.get("Attributes") or {}).items() if k in RECORD_ATTRIBUTES},
        "messageAttributes": {
            name: _lambda_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """A message attribute as Lambda spells it: camelCase keys, binary values in base64."""
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [base64.b64encode(v).decode("ascii") for v in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return attribute


def partial_batch_failures(result: Any, message_ids: Sequence[str]) -> set[str] | None:
    """The message ids a partial batch response fails; None when the response is not valid (the batch fails).

    As Lambda reads it (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html): a null or
    empty response or list is a complete success; an item without a messageId of the batch invalidates it.
    """
    if result is None:
        return set()
    if not isinstance(result, dict):
        return None
    failures = result.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return None
        failed.add(identifier)
    return failed


class SqsBatchDelivery:
    """Calls a function with a batch of an SQS queue's messages, as an event source mapping does."""

    def __init__(self, source: SqsEventSource, function: Function, *, region: str) -> None:
        self.source = source
        self.function = function
        self.region = region

    def __call__(self, messages: list[Message]) -> list[str]:
        records = [lambda_record(m, queue_arn=self.source.queue.arn, region=self.region) for m in messages]
        ids = [record["messageId"] for record in records]
        request_id = str(uuid.uuid4())
        try:
            result = self.function.invoke({"Records": records}, request_id=request_id)
        except Exception:
            log.exception(
                "%s failed on a batch of %d from %s (request %s); it is retried after the visibility timeout",
                self.function.name,
                len(records),
                self.source.queue.name,
                request_id,
            )
            return []
        failed: set[str] = set()
        if self.source.report_item_failures:
            found = partial_batch_failures(result, ids)
            if found is None:
                log.warning("%s answered an invalid partial batch response: the whole batch failed", self.function.name)
            failed = set(ids) if found is None else found
        log.info(
            "%s <- %s: %d record(s), %d failed",
            self.function.name,
            self.source.queue.name,
            len(records),
            len(failed),
        )
        return [record["receiptHandle"] for record in records if record["messageId"] not in failed]


class QueuePoller:
    """One thread long-polls a queue and hands each non-empty receive to `deliver`, then deletes what `deliver`
    returns. Stopping waits for the batch in hand, so a message is never dropped half-handled."""

    def __init__(
        self,
        name: str,
        *,
        client_factory: Callable[[], Any],
        queue_url: str,
        deliver: Deliver,
        max_messages: int = MAX_MESSAGES,
        join_timeout_s: float = 60.0,
    ) -> None:
        self.name = name
        self.queue_url = queue_url
        self.max_messages = max(1, min(MAX_MESSAGES, max_messages))
        self.join_timeout_s = join_timeout_s
        self._client_factory = client_factory
        self._deliver = deliver
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        client = self._client_factory()  # made here: a failure stops the start, not a thread
        self._thread = threading.Thread(target=self._run, args=(client,), name=f"local-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.signal_stop()
        self.join()

    def signal_stop(self) -> None:
        """Ask the thread to stop after the receive or batch in hand (a second at most, when idle)."""
        self._stopping.set()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout_s)
            if self._thread.is_alive():
                log.warning("%s is still busy; leaving it behind", self.name)
            self._thread = None

    def _run(self, client: Any) -> None:
        while not self._stopping.is_set():
            messages = self._receive(client)
            if not messages:
                continue
            try:
                done = list(self._deliver(messages))
            except Exception:
                log.exception("%s could not deliver %d message(s)", self.name, len(messages))
                continue
            self._delete(client, done)

    def _receive(self, client: Any) -> list[Message]:
        try:
            answer = client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.max_messages,
                WaitTimeSeconds=WAIT_S,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except Exception as error:  # moto going away on stop, or a hiccup: wait a little and try again
            if not self._stopping.is_set():
                log.warning("%s cannot receive from %s: %s", self.name, self.queue_url, error)
                self._stopping.wait(ERROR_PAUSE_S)
            return []
        return list(answer.get("Messages") or [])

    def _delete(self, client: Any, receipt_handles: list[str]) -> None:
        for start in range(0, len(receipt_handles), MAX_MESSAGES):
            chunk = receipt_handles[start : start + MAX_MESSAGES]
            entries = [{"Id": str(index), "ReceiptHandle": handle} for index, handle in enumerate(chunk)]
            try:
                answer = client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as error:
                log.warning("%s could not delete %d handled message(s): %s", self.name, len(chunk), error)
                continue
            for failure in answer.get("Failed") or []:
                log.warning("%s could not delete a handled message: %s", self.name, failure.get("Message"))


class QueuePollers:
    """The `pollers` service: every queue poller, started together and stopped together (all asked, then joined,
    so stopping takes about one long-poll wait however many queues there are)."""

    name = "pollers"

    def __init__(self, pollers: Sequence[QueuePoller]) -> None:
        self.pollers = list(pollers)

    def start(self) -> None:
        started: list[QueuePoller] = []
        try:
            for poller in self.pollers:
                poller.start()
                started.append(poller)
        except BaseException:
            _stop_all(started)
            raise

    def stop(self) -> None:
        _stop_all(self.pollers)


def _stop_all(pollers: Sequence[QueuePoller]) -> None:
    for poller in pollers:
        poller.signal_stop()
    for poller in pollers:
        poller.join()


def queue_pollers(
    sources: Sequence[SqsEventSource],
    functions: Mapping[str, Function],
    *,
    client_factory: Callable[[], Any],
    region: str,
) -> list[QueuePoller]:
    """One poller per enabled SQS event source, batches of at most BatchSize (and at most 10, SQS's limit)."""
    return [
        QueuePoller(
            f"sqs:{source.queue.name}->{source.function_id}",
            client_factory=client_factory,
            queue_url=source.queue.url,
            deliver=SqsBatchDelivery(source, functions[source.function_id], region=region),
            max_messages=source.batch_size,
            join_timeout_s=functions[source.function_id].spec.timeout_s + WAIT_S + 5,
        )
        for source in sources
        if source.enabled
    ]


def describe_sources(sources: Sequence[SqsEventSource]) -> list[str]:
    """What the SQS pollers wire, for the start banner."""
    lines = []
    for source in sources:
        mode = "partial batch failures" if source.report_item_failures else "whole batches"
        state = "" if source.enabled else ", disabled"
        lines.append(
            f"  sqs    {source.queue.name}  ->  {source.function_id}  (batch {source.batch_size}, {mode}{state})"
        )
    return lines

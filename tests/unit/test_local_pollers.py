"""SQS event sources as Lambda runs them: record shape, partial batch responses, what gets deleted."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from local.pollers import (
    SqsBatchDelivery,
    SqsEventSource,
    lambda_record,
    partial_batch_failures,
    sqs_event_sources,
)
from local.stack import LocalStack, QueueSpec, StackResolver
from local.template import FunctionSpec, SamTemplate

REPO_ROOT = Path(__file__).resolve().parents[2]
QUEUE = QueueSpec(
    logical_id="JobsQueue",
    name="viral-local-jobs",
    url="http://127.0.0.1:4566/123456789012/viral-local-jobs",
    arn="arn:aws:sqs:us-east-1:123456789012:viral-local-jobs",
    attributes={},
)


def message(n: int, body: str = "{}", **extra: Any) -> dict[str, Any]:
    """A message as boto3's ReceiveMessage answers it."""
    return {
        "MessageId": f"m-{n}",
        "ReceiptHandle": f"r-{n}",
        "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "Body": body,
        "Attributes": {
            "SenderId": "AIDAIT2UOQQY3AUEKVGXU",
            "SentTimestamp": "1764000000000",
            "ApproximateReceiveCount": "2",
            "ApproximateFirstReceiveTimestamp": "1764000000001",
        },
        **extra,
    }


class FakeFunction:
    """A function that answers with `answer` (or raises it) and keeps the events it got."""

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer
        self.events: list[Any] = []
        self.spec = FunctionSpec(logical_id="WorkerFunction", code_uri=Path("functions/worker"), handler="app.handler")

    @property
    def name(self) -> str:
        return self.spec.logical_id

    def invoke(self, event: Any, *, request_id: str | None = None) -> Any:
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer(event) if callable(self.answer) else self.answer


def delivery(answer: Any = None, *, report_item_failures: bool = True) -> tuple[SqsBatchDelivery, FakeFunction]:
    function = FakeFunction(answer)
    source = SqsEventSource("WorkerFunction", "Jobs", QUEUE, batch_size=5, report_item_failures=report_item_failures)
    return SqsBatchDelivery(source, function, region="us-east-1"), function


def test_record_has_the_lambda_sqs_shape_and_parses_with_powertools() -> None:
    received = message(
        1,
        body='{"a": 1}',
        MessageAttributes={
            "kind": {"StringValue": "job", "DataType": "String"},
            "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
        MD5OfMessageAttributes="0123",
    )
    record = lambda_record(received, queue_arn=QUEUE.arn, region="us-east-1")
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": '{"a": 1}',
        "attributes": received["Attributes"],
        "messageAttributes": {
            "kind": {"stringValue": "job", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
        },
        "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
        "md5OfMessageAttributes": "0123",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE.arn,
        "awsRegion": "us-east-1",
    }
    parsed = SqsModel.model_validate({"Records": [record]})
    assert parsed.Records[0].attributes.ApproximateReceiveCount == "2"


@pytest.mark.parametrize(
    ("result", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m-2"}]}, {"m-2"}),
        ({"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-3"}]}, {"m-1", "m-3"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
        ({"batchItemFailures": [{"id": "m-1"}]}, None),
        ({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, None),
        ({"batchItemFailures": "m-1"}, None),
        ("ok", None),
    ],
)
def test_partial_batch_response_reads_as_lambda_reads_it(result: Any, failed: set[str] | None) -> None:
    assert partial_batch_failures(result, ["m-1", "m-2", "m-3"]) == failed


def test_delivery_calls_the_function_once_with_the_batch_and_deletes_only_successes() -> None:
    deliver, function = delivery({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
    assert deliver([message(1), message(2), message(3)]) == ["r-1", "r-3"]
    assert len(function.events) == 1
    assert [r["messageId"] for r in function.events[0]["Records"]] == ["m-1", "m-2", "m-3"]


def test_a_crash_fails_the_whole_batch() -> None:
    deliver, _ = delivery(RuntimeError("boom"))
    assert deliver([message(1), message(2)]) == []


def test_an_invalid_partial_response_fails_the_whole_batch() -> None:
    deliver, _ = delivery({"batchItemFailures": [{"itemIdentifier": "somebody-else"}]})
    assert deliver([message(1), message(2)]) == []


def test_without_report_batch_item_failures_the_answer_is_ignored() -> None:
    deliver, _ = delivery({"batchItemFailures": [{"itemIdentifier": "m-1"}]}, report_item_failures=False)
    assert deliver([message(1), message(2)]) == ["r-1", "r-2"]


def test_event_sources_come_from_sqs_events() -> None:
    template = SamTemplate.parse(
        textwrap.dedent(
            """
            Resources:
              Jobs:
                Type: AWS::SQS::Queue
                Properties: {QueueName: !Sub "${AWS::StackName}-jobs"}
              Worker:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: functions/worker/
                  Handler: app.handler
                  Events:
                    Jobs:
                      Type: SQS
                      Properties:
                        Queue: !GetAtt Jobs.Arn
                        BatchSize: 5
                        FunctionResponseTypes: [ReportBatchItemFailures]
                    Paused:
                      Type: SQS
                      Properties: {Queue: !GetAtt Jobs.Arn, Enabled: false}
            """
        ),
        root=REPO_ROOT,
    )
    sources = sqs_event_sources(template, StackResolver(template, LocalStack()))
    assert [(s.event_name, s.queue.name, s.batch_size, s.report_item_failures, s.enabled) for s in sources] == [
        ("Jobs", "viral-local-jobs", 5, True, True),
        ("Paused", "viral-local-jobs", 10, False, False),
    ]


def test_an_event_on_a_queue_outside_the_template_is_refused() -> None:
    template = SamTemplate.parse(
        textwrap.dedent(
            """
            Resources:
              Worker:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: functions/worker/
                  Handler: app.handler
                  Events:
                    Jobs:
                      Type: SQS
                      Properties: {Queue: "arn:aws:sqs:us-east-1:999999999999:elsewhere"}
            """
        ),
        root=REPO_ROOT,
    )
    with pytest.raises(ValueError, match=r"Worker\.Jobs: .* is not a queue of the template"):
        sqs_event_sources(template, StackResolver(template, LocalStack()))

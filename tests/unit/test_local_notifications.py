"""S3 notifications as Lambda gets them: moto's records completed into S3's event shape, delivered once each."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from aws_lambda_powertools.utilities.parser.models import S3Model

from local.notifications import S3EventDelivery, S3Notification, lambda_s3_record, s3_notifications
from local.stack import LocalStack, StackResolver
from local.template import FunctionSpec, SamTemplate

REPO_ROOT = Path(__file__).resolve().parents[2]


def moto_record(key: str) -> dict[str, Any]:
    """A record as moto's server puts it on the queue (its key is quote_plus'd, slashes included)."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-24T21:30:54.040Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "ImportFunction-Imported",
            "bucket": {"name": "viral-local-media", "arn": "arn:aws:s3:::viral-local-media"},
            "object": {"key": key, "size": 2, "eTag": "99914b932bd37a50b983c5e7c90ae93b"},
        },
    }


def queued(body: Any, n: int = 1) -> dict[str, Any]:
    return {"MessageId": f"m-{n}", "ReceiptHandle": f"r-{n}", "Body": json.dumps(body), "Attributes": {}}


class FakeFunction:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.events: list[Any] = []
        self.spec = FunctionSpec(logical_id="ImportFunction", code_uri=Path("functions/imp"), handler="app.handler")

    @property
    def name(self) -> str:
        return self.spec.logical_id

    def invoke(self, event: Any, *, request_id: str | None = None) -> Any:
        self.events.append(event)
        if self.error is not None:
            raise self.error
        return None


def test_record_has_s3_shape_and_parses_with_powertools() -> None:
    record = lambda_s3_record(moto_record("imports%2Ftenant+1%2Fmy+export%281%29.json"))
    event = S3Model.model_validate({"Records": [record]})
    parsed = event.Records[0]
    assert parsed.s3.object is not None
    assert parsed.s3.bucket.name == "viral-local-media"
    assert parsed.s3.object.size == 2
    assert parsed.s3.object.eTag == "99914b932bd37a50b983c5e7c90ae93b"
    assert parsed.eventName == "ObjectCreated:Put"
    assert record["s3"]["configurationId"] == "ImportFunction-Imported"


def test_key_is_form_encoded_as_s3_does_with_slashes_kept() -> None:
    original = "imports/tenant 1/a+b=c (1).json"
    record = lambda_s3_record(moto_record("imports%2Ftenant+1%2Fa%2Bb%3Dc+%281%29.json"))
    assert record["s3"]["object"]["key"] == "imports/tenant+1/a%2Bb%3Dc+%281%29.json"
    assert unquote_plus(record["s3"]["object"]["key"]) == original


def test_each_event_is_one_invocation_and_only_handled_ones_are_acknowledged() -> None:
    function = FakeFunction()
    deliver = S3EventDelivery(function)
    done = deliver([queued({"Records": [moto_record("imports%2Fa.json")]}, 1), queued({"Records": []}, 2)])
    assert done == ["r-1", "r-2"]  # an empty notification is dropped, not retried
    assert len(function.events) == 1
    assert function.events[0]["Records"][0]["s3"]["object"]["key"] == "imports/a.json"


def test_the_configuration_test_event_never_reaches_the_function() -> None:
    function = FakeFunction()
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-24T21:30:54.034Z", "Bucket": "b"}
    assert S3EventDelivery(function)([queued(test_event)]) == ["r-1"]
    assert function.events == []


def test_a_failed_event_stays_on_its_queue_for_a_retry() -> None:
    function = FakeFunction(RuntimeError("boom"))
    assert S3EventDelivery(function)([queued({"Records": [moto_record("imports%2Fa.json")]})]) == []


def template(events: str) -> SamTemplate:
    text = textwrap.dedent(
        """
        Resources:
          MediaBucket:
            Type: AWS::S3::Bucket
          ImportFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: functions/imp/
              Handler: app.handler
              Events:
        """
    )
    return SamTemplate.parse(text + textwrap.indent(textwrap.dedent(events), " " * 8), root=REPO_ROOT)


def test_notifications_come_from_s3_events() -> None:
    t = template(
        """
        Imported:
          Type: S3
          Properties:
            Bucket: !Ref MediaBucket
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - {Name: prefix, Value: imports/}
                  - {Name: Suffix, Value: .json}
        """
    )
    assert s3_notifications(t, StackResolver(t, LocalStack())) == [
        S3Notification(
            function_id="ImportFunction",
            event_name="Imported",
            bucket="MediaBucket",
            events=("s3:ObjectCreated:*",),
            rules=(("prefix", "imports/"), ("suffix", ".json")),
        )
    ]


def test_a_bucket_outside_the_template_is_refused() -> None:
    t = template(
        """
        Imported:
          Type: S3
          Properties: {Bucket: some-other-bucket, Events: "s3:ObjectCreated:*"}
        """
    )
    with pytest.raises(ValueError, match=r"ImportFunction\.Imported: Bucket must be !Ref"):
        s3_notifications(t, StackResolver(t, LocalStack()))

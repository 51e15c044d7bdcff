"""A tenant's webhook receiver on 127.0.0.1 (scripted answers, every request kept), a fixed DNS resolver, and the
webhook-deliveries queue in moto with a stand-in for Lambda's SQS event source."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook

from local.fakes.http_server import FakeServer, Reply, Request

PATH = "/hooks"


class Receiver:
    """Answers POST /hooks with the scripted replies in turn (then the last one again)."""

    def __init__(self) -> None:
        self.server = FakeServer()
        self.replies: list[Reply] = [Reply(200, b'{"ok": true}')]
        self._served = 0
        self.server.route("POST", PATH, self._answer)

    def _answer(self, request: Request) -> Reply:
        reply = self.replies[min(self._served, len(self.replies) - 1)]
        self._served += 1
        return reply

    def script(self, *replies: Reply | int) -> None:
        self.replies = [r if isinstance(r, Reply) else Reply(r, b"{}") for r in replies]
        self._served = 0

    @property
    def url(self) -> str:
        return f"{self.server.url}{PATH}"

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1])

    @property
    def requests(self) -> list[Request]:
        return [r for r in self.server.requests if r.path == PATH]

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request's body, each checked with the standardwebhooks library's own verifier."""
        return [Webhook(secret).verify(r.body, r.headers) for r in self.requests]

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        with self.server.running():
            yield self


@dataclass
class FixedResolver:
    """DNS answers by host name; change `answers` to make a name point elsewhere (DNS rebinding)."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return list(self.answers.get(host, []))


@dataclass
class WebhookQueue:
    """moto's webhook-deliveries queue, delivered to the consumer in batches as Lambda's event source does."""

    url: str

    def receive(self) -> list[dict[str, Any]]:
        import boto3

        answer = boto3.client("sqs").receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        )
        return [_record(m) for m in answer.get("Messages", [])]

    def bodies(self) -> list[dict[str, Any]]:
        """Take every visible message off the queue (for assertions on what was sent)."""
        import boto3

        found = []
        while records := self.receive():
            found += [json.loads(r["body"]) for r in records]
            for record in records:
                boto3.client("sqs").delete_message(QueueUrl=self.url, ReceiptHandle=record["receiptHandle"])
        return found

    def run_until_idle(self, handler: Any, *, rounds: int = 60) -> list[dict[str, Any]]:
        """Deliver batches until the queue is empty; each batch's answer, in order."""
        import boto3

        from tests.events import LambdaContext

        answers = []
        for _ in range(rounds):
            records = self.receive()
            if not records:
                break
            answer: dict[str, Any] = handler({"Records": records}, LambdaContext())
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
            for record in records:
                if record["messageId"] not in failed:
                    boto3.client("sqs").delete_message(QueueUrl=self.url, ReceiptHandle=record["receiptHandle"])
            answers.append(answer)
        return answers


def _record(message: dict[str, Any]) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "1764000000000"),
            "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "1764000000001"),
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhook-deliveries",
        "awsRegion": "us-east-1",
    }


@contextmanager
def webhook_queue(monkeypatch: Any, **environment: str) -> Iterator[WebhookQueue]:
    """moto in process with the webhook-deliveries queue; settings, AWS clients and the HTTP pool reset."""
    import boto3
    from moto import mock_aws
    from viral.aws import reset_clients
    from viral.outbound.sender import reset_pool
    from viral.settings import get_settings

    with mock_aws():
        reset_clients()
        reset_pool()
        url = boto3.client("sqs").create_queue(QueueName="webhook-deliveries")["QueueUrl"]
        for name, value in {"WEBHOOK_QUEUE_URL": url, "WEBHOOK_RETRY_BASE_S": "0", **environment}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("WEBHOOK_KMS_KEY_ID", raising=False)
        get_settings.cache_clear()
        try:
            yield WebhookQueue(url)
        finally:
            reset_clients()
            reset_pool()
    get_settings.cache_clear()

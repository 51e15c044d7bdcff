"""The video pipeline's AWS side in tests (moto's bucket and queue, a stand-in for the SQS event source), beside
the vendor fakes, which live in local.fakes.video_vendors (a simulated run uses them too)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from local.fakes.video_vendors import (
    EXPIRED,
    GATEWAY_TIMEOUT,
    GONE,
    KEY,
    RATE_LIMITED,
    UNAVAILABLE,
    FakeLuma,
    FakeRunway,
    FakeVeo,
    VendorFake,
    sample_mp4,
)

__all__ = [
    "EXPIRED",
    "GATEWAY_TIMEOUT",
    "GONE",
    "KEY",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "FakeLuma",
    "FakeRunway",
    "FakeVeo",
    "VendorFake",
    "VideoAws",
    "sample_mp4",
    "video_aws",
]

# --- the AWS side of the pipeline, in process (moto) -----------------------------------------------------


@dataclass
class VideoAws:
    """moto's S3 bucket and SQS queue for the pipeline, plus a stand-in for Lambda's SQS event source."""

    bucket: str
    queue_url: str
    sent: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # (body, delay_s) of every send

    def receive(self, *, wait_s: int = 0) -> list[dict[str, Any]]:
        """Messages now visible on the queue, as records of an SQS Lambda event."""
        import boto3

        answer = boto3.client("sqs").receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=wait_s
        )
        return [self.record(m) for m in answer.get("Messages", [])]

    def record(self, message: dict[str, Any]) -> dict[str, Any]:
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
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:video-jobs",
            "awsRegion": "us-east-1",
        }

    def delete(self, records: list[dict[str, Any]]) -> None:
        import boto3

        for record in records:
            boto3.client("sqs").delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])

    def deliver(self, handler: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Call the worker with a batch as Lambda does, deleting the records it did not report as failed."""
        from tests.events import LambdaContext

        answer: dict[str, Any] = handler({"Records": records}, LambdaContext())
        failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        self.delete([r for r in records if r["messageId"] not in failed])
        return answer

    def run_until_idle(self, handler: Any, *, rounds: int = 30, wait_s: int = 0) -> list[dict[str, Any]]:
        """Deliver until the queue is empty; every answer, in order."""
        answers = []
        for _ in range(rounds):
            records = self.receive(wait_s=wait_s)
            if not records:
                break
            answers.append(self.deliver(handler, records))
        return answers

    def object(self, key: str) -> bytes:
        import boto3

        return bytes(boto3.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read())


@contextmanager
def video_aws(monkeypatch: Any, **environment: str) -> Iterator[VideoAws]:
    """moto in process with the media bucket and the video queue; settings and cached clients and providers reset.

    Every message the pipeline sends is also recorded in `VideoAws.sent` with its delay.
    """
    import boto3
    from moto import mock_aws
    from viral.aws import reset_clients
    from viral.settings import get_settings
    from viral.video import service as videos
    from viral.video.providers.registry import reset_providers

    with mock_aws():
        reset_clients()
        videos.reset_signer()
        bucket = "viral-test-media"
        boto3.client("s3").create_bucket(Bucket=bucket)
        queue_url = boto3.client("sqs").create_queue(QueueName="video-jobs", Attributes={"VisibilityTimeout": "0"})[
            "QueueUrl"
        ]
        aws = VideoAws(bucket=bucket, queue_url=queue_url)
        env = {
            "MEDIA_BUCKET": bucket,
            "VIDEO_QUEUE_URL": queue_url,
            "VIDEO_POLL_INTERVAL_S": "0",
            "VIDEO_STORYBOARD_FPS": "8",
            "VIDEO_RECONCILE_WINDOW_S": "0",
            **environment,
        }
        for name in ("VEO_API_KEY", "RUNWAY_API_KEY", "LUMA_API_KEY", "VIDEO_SECRET_NAME"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        real_send = videos.send

        def recording_send(queue: str | None, message: Any, *, delay_s: int = 0) -> str:
            aws.sent.append((json.loads(message.model_dump_json(by_alias=True)), delay_s))
            return real_send(queue, message, delay_s=delay_s)

        monkeypatch.setattr(videos, "send", recording_send)
        get_settings.cache_clear()
        reset_providers()
        try:
            yield aws
        finally:
            reset_clients()
            videos.reset_signer()
            reset_providers()
    get_settings.cache_clear()

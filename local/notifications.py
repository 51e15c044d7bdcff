"""S3 event notifications on one machine: moto's bucket notifications to an internal queue, polled into the function.

Every `Type: S3` event (bucket, events, S3Key prefix/suffix rules) becomes a QueueConfiguration of its bucket's
notification configuration in moto, pointing at one internal queue per function. A poller turns each message
back into the S3 event Lambda would receive (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html)
and calls the function once per event. Lambda invokes S3 targets asynchronously: a failure is retried twice (or
EventInvokeConfig.MaximumRetryAttempts times) after the internal queue's visibility timeout, then the event lands
in the internal dead-letter queue.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from local.aws import LocalAws
from local.pollers import WAIT_S, Function, Message, QueuePoller
from local.stack import BUCKET, StackResolver, Unresolvable
from local.template import SamTemplate

log = logging.getLogger("local.s3")

DEFAULT_RETRIES = 2  # Lambda's asynchronous invocation retries
MIN_RETRY_DELAY_S = 60  # Lambda waits about a minute before the first retry
LOCAL_PRINCIPAL = "AWS:AIDALOCALRUNTIME"
_QUEUE_NAME_LIMIT = 80


@dataclass(frozen=True)
class S3Notification:
    """One `Type: S3` event of a function."""

    function_id: str
    event_name: str
    bucket: str  # logical id
    events: tuple[str, ...]
    rules: tuple[tuple[str, str], ...] = ()  # ("prefix" | "suffix", value)

    @property
    def id(self) -> str:
        return f"{self.function_id}-{self.event_name}"

    def describe(self) -> str:
        rules = " ".join(f"{name}={value!r}" for name, value in self.rules) or "every key"
        return f"{'/'.join(self.events)} {rules}"


def s3_notifications(template: SamTemplate, resolver: StackResolver) -> list[S3Notification]:
    """Every S3 event of the template's functions; ValueError when one names a bucket the template does not hold."""
    notifications: list[S3Notification] = []
    for event in template.function_events("S3"):
        where = f"{event.function.logical_id}.{event.name}"
        bucket = event.properties.get("Bucket")
        bucket_id = bucket.get("Ref") if isinstance(bucket, dict) else None
        if bucket_id not in template.resources_of_type(BUCKET):
            raise ValueError(f"{where}: Bucket must be !Ref to a bucket of the template (SAM requires it)")
        events = event.properties.get("Events") or []
        rules = ((event.properties.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
        try:
            resolved_rules = tuple((str(r["Name"]).lower(), str(resolver.resolve(r["Value"]))) for r in rules)
        except (KeyError, TypeError, Unresolvable) as error:
            raise ValueError(f"{where}: Filter.S3Key.Rules need a Name and a Value ({error})") from error
        notifications.append(
            S3Notification(
                function_id=event.function.logical_id,
                event_name=event.name,
                bucket=bucket_id,
                events=tuple([events] if isinstance(events, str) else events),
                rules=resolved_rules,
            )
        )
    return notifications


def lambda_s3_record(record: Mapping[str, Any], *, source_ip: str = "127.0.0.1") -> dict[str, Any]:
    """moto's notification record completed into the record S3 sends to Lambda.

    The key is URL-encoded as S3 does it (form encoding: a space is `+`, `/` stays), so handlers decode it with
    `unquote_plus` locally as in AWS.
    """
    s3 = record["s3"]
    moto_object = s3["object"]
    s3_object: dict[str, Any] = {
        "key": quote_plus(unquote_plus(moto_object["key"]), safe="/"),
        "size": moto_object.get("size", 0),
        "eTag": moto_object.get("eTag", ""),
        "sequencer": f"{time.time_ns():016X}",
    }
    if moto_object.get("versionId"):
        s3_object["versionId"] = moto_object["versionId"]
    return {
        "eventVersion": record.get("eventVersion", "2.1"),
        "eventSource": "aws:s3",
        "awsRegion": record["awsRegion"],
        "eventTime": record["eventTime"],
        "eventName": record["eventName"],
        "userIdentity": {"principalId": LOCAL_PRINCIPAL},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"x-amz-request-id": secrets.token_hex(8).upper(), "x-amz-id-2": secrets.token_urlsafe(48)},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": s3.get("configurationId", ""),
            "bucket": {
                "name": s3["bucket"]["name"],
                "ownerIdentity": {"principalId": LOCAL_PRINCIPAL},
                "arn": s3["bucket"].get("arn", f"arn:aws:s3:::{s3['bucket']['name']}"),
            },
            "object": s3_object,
        },
    }


class S3EventDelivery:
    """Calls a function once per S3 event found on its internal queue; acknowledges the ones it handled."""

    def __init__(self, function: Function) -> None:
        self.function = function

    def __call__(self, messages: list[Message]) -> list[str]:
        return [message["ReceiptHandle"] for message in messages if self._deliver(message)]

    def _deliver(self, message: Message) -> bool:
        try:
            body = json.loads(message["Body"])
        except ValueError:
            log.warning("dropped a message that is not an S3 event: %.200s", message["Body"])
            return True
        if body.get("Event") == "s3:TestEvent":  # moto, as S3, tests a new configuration; Lambda never sees it
            return True
        records = [lambda_s3_record(record) for record in body.get("Records") or []]
        if not records:
            log.warning("dropped an S3 notification without records: %.200s", message["Body"])
            return True
        request_id = str(uuid.uuid4())
        keys = ", ".join(f"s3://{r['s3']['bucket']['name']}/{r['s3']['object']['key']}" for r in records)
        attempt = (message.get("Attributes") or {}).get("ApproximateReceiveCount", "1")
        try:
            self.function.invoke({"Records": records}, request_id=request_id)
        except Exception:
            log.exception("%s failed on %s (attempt %s, request %s)", self.function.name, keys, attempt, request_id)
            return False
        log.info("%s <- %s", self.function.name, keys)
        return True


@dataclass(frozen=True)
class InternalQueue:
    """The queue a function's S3 notifications go to, and its dead-letter queue."""

    name: str
    url: str
    arn: str
    dead_letter_name: str


class S3Notifications:
    """The `s3-notifications` service: the internal queues, and each bucket's notification configuration in moto.

    `pollers()` gives the pollers that deliver the notifications (run them with local.pollers.QueuePollers).
    """

    name = "s3-notifications"

    def __init__(self, aws: LocalAws, notifications: list[S3Notification], functions: Mapping[str, Function]) -> None:
        self.aws = aws
        self.notifications = notifications
        self.functions = functions
        self.queues: dict[str, InternalQueue] = {}  # function -> its internal queue
        for function_id in dict.fromkeys(n.function_id for n in notifications):
            name = f"{aws.stack.name}-s3-{function_id}"[: _QUEUE_NAME_LIMIT - len("-dlq")]
            self.queues[function_id] = InternalQueue(
                name=name,
                url=f"{aws.endpoint_url}/{aws.stack.account}/{name}",
                arn=f"arn:aws:sqs:{aws.stack.region}:{aws.stack.account}:{name}",
                dead_letter_name=f"{name}-dlq",
            )

    def start(self) -> None:
        if not self.notifications:
            return
        sqs = self.aws.client("sqs")
        for function_id, queue in self.queues.items():
            self._create_queue(sqs, function_id, queue)
        s3 = self.aws.client("s3")
        for bucket_id in dict.fromkeys(n.bucket for n in self.notifications):
            configurations = [
                _queue_configuration(n, self.queues[n.function_id].arn)
                for n in self.notifications
                if n.bucket == bucket_id
            ]
            s3.put_bucket_notification_configuration(
                Bucket=self.aws.buckets[bucket_id].name,
                NotificationConfiguration={"QueueConfigurations": configurations},
            )

    def stop(self) -> None:
        """Nothing to undo: the configuration lives in moto, which stops after this."""

    def pollers(self) -> list[QueuePoller]:
        return [
            QueuePoller(
                f"s3->{function_id}",
                client_factory=lambda: self.aws.client("sqs"),
                queue_url=queue.url,
                deliver=S3EventDelivery(self.functions[function_id]),
                join_timeout_s=self.functions[function_id].spec.timeout_s + WAIT_S + 5,
            )
            for function_id, queue in self.queues.items()
        ]

    def describe(self) -> list[str]:
        return [
            f"  s3     {self.aws.resolver.bucket(n.bucket).name} {n.describe()}  ->  {n.function_id}"
            for n in self.notifications
        ]

    def _create_queue(self, sqs: Any, function_id: str, queue: InternalQueue) -> None:
        dlq_url = sqs.create_queue(QueueName=queue.dead_letter_name)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        spec = self.functions[function_id].spec
        attempts = 1 + int(spec.event_invoke_config.get("MaximumRetryAttempts", DEFAULT_RETRIES))
        attributes = {
            "VisibilityTimeout": str(max(MIN_RETRY_DELAY_S, spec.timeout_s)),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": attempts}),
        }
        url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
        if url != queue.url:
            raise RuntimeError(f"moto named the internal queue {url}, not {queue.url}")


def _queue_configuration(notification: S3Notification, queue_arn: str) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "Id": notification.id,
        "QueueArn": queue_arn,
        "Events": list(notification.events),
    }
    if notification.rules:
        configuration["Filter"] = {
            "Key": {"FilterRules": [{"Name": name, "Value": value} for name, value in notification.rules]}
        }
    return configuration

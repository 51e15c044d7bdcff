"""The local runtime's queues, schedules and S3 notifications against moto's server, with real handlers.

Each test wires a small template of its own the way `make run` wires template.yaml: LocalAws (moto's server, the
template's queues and buckets, the functions' environment), the S3 notifications, the queue pollers and the
scheduler, around the functions' real handlers.
"""

from __future__ import annotations

import copy
import json
import os
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from viral import aws as viral_aws
from viral.content.daily import JOB_TYPE
from viral.content.messages import GenerationJobMessage
from viral.db.uow import unit_of_work
from viral.identity.tenants import set_daily_generation
from viral.operations.jobs import list_jobs
from viral.operations.repository import JobRepository
from viral.tenancy import tenant_scope

from local.aws import LocalAws
from local.lambda_runtime import LOCAL_ACCOUNT, LambdaFunction
from local.notifications import S3Notifications, s3_notifications
from local.pollers import QueuePollers, queue_pollers, sqs_event_sources
from local.schedules import Scheduler, schedules_from
from local.services import ServiceGroup
from local.template import FunctionSpec, SamTemplate

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 20.0  # every wait below is bounded by this

# The generation pipeline of template.yaml in small, with a visibility timeout of one second so retries are quick.
GENERATION_TEMPLATE = """
Resources:
  GenerationDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-generation-jobs-dlq"
  GenerationQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-generation-jobs"
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt GenerationDeadLetterQueue.Arn
        maxReceiveCount: 5
  DailyGenerateFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/daily_generate/
      Handler: app.lambda_handler
      Timeout: 120
      Environment:
        Variables:
          GENERATION_QUEUE_URL: !Ref GenerationQueue
      Events:
        Daily:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 8 * * ? *)
            ScheduleExpressionTimezone: UTC
  GenerationWorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/generation_worker/
      Handler: app.lambda_handler
      Timeout: 60
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt GenerationQueue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  NightlyFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {handlers}/nightly/
      Handler: app.handler
      Events:
        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 9 * * ? *)
"""

BATCH_TEMPLATE = """
Resources:
  WorkDeadLetterQueue:
    Type: AWS::SQS::Queue
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn
        maxReceiveCount: 3
  WorkFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {handlers}/work/
      Handler: app.handler
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
"""

MEDIA_TEMPLATE = """
Resources:
  MediaBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-media-${AWS::AccountId}"
  ImportFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {handlers}/s3/
      Handler: app.handler
      Environment:
        Variables:
          MEDIA_BUCKET: !Ref MediaBucket
      Events:
        Imported:
          Type: S3
          Properties:
            Bucket: !Ref MediaBucket
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - {Name: prefix, Value: imports/}
                  - {Name: suffix, Value: .json}
  UploadFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {handlers}/s3/
      Handler: app.handler
      Events:
        Uploaded:
          Type: S3
          Properties:
            Bucket: !Ref MediaBucket
            Events: [s3:ObjectCreated:*]
            Filter:
              S3Key:
                Rules:
                  - {Name: prefix, Value: uploads/}
"""

HANDLERS = {
    "nightly": "def handler(event, context):\n    return 'nightly'\n",
    # Fails the records whose body starts with "fail"; crashes on a "crash" record.
    "work": textwrap.dedent(
        """
        def handler(event, context):
            if any(record["body"] == "crash" for record in event["Records"]):
                raise RuntimeError("crash")
            failed = [r["messageId"] for r in event["Records"] if r["body"].startswith("fail")]
            return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
        """
    ),
    # Reads the event as an S3 import worker would: Powertools' S3 model, keys decoded with unquote_plus.
    "s3": textwrap.dedent(
        """
        from urllib.parse import unquote_plus

        from aws_lambda_powertools.utilities.parser.models import S3Model


        def handler(event, context):
            records = S3Model.model_validate(event).Records
            return [(r.s3.bucket.name, unquote_plus(r.s3.object.key), r.s3.object.size) for r in records]
        """
    ),
}


class Recorded:
    """A local function that keeps a copy of every event it was invoked with, and each answer."""

    def __init__(self, function: LambdaFunction) -> None:
        self.function = function
        self.spec: FunctionSpec = function.spec
        self.events: list[Any] = []
        self.answers: list[Any] = []

    @property
    def name(self) -> str:
        return self.function.name

    def invoke(self, event: Any, *, request_id: str | None = None) -> Any:
        self.events.append(copy.deepcopy(event))
        answer = self.function.invoke(event, request_id=request_id)
        self.answers.append(answer)
        return answer


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class LocalSystem:
    """A template wired as `make run` wires it: AWS first, then the consumers."""

    def __init__(self, text: str, handlers: Path, clock: Clock) -> None:
        self.template = SamTemplate.parse(text.replace("{handlers}", str(handlers)), root=REPO_ROOT)
        self.functions = {k: Recorded(LambdaFunction(spec)) for k, spec in self.template.functions().items()}
        self.aws = LocalAws(self.template, stack_name=f"viral-test-{uuid.uuid4().hex[:6]}")
        self.notifications = S3Notifications(
            self.aws, s3_notifications(self.template, self.aws.resolver), self.functions
        )
        sources = sqs_event_sources(self.template, self.aws.resolver)
        self.pollers = QueuePollers(
            [
                *queue_pollers(
                    sources, self.functions, client_factory=lambda: self.aws.client("sqs"), region="us-east-1"
                ),
                *self.notifications.pollers(),
            ]
        )
        self.scheduler = Scheduler(
            schedules_from(self.template, self.aws.resolver),
            self.functions,
            region="us-east-1",
            account=LOCAL_ACCOUNT,
            clock=clock,
        )
        self.infrastructure = ServiceGroup([self.aws, self.notifications])
        self.consumers = ServiceGroup([self.pollers, self.scheduler])

    def queue_depth(self, logical_id: str) -> tuple[int, int]:
        return depth(self, self.aws.queues[logical_id].url)

    def send(self, logical_id: str, *bodies: str) -> None:
        sqs = self.aws.client("sqs")
        for body in bodies:
            sqs.send_message(QueueUrl=self.aws.queues[logical_id].url, MessageBody=body)


@pytest.fixture
def handlers(tmp_path: Path) -> Path:
    for name, source in HANDLERS.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(source, encoding="utf-8")
    return tmp_path


@pytest.fixture
def local_system(handlers: Path) -> Iterator[Callable[..., LocalSystem]]:
    systems: list[LocalSystem] = []

    def build(text: str, clock: Clock | None = None) -> LocalSystem:
        system = LocalSystem(text, handlers, clock or Clock(datetime.now(UTC)))
        systems.append(system)
        system.infrastructure.start()
        return system

    yield build
    for system in systems:
        system.consumers.stop()
        system.infrastructure.stop()


def depth(system: LocalSystem, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    answer = system.aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(answer["ApproximateNumberOfMessages"]), int(answer["ApproximateNumberOfMessagesNotVisible"])


def wait_until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    pytest.fail(f"not within {WAIT_S} s: {what}")


def pending_job(tenant: uuid.UUID) -> str:
    """A generation job for `tenant`, as the schedule enqueues it; its SQS message body."""
    with tenant_scope(tenant), unit_of_work() as uow:
        job, _ = uow.repository(JobRepository).enqueue(
            job_type=JOB_TYPE, payload={"trigger": "test"}, idempotency_key=f"t:{uuid.uuid4()}"
        )
    message = GenerationJobMessage(job_id=job.id, tenant_id=tenant, for_date=date(2026, 11, 24))
    return message.model_dump_json(by_alias=True)


def job_statuses(tenant: uuid.UUID) -> list[str]:
    with tenant_scope(tenant):
        return [job.status for job in list_jobs(limit=10)]


def records_with(function: Recorded, body: str) -> list[dict[str, Any]]:
    return [record for event in function.events for record in event["Records"] if record["body"] == body]


def test_a_poison_message_reaches_the_dead_letter_queue_after_five_receives_while_its_neighbours_succeed(
    local_system: Callable[..., LocalSystem], new_tenant: Callable[[str], uuid.UUID]
) -> None:
    # Given two real generation jobs and a message no worker can read, in one batch
    system = local_system(GENERATION_TEMPLATE)
    tenant_a, tenant_b = new_tenant("Poison A"), new_tenant("Poison B")
    poison = '{"schemaVersion": 99}'
    system.send("GenerationQueue", pending_job(tenant_a), poison, pending_job(tenant_b))

    # When the worker consumes the queue
    system.consumers.start()
    wait_until(lambda: system.queue_depth("GenerationDeadLetterQueue")[0] == 1, "the poison message in the DLQ")

    # Then the jobs ran once each, and the poison message was received five times and then dead-lettered
    worker = system.functions["GenerationWorkerFunction"]
    assert len(worker.events[0]["Records"]) == 3, "the three messages came as one batch"
    assert worker.answers[0] == {
        "batchItemFailures": [{"itemIdentifier": records_with(worker, poison)[0]["messageId"]}]
    }
    assert [r["attributes"]["ApproximateReceiveCount"] for r in records_with(worker, poison)] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert job_statuses(tenant_a) == job_statuses(tenant_b) == ["completed"]
    dead = system.aws.client("sqs").receive_message(QueueUrl=system.aws.queues["GenerationDeadLetterQueue"].url)
    assert [message["Body"] for message in dead["Messages"]] == [poison]
    assert system.queue_depth("GenerationQueue") == (0, 0)


def test_partial_batch_failures_delete_only_the_successes(local_system: Callable[..., LocalSystem]) -> None:
    # Given a batch where two records fail
    system = local_system(BATCH_TEMPLATE)
    system.send("WorkQueue", "ok-1", "fail-2", "ok-3", "fail-4")

    # When the function has been invoked twice (the second time after the visibility timeout)
    system.consumers.start()
    work = system.functions["WorkFunction"]
    wait_until(lambda: len(work.events) >= 2, "a second invocation")

    # Then only the failed records came back, each received a second time
    first, second = work.events[:2]
    assert sorted(r["body"] for r in first["Records"]) == ["fail-2", "fail-4", "ok-1", "ok-3"]
    assert sorted(r["body"] for r in second["Records"]) == ["fail-2", "fail-4"]
    assert {r["attributes"]["ApproximateReceiveCount"] for r in second["Records"]} == {"2"}
    assert {r["eventSourceARN"] for r in first["Records"]} == {system.aws.queues["WorkQueue"].arn}


def test_a_handler_crash_retries_the_whole_batch(local_system: Callable[..., LocalSystem]) -> None:
    # Given a batch whose handler crashes
    system = local_system(BATCH_TEMPLATE)
    system.send("WorkQueue", "ok-1", "crash")

    # When the function has been invoked twice
    system.consumers.start()
    work = system.functions["WorkFunction"]
    wait_until(lambda: len(work.events) >= 2, "a second invocation")

    # Then every record came back, none was deleted
    assert sorted(r["body"] for r in work.events[1]["Records"]) == ["crash", "ok-1"]
    assert {r["attributes"]["ApproximateReceiveCount"] for r in work.events[1]["Records"]} == {"2"}


def test_a_schedule_fires_its_handler_whose_job_the_worker_then_completes(
    local_system: Callable[..., LocalSystem], new_tenant: Callable[[str], uuid.UUID]
) -> None:
    # Given a tenant with daily generation on, a moment before the 08:00 UTC schedule
    tenant = new_tenant("Scheduled")
    with tenant_scope(tenant):
        set_daily_generation(True)
    clock = Clock(datetime(2026, 11, 24, 7, 59, 30, tzinfo=UTC))
    system = local_system(GENERATION_TEMPLATE, clock)
    system.consumers.start()

    # When 08:00 comes
    fired = system.scheduler.tick(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))

    # Then the daily schedule fired (not the 09:00 one), with the scheduler's event
    assert [spec.label for spec in fired] == ["DailyGenerateFunction.Daily"]
    wait_until(lambda: job_statuses(tenant) == ["completed"], "the scheduled job completed by the worker")
    [event] = system.functions["DailyGenerateFunction"].events
    assert (event["source"], event["detail-type"], event["time"]) == (
        "aws.scheduler",
        "Scheduled Event",
        "2026-11-24T08:00:00Z",
    )
    assert system.functions["NightlyFunction"].events == []
    messages = [
        json.loads(r["body"]) for e in system.functions["GenerationWorkerFunction"].events for r in e["Records"]
    ]
    assert str(tenant) in {message["tenantId"] for message in messages}


def test_an_s3_put_under_a_prefix_reaches_the_function_of_that_prefix(
    local_system: Callable[..., LocalSystem],
) -> None:
    # Given the bucket's notifications wired to two functions by prefix
    system = local_system(MEDIA_TEMPLATE)
    system.consumers.start()
    bucket = system.aws.buckets["MediaBucket"].name
    s3 = system.aws.client("s3")

    # When objects are put under each prefix, and elsewhere
    key = f"imports/{uuid.uuid4()}/my export (1).json"
    put = s3.put_object(Bucket=bucket, Key=key, Body=b'{"generations": []}')
    s3.put_object(Bucket=bucket, Key="imports/not-json.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="uploads/t/clip.mp4", Body=b"\x00" * 10)
    s3.put_object(Bucket=bucket, Key="videos/rendered.mp4", Body=b"x")

    # Then each function got an S3 event for its own object only, readable with Powertools' S3 model
    imports, uploads = system.functions["ImportFunction"], system.functions["UploadFunction"]
    internal = [queue.url for queue in system.notifications.queues.values()]
    # moto queues a notification before put_object answers: once the internal queues are drained, all is delivered
    wait_until(
        lambda: imports.answers and uploads.answers and all(depth(system, url) == (0, 0) for url in internal),
        "every notification delivered",
    )
    assert imports.answers == [[(bucket, key, 19)]]
    assert uploads.answers == [[(bucket, "uploads/t/clip.mp4", 10)]]
    [record] = imports.events[0]["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"].startswith("ObjectCreated:")
    assert record["s3"]["object"]["eTag"] == put["ETag"].strip('"')
    assert "/" in record["s3"]["object"]["key"] and " " not in record["s3"]["object"]["key"]
    assert unquote_plus(record["s3"]["object"]["key"]) == key
    assert system.aws.environment.values["MEDIA_BUCKET"] == bucket


def test_handlers_reach_moto_through_the_environment_which_is_restored_after(handlers: Path) -> None:
    # Given a shell environment with credentials of its own
    before = {name: os.environ.get(name) for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "MEDIA_BUCKET")}
    system = LocalSystem(MEDIA_TEMPLATE, handlers, Clock(datetime.now(UTC)))

    # When the local AWS runs, Then unchanged package code (viral.aws) reaches its bucket through the environment
    system.infrastructure.start()
    try:
        assert os.environ["AWS_ENDPOINT_URL"] == system.aws.endpoint_url
        assert os.environ["MEDIA_BUCKET"] == system.aws.buckets["MediaBucket"].name
        viral_aws.client("s3").put_object(Bucket=os.environ["MEDIA_BUCKET"], Key="tmp/probe", Body=b"x")
        assert (
            system.aws.client("s3").get_object(Bucket=os.environ["MEDIA_BUCKET"], Key="tmp/probe")["Body"].read()
            == b"x"
        )
    finally:
        system.infrastructure.stop()

    # And after it stops, the shell's environment is back
    assert {name: os.environ.get(name) for name in before} == before

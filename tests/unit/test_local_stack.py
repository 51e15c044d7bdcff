"""The local stack: physical names, intrinsic functions and the functions' environment, from the template alone."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from local.stack import LocalStack, StackResolver, Unresolvable
from local.template import SamTemplate

REPO_ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = "http://127.0.0.1:4566"

TEMPLATE = textwrap.dedent(
    """
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Stage: {Type: String, Default: dev}
      DatabaseSecretName: {Type: String}
      LogLevel: {Type: String, Default: INFO}
      ClerkJwtKey: {Type: String, Default: ""}
    Mappings:
      StageSettings:
        dev: {Retention: 14}
    Globals:
      Function:
        Runtime: python3.13
        Environment:
          Variables:
            STAGE: !Ref Stage
            DB_SECRET_NAME: !Ref DatabaseSecretName
            LOG_LEVEL: !Ref LogLevel
            MEDIA_BUCKET: !Sub "${AWS::StackName}-media-${AWS::AccountId}"
    Resources:
      JobsQueue:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: !Sub "${AWS::StackName}-jobs"
          VisibilityTimeout: 360
          RedrivePolicy:
            deadLetterTargetArn: !GetAtt JobsDeadLetterQueue.Arn
            maxReceiveCount: 5
      JobsDeadLetterQueue:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: !Sub "${AWS::StackName}-jobs-dlq"
          MessageRetentionPeriod: 1209600
      UnnamedQueue:
        Type: AWS::SQS::Queue
      MediaBucket:
        Type: AWS::S3::Bucket
        Properties:
          BucketName: !Sub "${AWS::StackName}-media-${AWS::AccountId}"
      ScheduleFunction:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: functions/schedule/
          Handler: app.lambda_handler
          Environment:
            Variables:
              JOBS_QUEUE_URL: !Ref JobsQueue
              JOBS_QUEUE_NAME: !GetAtt JobsQueue.QueueName
              JOBS_QUEUE_ARN: !GetAtt JobsQueue.Arn
              CLERK_JWT_KEY: !Ref ClerkJwtKey
              RETENTION: !FindInMap [StageSettings, dev, Retention]
              MEDIA_PREFIX: !Join ["/", [!Ref MediaBucket, "uploads"]]
      WorkerFunction:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: functions/worker/
          Handler: app.lambda_handler
          Environment:
            Variables:
              LOG_LEVEL: DEBUG
              JOBS_QUEUE_URL: !Ref JobsQueue
              WORKER_ARN: !GetAtt WorkerFunction.Arn
              BROKEN: !GetAtt JobsQueue.Nothing
              API_KEY: "{{resolve:secretsmanager:vendor:SecretString:key}}"
    """
)


@pytest.fixture
def resolver() -> StackResolver:
    template = SamTemplate.parse(TEMPLATE, root=REPO_ROOT)
    return StackResolver(template, LocalStack(name="viral-local", endpoint_url=ENDPOINT))


def test_queue_names_resolve_the_stack_name_and_carry_their_attributes(resolver: StackResolver) -> None:
    queue = resolver.queue("JobsQueue")
    assert queue.name == "viral-local-jobs"
    assert queue.url == f"{ENDPOINT}/123456789012/viral-local-jobs"
    assert queue.arn == "arn:aws:sqs:us-east-1:123456789012:viral-local-jobs"
    assert queue.visibility_timeout_s == 360
    assert queue.dead_letter_queue == "JobsDeadLetterQueue"
    assert json.loads(queue.attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:viral-local-jobs-dlq",
        "maxReceiveCount": 5,
    }
    assert queue.max_receive_count == 5


def test_dead_letter_queues_are_created_before_the_queues_that_use_them(resolver: StackResolver) -> None:
    order = [queue.logical_id for queue in resolver.queues()]
    assert order.index("JobsDeadLetterQueue") < order.index("JobsQueue")
    assert sorted(order) == ["JobsDeadLetterQueue", "JobsQueue", "UnnamedQueue"]


def test_resources_without_a_name_get_a_stable_local_one(resolver: StackResolver) -> None:
    assert resolver.queue("UnnamedQueue").name == "viral-local-UnnamedQueue"
    assert [bucket.name for bucket in resolver.buckets()] == ["viral-local-media-123456789012"]


def test_environment_resolves_queues_buckets_parameters_and_mappings(resolver: StackResolver) -> None:
    values = resolver.environment().values
    assert values["JOBS_QUEUE_URL"] == f"{ENDPOINT}/123456789012/viral-local-jobs"
    assert values["JOBS_QUEUE_NAME"] == "viral-local-jobs"
    assert values["JOBS_QUEUE_ARN"] == "arn:aws:sqs:us-east-1:123456789012:viral-local-jobs"
    assert values["MEDIA_BUCKET"] == "viral-local-media-123456789012"
    assert values["MEDIA_PREFIX"] == "viral-local-media-123456789012/uploads"
    assert values["RETENTION"] == "14"
    assert values["WORKER_ARN"] == "arn:aws:lambda:us-east-1:123456789012:function:WorkerFunction"


def test_environment_never_applies_stage_or_the_database_secret_nor_empty_values(resolver: StackResolver) -> None:
    environment = resolver.environment()
    assert "STAGE" not in environment.values
    assert "DB_SECRET_NAME" not in environment.values
    assert "CLERK_JWT_KEY" not in environment.values  # an empty parameter means "not configured"
    assert environment.skipped == [
        "BROKEN (WorkerFunction): GetAtt JobsQueue.Nothing is not known locally",
        "API_KEY (WorkerFunction): a dynamic reference is not resolved locally",
    ]


def test_environment_reports_values_two_functions_disagree_on(resolver: StackResolver) -> None:
    environment = resolver.environment()
    assert environment.values["LOG_LEVEL"] == "INFO"  # ScheduleFunction's (Globals), first by logical id
    assert environment.sources["LOG_LEVEL"] == "ScheduleFunction"
    assert environment.conflicts == [
        "LOG_LEVEL: ScheduleFunction and WorkerFunction set different values (the process keeps ScheduleFunction's)"
    ]


def test_function_variables_merge_over_globals() -> None:
    template = SamTemplate.parse(TEMPLATE, root=REPO_ROOT)
    worker = template.functions()["WorkerFunction"].environment
    assert worker["LOG_LEVEL"] == "DEBUG"
    assert worker["MEDIA_BUCKET"] == {"Fn::Sub": "${AWS::StackName}-media-${AWS::AccountId}"}


def test_sub_resolves_attributes_variables_and_escapes(resolver: StackResolver) -> None:
    assert resolver.resolve({"Fn::Sub": "${JobsQueue.Arn}|${AWS::Region}|${!Literal}"}) == (
        "arn:aws:sqs:us-east-1:123456789012:viral-local-jobs|us-east-1|${Literal}"
    )
    assert resolver.resolve({"Fn::Sub": ["${Name}-x", {"Name": {"Ref": "LogLevel"}}]}) == "INFO-x"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Ref": "DatabaseSecretName"}, "has no default"),
        ({"Ref": "Nowhere"}, "not a parameter or a local"),
        ({"Fn::GetAtt": ["MediaBucket", "WebsiteURL"]}, "not known locally"),
        ({"Fn::If": ["IsProd", "a", "b"]}, "condition IsProd is not in the template"),
        ({"Fn::ImportValue": "other-stack-output"}, "not supported locally"),
    ],
)
def test_what_cannot_be_known_locally_is_unresolvable(resolver: StackResolver, value: object, message: str) -> None:
    with pytest.raises(Unresolvable, match=message):
        resolver.resolve(value)


def test_queue_of_arn_finds_the_template_queue(resolver: StackResolver) -> None:
    assert resolver.queue_of_arn({"Fn::GetAtt": ["JobsQueue", "Arn"]}).logical_id == "JobsQueue"
    with pytest.raises(Unresolvable, match="not a queue of the template"):
        resolver.queue_of_arn("arn:aws:sqs:us-east-1:999999999999:elsewhere")


def test_repository_template_resolves_for_the_local_stack() -> None:
    template = SamTemplate.load(REPO_ROOT / "template.yaml")
    resolver = StackResolver(template, LocalStack(endpoint_url=ENDPOINT))
    environment = resolver.environment()
    assert environment.conflicts == []
    assert environment.values["GENERATION_QUEUE_URL"] == f"{ENDPOINT}/123456789012/viral-local-generation-jobs"
    assert environment.values["MEDIA_BUCKET"] == resolver.bucket("MediaBucket").name
    assert [queue.name for queue in resolver.queues()], "every queue resolves to a local name"


CONDITIONS_TEMPLATE = textwrap.dedent(
    """
    Parameters:
      ProxyEndpoint: {Type: String, Default: ""}
      PoolMode: {Type: String, Default: pooled}
      Subnets: {Type: CommaDelimitedList, Default: ""}
    Conditions:
      UseProxy: !Not [!Equals [!Ref ProxyEndpoint, ""]]
      InVpc: !Not [!Equals [!Join [",", !Ref Subnets], ""]]
      Either: !Or [!Condition UseProxy, !Condition InVpc]
      Neither: !Not [!Condition Either]
    Resources: {}
    """
)


def test_conditions_are_evaluated_on_the_parameter_defaults() -> None:
    resolver = StackResolver(SamTemplate.parse(CONDITIONS_TEMPLATE, root=REPO_ROOT), LocalStack())
    assert resolver.resolve({"Fn::If": ["UseProxy", "null", {"Ref": "PoolMode"}]}) == "pooled"
    assert resolver.resolve({"Fn::If": ["InVpc", {"SubnetIds": []}, {"Ref": "AWS::NoValue"}]}) is None
    assert (resolver.condition("Either"), resolver.condition("Neither")) == (False, True)
    with pytest.raises(Unresolvable, match="condition Missing is not in the template"):
        resolver.resolve({"Fn::If": ["Missing", "a", "b"]})

"""The template's resources as one local stack: physical names, intrinsic functions and the functions' environment.

Nothing here talks to AWS or moto: it works out what `local.aws` creates in moto and which values the functions see.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from local.lambda_runtime import LOCAL_ACCOUNT, LOCAL_REGION
from local.template import SERVERLESS_FUNCTION, SamTemplate

LOCAL_STACK_NAME = "viral-local"
QUEUE = "AWS::SQS::Queue"
BUCKET = "AWS::S3::Bucket"
# Never taken from the template locally: the stage stays "local", the database is the embedded one (or
# DATABASE_URL), never a Secrets Manager secret, and webhook secrets are sealed with the local key, not KMS.
NEVER_APPLIED = frozenset({"STAGE", "DB_SECRET_NAME", "WEBHOOK_KMS_KEY_ID"})
_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
)
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Unresolvable(ValueError):
    """An intrinsic the local stack cannot give a value (a parameter without default, an unknown resource...)."""


@dataclass(frozen=True)
class LocalStack:
    """Where the local stack lives: its name (for `${AWS::StackName}`), region, account and moto's endpoint."""

    name: str = LOCAL_STACK_NAME
    region: str = LOCAL_REGION
    account: str = LOCAL_ACCOUNT
    endpoint_url: str = "http://127.0.0.1:5000"

    @property
    def pseudo_parameters(self) -> dict[str, str]:
        return {
            "AWS::StackName": self.name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.name}/local",
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    url: str
    arn: str
    attributes: dict[str, str]  # SetQueueAttributes form: strings; RedrivePolicy as JSON
    dead_letter_queue: str | None = None  # logical id of the redrive target

    @property
    def visibility_timeout_s(self) -> int:
        return int(self.attributes.get("VisibilityTimeout", "30"))

    @property
    def max_receive_count(self) -> int | None:
        policy = self.attributes.get("RedrivePolicy")
        return int(json.loads(policy)["maxReceiveCount"]) if policy else None


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"


@dataclass
class LocalEnvironment:
    """The functions' environment variables for the one local process, and what could not be applied as is."""

    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # variable -> the function whose value won
    conflicts: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class StackResolver:
    """Resolves Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select and Fn::FindInMap against the local stack."""

    def __init__(self, template: SamTemplate, stack: LocalStack) -> None:
        self.template = template
        self.stack = stack
        self._resolving: set[str] = set()

    # Physical resources

    def queue(self, logical_id: str) -> QueueSpec:
        properties = self._properties(logical_id, QUEUE)
        name = self._queue_name(logical_id)
        attributes = {
            key: _attribute_value(self.resolve(properties[key])) for key in _QUEUE_ATTRIBUTES if key in properties
        }
        dead_letter_queue = None
        if "RedrivePolicy" in properties:
            policy = self.resolve(properties["RedrivePolicy"])
            if not isinstance(policy, dict) or "deadLetterTargetArn" not in policy or "maxReceiveCount" not in policy:
                raise Unresolvable(f"{logical_id}: RedrivePolicy needs deadLetterTargetArn and maxReceiveCount")
            dead_letter_queue = self._queue_named_by_arn(policy["deadLetterTargetArn"])
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": policy["deadLetterTargetArn"],
                    "maxReceiveCount": int(policy["maxReceiveCount"]),
                }
            )
        return QueueSpec(
            logical_id=logical_id,
            name=name,
            url=self._queue_url(name),
            arn=self._queue_arn(name),
            attributes=attributes,
            dead_letter_queue=dead_letter_queue,
        )

    def queues(self) -> list[QueueSpec]:
        """Every queue of the template, dead-letter targets before the queues that redrive to them."""
        specs = {logical_id: self.queue(logical_id) for logical_id in self.template.resources_of_type(QUEUE)}
        ordered: list[QueueSpec] = []
        placed: set[str] = set()

        def place(spec: QueueSpec, path: tuple[str, ...] = ()) -> None:
            if spec.logical_id in placed:
                return
            if spec.logical_id in path:
                raise Unresolvable(f"redrive cycle: {' -> '.join((*path, spec.logical_id))}")
            if spec.dead_letter_queue is not None:
                place(specs[spec.dead_letter_queue], (*path, spec.logical_id))
            placed.add(spec.logical_id)
            ordered.append(spec)

        for spec in specs.values():
            place(spec)
        return ordered

    def bucket(self, logical_id: str) -> BucketSpec:
        properties = self._properties(logical_id, BUCKET)
        name = self._guarded(
            logical_id, lambda: self._physical_name(logical_id, properties.get("BucketName"), lower=True)
        )
        return BucketSpec(logical_id=logical_id, name=name[:63])

    def buckets(self) -> list[BucketSpec]:
        return [self.bucket(logical_id) for logical_id in self.template.resources_of_type(BUCKET)]

    def queue_of_arn(self, value: Any) -> QueueSpec:
        """The template queue an event's `Queue` (an ARN, usually `!GetAtt Queue.Arn`) names."""
        return self.queue(self._queue_named_by_arn(self.resolve(value)))

    # The functions' environment

    def environment(self) -> LocalEnvironment:
        """Every function's variables, resolved for the one local process (see NEVER_APPLIED)."""
        environment = LocalEnvironment()
        for logical_id, function in sorted(self.template.functions().items()):
            for name, raw in function.environment.items():
                if name in NEVER_APPLIED:
                    continue
                try:
                    value = self.resolve(raw)
                except Unresolvable as error:
                    environment.skipped.append(f"{name} ({logical_id}): {error}")
                    continue
                if value is None or value == "":
                    continue  # a parameter left empty means "not configured"
                text = _attribute_value(value)
                if "{{resolve:" in text:
                    environment.skipped.append(f"{name} ({logical_id}): a dynamic reference is not resolved locally")
                    continue
                if name in environment.values and environment.values[name] != text:
                    first = environment.sources[name]  # names only: a value may be a secret
                    environment.conflicts.append(
                        f"{name}: {first} and {logical_id} set different values (the process keeps {first}'s)"
                    )
                    continue
                environment.values.setdefault(name, text)
                environment.sources.setdefault(name, logical_id)
        return environment

    # Intrinsic functions

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by its local value; Unresolvable if one has none."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                return self._intrinsic(key, argument)
        return {key: self.resolve(item) for key, item in value.items()}

    def _intrinsic(self, key: str, argument: Any) -> Any:
        if key == "Ref":
            return self._ref(argument)
        if key == "Fn::GetAtt":
            target, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
            return self._get_att(str(target), str(attribute))
        if key == "Fn::Sub":
            return self._sub(argument)
        if key == "Fn::Join":
            separator, items = argument
            return str(separator).join(_attribute_value(item) for item in self.resolve(items))
        if key == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::FindInMap":
            return self._find_in_map(*self.resolve(argument))
        if key == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(str(condition)) else when_false)
        if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
            return self._truth(key, argument)
        raise Unresolvable(f"{key} is not supported locally")

    def condition(self, name: str) -> bool:
        """A template condition, evaluated on the parameters' defaults (as a deploy without overrides would)."""
        conditions = self.template.document.get("Conditions") or {}
        if name not in conditions:
            raise Unresolvable(f"condition {name} is not in the template")
        return bool(self._guarded(f"Condition:{name}", lambda: self.resolve(conditions[name])))

    def _truth(self, key: str, argument: Any) -> bool:
        if key == "Condition":
            return self.condition(str(argument))
        if key == "Fn::Equals":
            left, right = (_attribute_value(self.resolve(item)) for item in argument)
            return left == right
        if key == "Fn::Not":
            return not self.resolve(argument[0])
        values = [bool(self.resolve(item)) for item in argument]
        return all(values) if key == "Fn::And" else any(values)

    def _ref(self, name: Any) -> Any:
        name = str(name)
        if name in self.stack.pseudo_parameters:
            return self.stack.pseudo_parameters[name]
        if name == "AWS::NoValue":
            return None
        if name in self.template.parameters:
            default = self.template.parameters[name].get("Default")
            if default is None:
                raise Unresolvable(f"parameter {name} has no default")
            return default
        resource_type = (self.template.resources.get(name) or {}).get("Type")
        if resource_type == QUEUE:
            return self._queue_url(self._queue_name(name))
        if resource_type == BUCKET:
            return self.bucket(name).name
        if resource_type == SERVERLESS_FUNCTION:
            return name  # the local function name is its logical id
        raise Unresolvable(f"Ref {name}: not a parameter or a local queue, bucket or function")

    def _get_att(self, name: str, attribute: str) -> Any:
        resource_type = (self.template.resources.get(name) or {}).get("Type")
        if resource_type == QUEUE:
            queue_name = self._queue_name(name)
            values = {
                "Arn": self._queue_arn(queue_name),
                "QueueName": queue_name,
                "QueueUrl": self._queue_url(queue_name),
            }
        elif resource_type == BUCKET:
            bucket = self.bucket(name)
            values = {
                "Arn": bucket.arn,
                "DomainName": f"{bucket.name}.s3.amazonaws.com",
                "RegionalDomainName": f"{bucket.name}.s3.{self.stack.region}.amazonaws.com",
            }
        elif resource_type == SERVERLESS_FUNCTION:
            values = {"Arn": f"arn:aws:lambda:{self.stack.region}:{self.stack.account}:function:{name}"}
        else:
            values = {}
        if attribute not in values:
            raise Unresolvable(f"GetAtt {name}.{attribute} is not known locally")
        return values[attribute]

    def _sub(self, argument: Any) -> str:
        template, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        resolved_variables = {key: self.resolve(item) for key, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in resolved_variables:
                return _attribute_value(resolved_variables[name])
            if "." in name and not name.startswith("AWS::"):
                return _attribute_value(self._get_att(*name.split(".", 1)))
            return _attribute_value(self._ref(name))

        return _SUB_VARIABLE.sub(replace, str(template))

    def _find_in_map(self, mapping: str, first: str, second: str) -> Any:
        try:
            return self.template.document["Mappings"][mapping][first][second]
        except (KeyError, TypeError) as error:
            raise Unresolvable(f"FindInMap {mapping}.{first}.{second} is not in the template") from error

    # Helpers

    def _properties(self, logical_id: str, resource_type: str) -> dict[str, Any]:
        resource = self.template.resources.get(logical_id) or {}
        if resource.get("Type") != resource_type:
            raise Unresolvable(f"{logical_id} is not an {resource_type} of the template")
        return resource.get("Properties") or {}

    def _physical_name(self, logical_id: str, given: Any, *, suffix: str = "", lower: bool = False) -> str:
        if given is not None:
            return str(self.resolve(given))
        # CloudFormation would add a random suffix; locally the name stays the same from run to run.
        name = f"{self.stack.name}-{logical_id}"
        return (name.lower() if lower else name) + suffix

    def _queue_name(self, logical_id: str) -> str:
        properties = self._properties(logical_id, QUEUE)

        def compute() -> str:
            fifo = str(self.resolve(properties.get("FifoQueue", False))).lower() == "true"
            return self._physical_name(logical_id, properties.get("QueueName"), suffix=".fifo" if fifo else "")

        return str(self._guarded(logical_id, compute))

    def _queue_url(self, name: str) -> str:
        return f"{self.stack.endpoint_url}/{self.stack.account}/{name}"  # the form moto's server answers with

    def _queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.stack.region}:{self.stack.account}:{name}"

    def _queue_named_by_arn(self, arn: Any) -> str:
        for logical_id in self.template.resources_of_type(QUEUE):
            if self._queue_arn(self._queue_name(logical_id)) == arn:
                return logical_id
        raise Unresolvable(f"{arn} is not a queue of the template")

    def _guarded(self, logical_id: str, compute: Any) -> Any:
        if logical_id in self._resolving:
            raise Unresolvable(f"{logical_id} refers to itself")
        self._resolving.add(logical_id)
        try:
            return compute()
        finally:
            self._resolving.discard(logical_id)


def _attribute_value(value: Any) -> str:
    """A resolved value as an environment variable or queue attribute holds it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)

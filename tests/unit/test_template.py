"""template.yaml keeps its promises: runtime and layer wiring, handlers that exist, routes, queue safety nets."""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
FUNCTION = "AWS::Serverless::Function"
QUEUE = "AWS::SQS::Queue"
LAMBDA_DEFAULT_TIMEOUT_S = 3
SQS_DEFAULT_VISIBILITY_TIMEOUT_S = 30

Template = dict[str, Any]


def load_template(path: Path) -> Template:
    """Parse a SAM template with cfn-lint's loader (short-form !Ref / !Sub become long form)."""
    template, matches = decode(str(path))
    assert not matches, f"template does not parse: {matches}"
    plain: Template = json.loads(json.dumps(template))  # plain dicts and lists
    return plain


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge, lists are prepended, scalars are replaced."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(merged[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def resources_of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {name: res for name, res in template.get("Resources", {}).items() if res.get("Type") == resource_type}


def functions(template: Template) -> dict[str, dict[str, Any]]:
    """Every function's effective properties (Globals.Function merged in), by logical id."""
    global_props = template.get("Globals", {}).get("Function", {})
    return {
        name: merge_globals(copy.deepcopy(global_props), res.get("Properties", {}))
        for name, res in resources_of_type(template, FUNCTION).items()
    }


def arn_target(value: Any) -> str | None:
    """The logical id behind `!GetAtt X.Arn`, else None (a queue's !Ref is its URL, not its ARN)."""
    if not (isinstance(value, dict) and "Fn::GetAtt" in value):
        return None
    target = value["Fn::GetAtt"]
    parts = target.split(".", 1) if isinstance(target, str) else target
    return str(parts[0]) if len(parts) == 2 and parts[1] == "Arn" else None


def literal_int(value: Any) -> int | None:
    """An integer written literally in the template (int or digit string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def sqs_consumers(template: Template) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Queue logical id -> [(function logical id, SQS event properties)] for every SQS event source."""
    consumers: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, props in functions(template).items():
        for event in props.get("Events", {}).values():
            if event.get("Type") == "SQS":
                queue = arn_target(event.get("Properties", {}).get("Queue"))
                consumers.setdefault(queue or "<unresolved>", []).append((name, event.get("Properties", {})))
    return consumers


def queue_redrive_problems(name: str, queue: dict[str, Any], queues: dict[str, Any]) -> list[str]:
    """What is wrong with a work queue's dead-letter wiring."""
    redrive = queue.get("Properties", {}).get("RedrivePolicy")
    if not isinstance(redrive, dict):
        return [f"{name}: no RedrivePolicy (every work queue needs a dead-letter queue)"]
    problems = []
    if literal_int(redrive.get("maxReceiveCount")) != 5:
        problems.append(f"{name}: RedrivePolicy.maxReceiveCount is {redrive.get('maxReceiveCount')!r}, expected 5")
    if arn_target(redrive.get("deadLetterTargetArn")) not in queues:
        problems.append(f"{name}: deadLetterTargetArn must be !GetAtt <a queue of this template>.Arn")
    return problems


def queue_consumer_problems(
    name: str, queue: dict[str, Any], consumers: list[tuple[str, dict[str, Any]]], all_functions: dict[str, Any]
) -> list[str]:
    """What is wrong between a queue and the functions consuming it."""
    problems = []
    raw_visibility = queue.get("Properties", {}).get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY_TIMEOUT_S)
    visibility = literal_int(raw_visibility)
    for function_name, event in consumers:
        if "ReportBatchItemFailures" not in event.get("FunctionResponseTypes", []):
            problems.append(f"{function_name}: SQS event on {name} lacks FunctionResponseTypes ReportBatchItemFailures")
        timeout = literal_int(all_functions.get(function_name, {}).get("Timeout", LAMBDA_DEFAULT_TIMEOUT_S))
        if visibility is None or timeout is None:
            problems.append(f"{name}/{function_name}: VisibilityTimeout and Timeout must be literal numbers")
        elif visibility < 6 * timeout:
            problems.append(f"{name}: VisibilityTimeout {visibility}s < 6 x {function_name} Timeout {timeout}s")
    return problems


def sqs_problems(template: Template) -> list[str]:
    """Every broken promise of the template's SQS queues (dead-letter queues themselves are exempt)."""
    queues = resources_of_type(template, QUEUE)
    dead_letter = (
        {
            arn_target(q["Properties"]["RedrivePolicy"].get("deadLetterTargetArn"))
            for q in queues.values()
            if isinstance(q.get("Properties", {}).get("RedrivePolicy"), dict)
        }
        | {
            # A function's own dead-letter queue (failed asynchronous invocations, e.g. S3 events) is one too.
            arn_target((fn.get("DeadLetterQueue") or {}).get("TargetArn"))
            for fn in functions(template).values()
        }
        | {
            # So is a schedule's (deliveries that failed every retry).
            arn_target((event.get("Properties", {}).get("DeadLetterConfig") or {}).get("Arn"))
            for fn in functions(template).values()
            for event in fn.get("Events", {}).values()
        }
    )
    consumers = sqs_consumers(template)
    all_functions = functions(template)
    problems = [
        f"{fn}: SQS event whose Queue is not !GetAtt <queue>.Arn" for fn, _ in consumers.get("<unresolved>", [])
    ]
    for name, queue in queues.items():
        if name in dead_letter:
            continue
        problems += queue_redrive_problems(name, queue, queues)
        problems += queue_consumer_problems(name, queue, consumers.get(name, []), all_functions)
    return problems


def top_level_names(path: Path) -> set[str]:
    """Names a module defines at top level (functions, classes, assignments), read without importing it."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(TEMPLATE_PATH)


def test_template_is_sam(template: Template) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert set(functions(template)) >= {"ApiFunction", "DbMigrateFunction"}


def test_every_function_runs_python313_on_arm64_through_globals(template: Template) -> None:
    assert template["Globals"]["Function"]["Runtime"] == "python3.13"
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    for name, props in functions(template).items():
        assert props.get("Runtime") == "python3.13", name
        assert props.get("Architectures") == ["arm64"], name


def test_every_function_uses_the_shared_layer(template: Template) -> None:
    for name, props in functions(template).items():
        assert {"Ref": "SharedLayer"} in props.get("Layers", []), name


def test_shared_layer_is_built_by_its_makefile_for_the_function_target(template: Template) -> None:
    layer = template["Resources"]["SharedLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    makefile = REPO_ROOT / layer["Properties"]["ContentUri"] / "Makefile"
    assert re.search(r"^build-SharedLayer:", makefile.read_text(), flags=re.MULTILINE), makefile


def test_every_function_code_folder_has_its_handler(template: Template) -> None:
    for name, props in functions(template).items():
        module, _, attribute = props["Handler"].rpartition(".")
        source = REPO_ROOT / props["CodeUri"] / (module.replace(".", "/") + ".py")
        assert source.is_file(), f"{name}: {source} is missing"
        assert attribute in top_level_names(source), f"{name}: {source} defines no {attribute}"


def test_health_route_is_served_by_the_rest_api(template: Template) -> None:
    assert template["Resources"]["ViralApi"]["Type"] == "AWS::Serverless::Api"
    routes = {
        (event["Properties"]["Path"], event["Properties"]["Method"].upper(), name)
        for name, props in functions(template).items()
        for event in props.get("Events", {}).values()
        if event.get("Type") == "Api" and event["Properties"].get("RestApiId") == {"Ref": "ViralApi"}
    }
    assert ("/api/health", "GET", "ApiFunction") in routes


def test_every_function_logs_to_its_own_log_group_with_retention(template: Template) -> None:
    log_groups = resources_of_type(template, "AWS::Logs::LogGroup")
    used = []
    for name, props in functions(template).items():
        target = props.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        assert target in log_groups, f"{name}: LoggingConfig.LogGroup must !Ref a log group of this template"
        assert "RetentionInDays" in log_groups[target]["Properties"], target
        used.append(target)
    assert len(used) == len(set(used)), "functions share a log group"


def test_pool_mode_values_are_strings(template: Template) -> None:
    # An unquoted YAML `null` would silently become a missing value.
    assert template["Parameters"]["DbPoolMode"]["AllowedValues"] == ["pooled", "null"]


def test_every_sqs_queue_has_a_dead_letter_queue_and_a_safe_visibility_timeout(template: Template) -> None:
    assert sqs_problems(template) == []


def _queue_template(*, max_receive: Any = 5, visibility: Any = 90, report_failures: bool = True) -> Template:
    """A small template with one worker queue, its DLQ and a consumer with a 15 s timeout."""
    event: dict[str, Any] = {"Queue": {"Fn::GetAtt": ["Jobs", "Arn"]}}
    if report_failures:
        event["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    return {
        "Globals": {"Function": {"Timeout": 15}},
        "Resources": {
            "JobsDlq": {"Type": QUEUE, "Properties": {}},
            "Jobs": {
                "Type": QUEUE,
                "Properties": {
                    "VisibilityTimeout": visibility,
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDlq", "Arn"]},
                        "maxReceiveCount": max_receive,
                    },
                },
            },
            "Worker": {"Type": FUNCTION, "Properties": {"Events": {"Jobs": {"Type": "SQS", "Properties": event}}}},
        },
    }


def test_sqs_check_accepts_a_correct_queue() -> None:
    assert sqs_problems(_queue_template()) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"max_receive": 3}, "maxReceiveCount"),
        ({"visibility": 89}, "VisibilityTimeout 89s < 6 x Worker Timeout 15s"),
        ({"visibility": {"Ref": "Param"}}, "must be literal"),
        ({"report_failures": False}, "ReportBatchItemFailures"),
    ],
)
def test_sqs_check_rejects_a_broken_queue(changes: dict[str, Any], expected: str) -> None:
    problems = sqs_problems(_queue_template(**changes))
    assert any(expected in problem for problem in problems), problems


def test_sqs_check_requires_a_redrive_policy_and_uses_the_consumer_own_timeout() -> None:
    broken = _queue_template()
    del broken["Resources"]["Jobs"]["Properties"]["RedrivePolicy"]
    assert any("no RedrivePolicy" in p for p in sqs_problems(broken))
    slow = _queue_template(visibility=90)
    slow["Resources"]["Worker"]["Properties"]["Timeout"] = 300
    assert any("< 6 x Worker Timeout 300s" in p for p in sqs_problems(slow))


# --- production readiness: alarms, least privilege, network, capacity, SnapStart, migrations -------------------

ALARM = "AWS::CloudWatch::Alarm"
# Connections one execution environment may hold (tests/unit/test_db_connect.py and the engine's pool_size=1);
# the authorizer keeps its key-lookup connection beside the engine Clerk sign-ins use.
CONNECTIONS_PER_ENVIRONMENT = {"AuthorizerFunction": 2}
# Connections left for operators (psql), monitoring and a deploy's migration overlapping a running one.
OPERATOR_HEADROOM = 5


def dead_letter_queues(template: Template) -> set[str]:
    """Every queue something dead-letters into: redrive targets, functions' async DLQs, schedules' DLQs."""
    found = set()
    for queue in resources_of_type(template, QUEUE).values():
        redrive = queue.get("Properties", {}).get("RedrivePolicy")
        if isinstance(redrive, dict):
            found.add(arn_target(redrive.get("deadLetterTargetArn")))
    for fn in functions(template).values():
        found.add(arn_target((fn.get("DeadLetterQueue") or {}).get("TargetArn")))
        for event in fn.get("Events", {}).values():
            found.add(arn_target((event.get("Properties", {}).get("DeadLetterConfig") or {}).get("Arn")))
    found.discard(None)
    return {name for name in found if name is not None}


def alarms_on(template: Template, namespace: str, metric: str) -> list[dict[str, Any]]:
    return [
        alarm["Properties"]
        for alarm in resources_of_type(template, ALARM).values()
        if alarm["Properties"].get("Namespace") == namespace and alarm["Properties"].get("MetricName") == metric
    ]


def dimension(alarm: dict[str, Any], name: str) -> Any:
    return next((d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == name), None)


def notifies_the_topic(alarm: dict[str, Any]) -> bool:
    return {"Ref": "AlarmTopic"} in alarm.get("AlarmActions", [])


def test_every_dead_letter_queue_has_an_alarm_on_any_message(template: Template) -> None:
    dlqs = dead_letter_queues(template)
    assert len(dlqs) >= 6
    watched = {
        dimension(alarm, "QueueName")["Fn::GetAtt"][0]: alarm
        for alarm in alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    }
    for queue in dlqs:
        assert queue in watched, f"{queue}: no depth alarm"
        alarm = watched[queue]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold"), queue
        assert notifies_the_topic(alarm), queue


@pytest.mark.parametrize("metric", ["Errors", "Throttles", "Duration"])
def test_every_function_has_an_alarm_per_metric(template: Template, metric: str) -> None:
    by_function = {dimension(a, "FunctionName")["Ref"]: a for a in alarms_on(template, "AWS/Lambda", metric)}
    for name, props in functions(template).items():
        assert name in by_function, f"{name}: no {metric} alarm"
        alarm = by_function[name]
        assert notifies_the_topic(alarm), name
        if metric == "Duration":  # above 80% of the function's own timeout
            timeout_ms = 1000 * literal_int(props.get("Timeout", LAMBDA_DEFAULT_TIMEOUT_S))  # type: ignore[operator]
            assert (alarm["Statistic"], alarm["Threshold"]) == ("Maximum", 0.8 * timeout_ms), name
        else:
            assert alarm["Threshold"] == 0, name


def test_api_errors_latency_async_failures_and_schedule_deliveries_are_alarmed(template: Template) -> None:
    api = {"Ref": "Stage"}
    assert any(dimension(a, "Stage") == api for a in alarms_on(template, "AWS/ApiGateway", "5XXError"))
    [latency] = alarms_on(template, "AWS/ApiGateway", "Latency")
    assert latency["ExtendedStatistic"] == "p90"
    dropped = {dimension(a, "FunctionName")["Ref"] for a in alarms_on(template, "AWS/Lambda", "AsyncEventsDropped")}
    s3_triggered = {
        n for n, p in functions(template).items() if any(e["Type"] == "S3" for e in p.get("Events", {}).values())
    }
    assert s3_triggered and s3_triggered <= dropped
    for metric in ("InvocationDroppedCount", "InvocationsSentToDeadLetterCount"):
        [alarm] = alarms_on(template, "AWS/Scheduler", metric)
        assert dimension(alarm, "ScheduleGroup") == {"Ref": "ScheduleGroup"}
    for alarm in resources_of_type(template, ALARM).values():
        assert notifies_the_topic(alarm["Properties"])
    assert template["Resources"]["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"


def _statements(value: Any) -> list[dict[str, Any]]:
    """Every IAM statement inside a value, including both branches of an Fn::If."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if "Effect" in value and ("Action" in value or "NotAction" in value):
            found.append(value)
        for item in value.values():
            found += _statements(item)
    elif isinstance(value, list):
        for item in value:
            found += _statements(item)
    return found


def our_statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    """The Allow statements this template writes itself: functions' inline policies, roles and managed policies."""
    found = []
    for name, props in functions(template).items():
        found += [(name, s) for s in _statements(props.get("Policies", []))]
    for kind in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy"):
        for name, resource in resources_of_type(template, kind).items():
            props = resource["Properties"]
            found += [(name, s) for s in _statements([props.get("Policies", []), props.get("PolicyDocument", {})])]
    return [(name, s) for name, s in found if s["Effect"] == "Allow" and "Service" not in str(s.get("Principal"))]


def _texts(resource: Any) -> list[str]:
    """The literal text of a Resource: plain strings and Fn::Sub templates."""
    items = resource if isinstance(resource, list) else [resource]
    texts = []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict) and "Fn::Sub" in item:
            sub = item["Fn::Sub"]
            texts.append(sub if isinstance(sub, str) else sub[0])
    return texts


def test_no_wildcard_resource_in_our_own_statements(template: Template) -> None:
    statements = our_statements(template)
    assert len(statements) > 20
    for name, statement in statements:
        assert "Resource" in statement, f"{name}: {statement}"
        for text in _texts(statement["Resource"]):
            assert text != "*" and not text.endswith(":*"), f"{name}: wildcard resource in {statement}"
            if ":secret:" in text:
                # Secrets Manager adds "-" and 6 characters to a name: "-*" would also match sibling secrets.
                assert text.endswith("-??????") and ":secret:${" in text, f"{name}: {text}"


def test_no_function_gets_the_account_wide_sqs_consumer_policy(template: Template) -> None:
    consumers = {fn for queue in sqs_consumers(template).values() for fn, _ in queue}
    assert consumers
    for name in consumers:
        props = functions(template)[name]
        role = props.get("Role", {}).get("Fn::GetAtt", [None])[0]
        assert role in template["Resources"], f"{name}: needs its own role (SAM's adds AWSLambdaSQSQueueExecutionRole)"
        queue_statements = [
            s for s in _statements(template["Resources"][role]["Properties"]) if "sqs:ReceiveMessage" in s["Action"]
        ]
        [queue_of_event] = [
            arn_target(e["Properties"]["Queue"]) for e in props["Events"].values() if e["Type"] == "SQS"
        ]
        assert [arn_target(s["Resource"]) for s in queue_statements] == [queue_of_event], name
    assert "AWSLambdaSQSQueueExecutionRole" not in json.dumps(template)


def test_a_customer_managed_key_is_decryptable_only_through_secrets_manager(template: Template) -> None:
    for policy in ("DatabaseRuntimeAccessPolicy", "DatabaseMigrationAccessPolicy"):
        [kms] = [s for s in _statements(template["Resources"][policy]["Properties"]) if s["Action"] == "kms:Decrypt"]
        assert kms["Resource"] == {"Ref": "SecretsKmsKeyArn"}
        assert "kms:ViaService" in kms["Condition"]["StringEquals"]


def test_functions_run_in_the_vpc_when_its_parameters_are_set(template: Template) -> None:
    assert template["Conditions"]["InVpc"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": [",", {"Ref": "VpcSubnetIds"}]}, ""]}]
    }
    assert template["Globals"]["Function"]["VpcConfig"] == {
        "Fn::If": [
            "InVpc",
            {"SubnetIds": {"Ref": "VpcSubnetIds"}, "SecurityGroupIds": {"Ref": "VpcSecurityGroupIds"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    for name, resource in resources_of_type(template, FUNCTION).items():
        assert "VpcConfig" not in resource["Properties"], f"{name} overrides the VPC placement"
    endpoints = resources_of_type(template, "AWS::EC2::VPCEndpoint")
    assert {e["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1] for e in endpoints.values()} == {
        "secretsmanager",
        "sqs",
        "s3",
    }
    assert {e["Condition"] for e in endpoints.values()} == {"CreateVpcEndpoints"}
    assert {"Condition": "InVpc"} in template["Conditions"]["CreateVpcEndpoints"]["Fn::And"]


@pytest.mark.parametrize("name", ["ApiFunction", "AuthorizerFunction"])
def test_snapstart_on_the_http_functions(template: Template, name: str) -> None:
    props = template["Resources"][name]["Properties"]
    assert props["AutoPublishAlias"]
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}


def test_the_gateway_calls_the_published_authorizer(template: Template) -> None:
    authorizer = template["Resources"]["ViralApi"]["Properties"]["Auth"]["Authorizers"]["ViralAuthorizer"]
    assert authorizer["FunctionArn"] == {"Ref": "AuthorizerFunction.Alias"}


def test_only_the_migration_function_holds_the_schema_owner_secret(template: Template) -> None:
    migrate = functions(template)["DbMigrateFunction"]
    assert migrate["Environment"]["Variables"]["DB_SECRET_NAME"] == {"Ref": "DatabaseMigrationSecretName"}
    assert migrate["Policies"] == [{"Ref": "DatabaseMigrationAccessPolicy"}]
    assert template["Globals"]["Function"]["Environment"]["Variables"]["DB_SECRET_NAME"] == {
        "Ref": "DatabaseSecretName"
    }
    migration_secret = json.dumps(template["Resources"]["DatabaseMigrationAccessPolicy"])
    assert "${DatabaseMigrationSecretName}-??????" in migration_secret
    for name, props in functions(template).items():
        if name == "DbMigrateFunction":
            continue
        role = props.get("Role", {}).get("Fn::GetAtt", [None])[0]
        granted = json.dumps([props.get("Policies", []), template["Resources"].get(role, {})])
        assert "DatabaseMigration" not in granted and "DatabaseMigration" not in json.dumps(props), name
        assert "DatabaseRuntimeAccessPolicy" in granted, f"{name}: cannot read the runtime login"


def test_migrations_run_on_every_deploy_through_a_custom_resource(template: Template) -> None:
    migration = template["Resources"]["DatabaseMigration"]
    assert migration["Type"] == "Custom::DatabaseMigration"
    assert migration["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["DbMigrateFunction", "Arn"]}
    assert "BuildId" in migration["Properties"]  # stamped by `make build`, so every built deploy updates it
    assert literal_int(migration["Properties"]["ServiceTimeout"]) > literal_int(  # type: ignore[operator]
        functions(template)["DbMigrateFunction"]["Timeout"]
    )


def reserved_concurrency(template: Template, name: str, budget: str) -> int:
    value = functions(template)[name].get("ReservedConcurrentExecutions")
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        mapping, key, attribute = value["Fn::FindInMap"]
        assert key == {"Ref": "DatabaseConnectionBudget"}
        value = template["Mappings"][mapping][budget][attribute]
    reserved = literal_int(value)
    assert reserved is not None and reserved > 0, f"{name}: no reserved concurrency"
    return reserved


def test_reserved_concurrency_stays_within_the_connection_budget(template: Template) -> None:
    budgets = template["Parameters"]["DatabaseConnectionBudget"]["AllowedValues"]
    assert template["Parameters"]["DatabaseConnectionBudget"]["Default"] in budgets
    for budget in budgets:
        connections = {
            name: reserved_concurrency(template, name, budget) * CONNECTIONS_PER_ENVIRONMENT.get(name, 1)
            for name in functions(template)
        }
        assert sum(connections.values()) + OPERATOR_HEADROOM <= int(budget), (budget, connections)


def budgets(template: Template) -> list[str]:
    return list(template["Parameters"]["DatabaseConnectionBudget"]["AllowedValues"])


def test_sqs_consumers_may_run_as_many_workers_as_their_event_source_sends(template: Template) -> None:
    for queue, consumers in sqs_consumers(template).items():
        for name, event in consumers:
            maximum = event["ScalingConfig"]["MaximumConcurrency"]
            assert reserved_concurrency(template, name, min(budgets(template), key=int)) >= maximum, (
                f"{name} on {queue} would be throttled"
            )


def test_rds_proxy_means_null_pool_and_the_proxy_endpoint(template: Template) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["DB_POOL_MODE"] == {"Fn::If": ["UseRdsProxy", "null", {"Ref": "DbPoolMode"}]}
    assert variables["DB_HOST"] == {
        "Fn::If": ["UseRdsProxy", {"Ref": "DatabaseProxyEndpoint"}, {"Ref": "DatabaseHost"}]
    }
    assert variables["DB_SSL_ROOT_CERT"] == {"Ref": "DatabaseCaBundle"}


def test_every_queue_states_its_retention_and_deletion_policy(template: Template) -> None:
    for name, queue in resources_of_type(template, QUEUE).items():
        assert {queue.get("DeletionPolicy"), queue.get("UpdateReplacePolicy")} <= {"Delete", "Retain"}, name
        assert queue.get("DeletionPolicy") and queue.get("UpdateReplacePolicy"), name
        assert literal_int(queue["Properties"].get("MessageRetentionPeriod")), name


def test_upload_events_have_a_dead_letter_queue_of_their_own(template: Template) -> None:
    redrive_targets = {
        arn_target(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for q in resources_of_type(template, QUEUE).values()
        if "RedrivePolicy" in q["Properties"]
    }
    async_targets = [
        arn_target(fn["DeadLetterQueue"]["TargetArn"]) for fn in functions(template).values() if "DeadLetterQueue" in fn
    ]
    assert len(async_targets) == len(set(async_targets)), "two functions share an async dead-letter queue"
    assert not set(async_targets) & redrive_targets, "S3 events would be redriven into a work queue"


def test_every_schedule_retries_then_dead_letters_in_the_stack_group(template: Template) -> None:
    schedules = [
        e["Properties"]
        for fn in functions(template).values()
        for e in fn.get("Events", {}).values()
        if e["Type"] == "ScheduleV2"
    ]
    assert len(schedules) >= 4
    for schedule in schedules:
        assert schedule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert arn_target(schedule["DeadLetterConfig"]["Arn"]) == "ScheduleDeadLetterQueue"
        assert schedule["GroupName"] == {"Ref": "ScheduleGroup"}


def test_the_api_stage_is_throttled_logged_and_optionally_behind_waf(template: Template) -> None:
    api = template["Resources"]["ViralApi"]["Properties"]
    [everything] = api["MethodSettings"]
    assert everything["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert everything["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    plan = template["Resources"]["ApiUsagePlan"]["Properties"]
    assert plan["ApiStages"][0]["ApiId"] == {"Ref": "ViralApi"}
    acl = template["Resources"]["ApiWebAcl"]
    assert acl["Condition"] == "UseWebAcl"
    groups = [r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in acl["Properties"]["Rules"]]
    assert "AWSManagedRulesCommonRuleSet" in groups


def test_a_custom_domain_base_path_is_stripped_by_the_functions(template: Template) -> None:
    mapping = template["Resources"]["ApiBasePathMapping"]
    assert mapping["Condition"] == "HasCustomDomain"
    assert mapping["Properties"]["BasePath"] == {"Ref": "ApiBasePath"}
    assert template["Globals"]["Function"]["Environment"]["Variables"]["API_BASE_PATH"] == {"Ref": "ApiBasePath"}


def test_the_prod_profile_names_every_parameter_a_production_deploy_needs(template: Template) -> None:
    import shlex
    import tomllib

    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    given = config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    overrides = given if isinstance(given, dict) else dict(item.split("=", 1) for item in shlex.split(given))
    parameters = template["Parameters"]
    required = {name for name, p in parameters.items() if "Default" not in p}
    # Their defaults are local ones: a production deploy left with them would be broken or insecure.
    production = {
        "DashboardUrl",
        "DashboardOrigin",
        "ClerkJwtKey",
        "ClerkAuthorizedParties",
        "ClerkWebhookSecretName",
        "StripeSecretName",
        "StripePriceStarter",
        "StripePricePro",
        "StripePriceAgency",
        "DatabaseCaBundle",
        "DatabaseConnectionBudget",
        "AlarmEmail",
    }
    assert required | production <= set(overrides), sorted((required | production) - set(overrides))
    assert set(overrides) <= set(parameters), sorted(set(overrides) - set(parameters))
    assert overrides["Stage"] == "prod"
    assert not overrides["DashboardUrl"].startswith("http://localhost")


@pytest.mark.parametrize("profile", ["default", "dev"])
def test_every_profile_names_the_parameters_without_default(template: Template, profile: str) -> None:
    import shlex
    import tomllib

    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    given = config[profile]["deploy"]["parameters"]["parameter_overrides"]
    overrides = given if isinstance(given, dict) else dict(item.split("=", 1) for item in shlex.split(given))
    required = {name for name, p in template["Parameters"].items() if "Default" not in p}
    assert required <= set(overrides), sorted(required - set(overrides))

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
    dead_letter = {
        arn_target(q["Properties"]["RedrivePolicy"].get("deadLetterTargetArn"))
        for q in queues.values()
        if isinstance(q.get("Properties", {}).get("RedrivePolicy"), dict)
    } | {
        # A function's own dead-letter queue (failed asynchronous invocations, e.g. S3 events) is one too.
        arn_target((fn.get("DeadLetterQueue") or {}).get("TargetArn"))
        for fn in functions(template).values()
    }
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

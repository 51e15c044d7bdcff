"""Schedules on one machine: read from the template, fired on time with the scheduler's event, or fired now."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest

from local.apigw import HttpRequest, HttpResponse
from local.schedules import Scheduler, ScheduleSpec, schedule_event, schedules_from
from local.server import LocalControl
from local.stack import LocalStack, StackResolver
from local.template import FunctionSpec, SamTemplate
from tests.events import load_event

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = textwrap.dedent(
    """
    Resources:
      DailyFunction:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: functions/daily/
          Handler: app.handler
          Events:
            Daily:
              Type: ScheduleV2
              Properties:
                ScheduleExpression: cron(0 8 * * ? *)
                ScheduleExpressionTimezone: Europe/Paris
      ReportFunction:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: functions/report/
          Handler: app.handler
          Events:
            Hourly:
              Type: Schedule
              Properties:
                Schedule: rate(1 hour)
                Input: '{"report": "hourly"}'
            Paused:
              Type: ScheduleV2
              Properties:
                Name: paused-report
                ScheduleExpression: rate(5 minutes)
                State: DISABLED
            Often:
              Type: ScheduleV2
              Properties:
                ScheduleExpression: rate(10 minutes)
    """
)
START = datetime(2026, 11, 24, 6, 59, 30, tzinfo=UTC)  # 07:59:30 in Paris


class FakeFunction:
    def __init__(self, logical_id: str, answer: Any = None) -> None:
        self.answer = answer
        self.events: list[Any] = []
        self.spec = FunctionSpec(logical_id=logical_id, code_uri=Path("functions/x"), handler="app.handler")

    @property
    def name(self) -> str:
        return self.spec.logical_id

    def invoke(self, event: Any, *, request_id: str | None = None) -> Any:
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def schedules() -> list[ScheduleSpec]:
    template = SamTemplate.parse(TEMPLATE, root=REPO_ROOT)
    return schedules_from(template, StackResolver(template, LocalStack()))


@pytest.fixture
def functions() -> dict[str, FakeFunction]:
    return {
        "DailyFunction": FakeFunction("DailyFunction", {"enqueued": 1}),
        "ReportFunction": FakeFunction("ReportFunction", {"ok": True}),
    }


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def scheduler(schedules: list[ScheduleSpec], functions: dict[str, FakeFunction], clock: Clock) -> Scheduler:
    return Scheduler(schedules, functions, region="us-east-1", account="123456789012", clock=clock)


def test_schedules_come_from_schedule_and_schedule_v2_events(schedules: list[ScheduleSpec]) -> None:
    assert [(s.label, s.type, s.expression, s.timezone, s.enabled, s.name) for s in schedules] == [
        (
            "DailyFunction.Daily",
            "ScheduleV2",
            "cron(0 8 * * ? *)",
            "Europe/Paris",
            True,
            "viral-local-DailyFunctionDaily",
        ),
        ("ReportFunction.Hourly", "Schedule", "rate(1 hour)", "UTC", True, "viral-local-ReportFunctionHourly"),
        ("ReportFunction.Paused", "ScheduleV2", "rate(5 minutes)", "UTC", False, "paused-report"),
        ("ReportFunction.Often", "ScheduleV2", "rate(10 minutes)", "UTC", True, "viral-local-ReportFunctionOften"),
    ]


def test_event_has_the_shape_of_the_sample_scheduler_event(schedules: list[ScheduleSpec]) -> None:
    at = datetime(2026, 11, 24, 8, 0, 0, 500, tzinfo=UTC)
    event = schedule_event(schedules[0], at=at, region="us-east-1", account="123456789012")
    sample = load_event("schedule_daily_generate")
    assert set(event) == set(sample)
    assert {k: event[k] for k in ("version", "detail-type", "source", "account", "region", "detail")} == {
        k: sample[k] for k in ("version", "detail-type", "source", "account", "region", "detail")
    }
    assert event["time"] == "2026-11-24T08:00:00Z"
    assert event["resources"] == [
        "arn:aws:scheduler:us-east-1:123456789012:schedule/default/viral-local-DailyFunctionDaily"
    ]


def test_a_rule_schedule_with_input_sends_the_input(schedules: list[ScheduleSpec]) -> None:
    assert schedule_event(schedules[1], at=START, region="us-east-1", account="1") == {"report": "hourly"}


def test_a_schedule_fires_its_own_function_when_its_time_comes(
    schedules: list[ScheduleSpec], functions: dict[str, FakeFunction]
) -> None:
    runner = scheduler(schedules[:2], functions, Clock(START))
    runner.plan(START)
    paris_eight = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    try:
        assert runner.next_fire == {
            "DailyFunction.Daily": paris_eight,
            "ReportFunction.Hourly": START + timedelta(hours=1),  # a rule's rate: one period after it starts
        }
        assert runner.tick(paris_eight - timedelta(seconds=1)) == []
        assert [s.label for s in runner.tick(paris_eight)] == ["DailyFunction.Daily"]
        assert runner.next_fire["DailyFunction.Daily"] == paris_eight + timedelta(days=1)
    finally:
        runner.stop()  # waits for the fired invocations
    [event] = functions["DailyFunction"].events
    assert event["time"] == "2026-11-24T07:00:00Z"
    assert functions["ReportFunction"].events == []


def test_a_scheduler_rate_schedule_starts_at_once_and_skips_missed_runs(
    schedules: list[ScheduleSpec], functions: dict[str, FakeFunction]
) -> None:
    runner = scheduler(schedules[2:], functions, Clock(START))  # Paused (disabled) and Often
    runner.plan(START)
    try:
        assert runner.next_fire == {"ReportFunction.Paused": None, "ReportFunction.Often": START}
        assert [s.label for s in runner.tick(START)] == ["ReportFunction.Often"]
        assert runner.next_fire["ReportFunction.Often"] == START + timedelta(minutes=10)
        asleep_until = START + timedelta(minutes=35)
        assert [s.label for s in runner.tick(asleep_until)] == ["ReportFunction.Often"]  # once, not three times
        assert runner.next_fire["ReportFunction.Often"] == asleep_until + timedelta(minutes=10)
    finally:
        runner.stop()
    assert len(functions["ReportFunction"].events) == 2


def test_the_scheduler_thread_fires_due_schedules(
    schedules: list[ScheduleSpec], functions: dict[str, FakeFunction]
) -> None:
    runner = scheduler(schedules[3:], functions, Clock(START))  # Often: due at once
    runner.start()
    runner.stop()
    assert [event["source"] for event in functions["ReportFunction"].events] == ["aws.scheduler"]


@pytest.mark.parametrize("name", ["DailyFunction", "Daily", "DailyFunction.Daily", "dailyfunctiondaily"])
def test_fire_now_finds_a_schedule_by_function_or_event_name(
    schedules: list[ScheduleSpec], functions: dict[str, FakeFunction], name: str
) -> None:
    answer = scheduler(schedules, functions, Clock(START)).fire_now(name)
    assert (answer["schedule"], answer["function"], answer["result"]) == (
        "DailyFunction.Daily",
        "DailyFunction",
        {"enqueued": 1},
    )
    assert functions["DailyFunction"].events[0]["source"] == "aws.scheduler"


def request(method: str, path: str, source_ip: str = "127.0.0.1") -> HttpRequest:
    return HttpRequest(method=method, target=path, source_ip=source_ip)


def body(response: HttpResponse) -> Any:
    return json.loads(response.body)


def test_fire_endpoint_answers_with_the_function_result(
    schedules: list[ScheduleSpec], functions: dict[str, FakeFunction]
) -> None:
    runner = scheduler(schedules, functions, Clock(START))
    response = runner.handle(request("POST", "/_local/schedules/DailyFunction/fire"))
    assert response.status == HTTPStatus.OK
    assert body(response)["result"] == {"enqueued": 1}


def test_fire_endpoint_errors(schedules: list[ScheduleSpec], functions: dict[str, FakeFunction]) -> None:
    functions["DailyFunction"].answer = RuntimeError("database down")
    runner = scheduler(schedules, functions, Clock(START))
    unknown = runner.handle(request("POST", "/_local/schedules/Nope/fire"))
    assert unknown.status == HTTPStatus.NOT_FOUND
    assert "DailyFunction.Daily" in body(unknown)["details"]["schedules"]
    ambiguous = runner.handle(request("POST", "/_local/schedules/ReportFunction/fire"))
    assert ambiguous.status == HTTPStatus.CONFLICT
    failed = runner.handle(request("POST", "/_local/schedules/Daily/fire"))
    assert failed.status == HTTPStatus.BAD_GATEWAY
    assert body(failed)["details"] == {"errorType": "RuntimeError", "errorMessage": "database down"}
    assert runner.handle(request("GET", "/_local/schedules/Daily/fire")).status == HTTPStatus.METHOD_NOT_ALLOWED
    assert runner.handle(request("POST", "/_local/schedules/Daily/run")).status == HTTPStatus.NOT_FOUND


def test_schedule_listing(schedules: list[ScheduleSpec], functions: dict[str, FakeFunction]) -> None:
    response = scheduler(schedules, functions, Clock(START)).handle(request("GET", "/_local/schedules"))
    assert response.status == HTTPStatus.OK
    assert [s["name"] for s in body(response)["schedules"]] == [s.label for s in schedules]


class Gateway:
    def __init__(self) -> None:
        self.requests: list[HttpRequest] = []

    def handle(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        return HttpResponse(200, [], b"api")


@pytest.mark.parametrize("source_ip", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_local_routes_serve_callers_on_this_machine(source_ip: str) -> None:
    gateway, local = Gateway(), Gateway()
    control = LocalControl(gateway, {"/_local/schedules": local})
    assert control.handle(request("GET", "/_local/schedules", source_ip)).body == b"api"
    assert local.requests and not gateway.requests


@pytest.mark.parametrize("source_ip", ["192.168.1.20", "10.0.0.1", "not-an-ip"])
def test_local_routes_refuse_other_machines(source_ip: str) -> None:
    control = LocalControl(Gateway(), {"/_local/schedules": Gateway()})
    assert control.handle(request("POST", "/_local/schedules/x/fire", source_ip)).status == HTTPStatus.FORBIDDEN


def test_other_paths_go_to_the_api_and_unknown_local_paths_are_not_found() -> None:
    gateway = Gateway()
    control = LocalControl(gateway, {"/_local/schedules": Gateway()})
    assert control.handle(request("GET", "/api/health")).body == b"api"
    assert control.handle(request("GET", "/_localx")).body == b"api"
    assert control.handle(request("GET", "/_local/queues")).status == HTTPStatus.NOT_FOUND
    assert [r.path for r in gateway.requests] == ["/api/health", "/_localx"]

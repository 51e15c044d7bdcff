"""EventBridge schedules on one machine: every `ScheduleV2` / `Schedule` event fires its function on time.

A `ScheduleV2` event (EventBridge Scheduler) is evaluated in its ScheduleExpressionTimezone; a `Schedule` event
(an EventBridge rule) in UTC. The function gets the event's Input if it has one, else a "Scheduled Event" as in
events/schedule_daily_generate.json. `fire_now` (behind `POST /_local/schedules/<name>/fire`, see local.fire)
runs one at once, whatever its time. A failed invocation is logged, not retried.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from local.apigw import HttpRequest, HttpResponse, error_response
from local.cron import Rate, Trigger, parse_schedule
from local.pollers import Function
from local.stack import StackResolver, Unresolvable
from local.template import FunctionEvent, SamTemplate

log = logging.getLogger("local.schedules")

SCHEDULE_TYPES = ("ScheduleV2", "Schedule")
MAX_WAIT_S = 30.0  # re-read the clock at least this often (the machine may sleep, the clock may be set)
CONTROL_PATH = "/_local/schedules"
# The properties read locally (RetryPolicy, FlexibleTimeWindow, DeadLetterConfig, RoleArn... are not).
_READ = frozenset(
    {
        "ScheduleExpression",
        "Schedule",
        "ScheduleExpressionTimezone",
        "State",
        "Enabled",
        "Name",
        "Input",
        "StartDate",
        "EndDate",
    }
)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule event of a function."""

    function_id: str
    event_name: str
    type: str  # "ScheduleV2" (EventBridge Scheduler) or "Schedule" (an EventBridge rule)
    expression: str
    timezone: str
    name: str  # the schedule's (or rule's) name
    enabled: bool = True
    input: str | None = None  # the event's Input: the JSON the function gets instead of the default event
    start: datetime | None = None
    end: datetime | None = None

    @property
    def label(self) -> str:
        return f"{self.function_id}.{self.event_name}"

    def matches(self, name: str) -> bool:
        """Named by its function, its event name, Function.Event, SAM's FunctionEvent logical id or its own name."""
        wanted = name.strip().lower()
        aliases = {self.function_id, self.event_name, self.label, f"{self.function_id}{self.event_name}", self.name}
        return wanted in {alias.lower() for alias in aliases}

    def arn(self, region: str, account: str) -> str:
        if self.type == "ScheduleV2":
            return f"arn:aws:scheduler:{region}:{account}:schedule/default/{self.name}"
        return f"arn:aws:events:{region}:{account}:rule/{self.name}"


def schedules_from(template: SamTemplate, resolver: StackResolver) -> list[ScheduleSpec]:
    """Every schedule event of the template's functions."""
    return [_schedule(event, resolver) for event in template.function_events(*SCHEDULE_TYPES)]


def _schedule(event: FunctionEvent, resolver: StackResolver) -> ScheduleSpec:
    where = f"{event.function.logical_id}.{event.name}"
    properties = event.properties
    try:
        resolved = {key: resolver.resolve(value) for key, value in properties.items() if key in _READ}
    except Unresolvable as error:
        raise ValueError(f"{where}: {error}") from error
    v2 = event.type == "ScheduleV2"
    expression = resolved.get("ScheduleExpression" if v2 else "Schedule")
    if not isinstance(expression, str):
        raise ValueError(f"{where}: no schedule expression")
    state = str(resolved.get("State", "ENABLED")).upper()
    enabled = state != "DISABLED" and str(resolved.get("Enabled", True)).lower() != "false"
    given_input = resolved.get("Input")
    return ScheduleSpec(
        function_id=event.function.logical_id,
        event_name=event.name,
        type=event.type,
        expression=expression,
        timezone=str(resolved.get("ScheduleExpressionTimezone") or "UTC") if v2 else "UTC",
        name=str(resolved.get("Name") or f"{resolver.stack.name}-{event.function.logical_id}{event.name}"),
        enabled=enabled,
        input=None if given_input is None else str(given_input),
        start=_moment(resolved.get("StartDate")) if v2 else None,
        end=_moment(resolved.get("EndDate")) if v2 else None,
    )


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def schedule_event(spec: ScheduleSpec, *, at: datetime, region: str, account: str) -> Any:
    """What the function receives: its Input, or the scheduler's "Scheduled Event"."""
    if spec.input is not None:
        return json.loads(spec.input)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler" if spec.type == "ScheduleV2" else "aws.events",
        "account": account,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [spec.arn(region, account)],
        "detail": {},
    }


class UnknownSchedule(LookupError):
    pass


class AmbiguousSchedule(LookupError):
    pass


class Scheduler:
    """The `schedules` service: one thread that fires each enabled schedule when its time comes."""

    name = "schedules"

    def __init__(
        self,
        schedules: Sequence[ScheduleSpec],
        functions: Mapping[str, Function],
        *,
        region: str,
        account: str,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.schedules = list(schedules)
        self.functions = functions
        self.region = region
        self.account = account
        self.clock = clock
        self.triggers: dict[str, Trigger] = {}
        self.problems: dict[str, str] = {}  # label -> why it does not fire on time
        for spec in self.schedules:
            try:
                self.triggers[spec.label] = parse_schedule(spec.expression, spec.timezone)
            except ValueError as error:
                self.problems[spec.label] = str(error)
        self.next_fire: dict[str, datetime | None] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self.plan(self.clock())
        self._thread = threading.Thread(target=self._run, name="local-schedules", daemon=True)
        self._thread.start()

    def plan(self, now: datetime) -> None:
        """Work out each schedule's first run after `now`; `tick` fires them (start() runs it on a thread)."""
        with self._lock:
            self.next_fire = {spec.label: self._first(spec, now) for spec in self.schedules}
        self._stopping.clear()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max(1, len(self.schedules)), thread_name_prefix="local-fire")

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # what has fired runs to its end
            self._executor = None

    def tick(self, now: datetime) -> list[ScheduleSpec]:
        """Fire (in the background) every schedule due at `now`, and work out its next time; the ones fired."""
        due: list[tuple[ScheduleSpec, datetime]] = []
        with self._lock:
            for spec in self.schedules:
                when = self.next_fire.get(spec.label)
                if when is not None and when <= now:
                    due.append((spec, when))
                    self.next_fire[spec.label] = self._following(spec, when, now)
        for spec, when in due:
            if self._executor is None:
                break
            self._executor.submit(self._fire_on_time, spec, when)
        return [spec for spec, _ in due]

    def find(self, name: str) -> ScheduleSpec:
        found = [spec for spec in self.schedules if spec.matches(name)]
        if not found:
            raise UnknownSchedule(name)
        if len(found) > 1:
            raise AmbiguousSchedule(", ".join(spec.label for spec in found))
        return found[0]

    def fire_now(self, name: str) -> dict[str, Any]:
        """Run the schedule `name` now and wait for its function; its exception propagates."""
        spec = self.find(name)
        request_id = str(uuid.uuid4())
        at = self.clock()
        event = schedule_event(spec, at=at, region=self.region, account=self.account)
        log.info("%s fired by hand (request %s)", spec.label, request_id)
        result = self.functions[spec.function_id].invoke(event, request_id=request_id)
        return {"schedule": spec.label, "function": spec.function_id, "requestId": request_id, "result": result}

    def describe(self) -> list[str]:
        lines = []
        for spec in self.schedules:
            when = self.next_fire.get(spec.label)
            if spec.label in self.problems:
                state = f"NOT FIRED ON TIME: {self.problems[spec.label]}"
            elif not spec.enabled:
                state = "disabled"
            else:
                state = f"next {when.isoformat(timespec='minutes')}" if when else "no future run"
            lines.append(f"  timer  {spec.expression} {spec.timezone}  ->  {spec.label}  ({state})")
        return lines

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "name": spec.label,
                "function": spec.function_id,
                "expression": spec.expression,
                "timezone": spec.timezone,
                "enabled": spec.enabled,
                "nextFire": when.isoformat() if (when := self.next_fire.get(spec.label)) else None,
                "problem": self.problems.get(spec.label),
            }
            for spec in self.schedules
        ]

    def handle(self, request: HttpRequest) -> HttpResponse:
        """GET /_local/schedules lists them; POST /_local/schedules/<name>/fire fires one now."""
        rest = request.path[len(CONTROL_PATH) :].strip("/")
        method = request.method.upper()
        if not rest:
            if method != "GET":
                return error_response(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed", "METHOD_NOT_ALLOWED")
            return _json(HTTPStatus.OK, {"schedules": self.listing()})
        name, _, action = rest.rpartition("/")
        if action != "fire" or not name or "/" in name:
            return error_response(HTTPStatus.NOT_FOUND, "Not found", "NOT_FOUND")
        if method != "POST":
            return error_response(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed", "METHOD_NOT_ALLOWED")
        return self._fire_response(name)

    def _fire_response(self, name: str) -> HttpResponse:
        try:
            return _json(HTTPStatus.OK, self.fire_now(name))
        except UnknownSchedule:
            known = [spec.label for spec in self.schedules]
            return _json(
                HTTPStatus.NOT_FOUND,
                {"error": f"no schedule {name!r}", "code": "NOT_FOUND", "details": {"schedules": known}},
            )
        except AmbiguousSchedule as error:
            return _json(
                HTTPStatus.CONFLICT,
                {"error": f"{name!r} names several schedules: {error}", "code": "AMBIGUOUS"},
            )
        except Exception as error:  # the function failed: local only, so say how (as `aws lambda invoke` does)
            log.exception("%s failed when fired by hand", name)
            return _json(
                HTTPStatus.BAD_GATEWAY,
                {
                    "error": "the function failed",
                    "code": "FUNCTION_ERROR",
                    "details": {"errorType": type(error).__name__, "errorMessage": str(error)},
                },
            )

    def _run(self) -> None:
        while not self._stopping.is_set():
            now = self.clock()
            self.tick(now)
            with self._lock:
                upcoming = [when for when in self.next_fire.values() if when is not None]
            wait = min([(when - now).total_seconds() for when in upcoming] + [MAX_WAIT_S])
            self._stopping.wait(max(0.05, wait))

    def _fire_on_time(self, spec: ScheduleSpec, when: datetime) -> None:
        request_id = str(uuid.uuid4())
        event = schedule_event(spec, at=when, region=self.region, account=self.account)
        try:
            self.functions[spec.function_id].invoke(event, request_id=request_id)
        except Exception:
            log.exception("%s failed (scheduled %s, request %s)", spec.label, when.isoformat(), request_id)
            return
        log.info("%s fired (scheduled %s, request %s)", spec.label, when.isoformat(), request_id)

    def _first(self, spec: ScheduleSpec, now: datetime) -> datetime | None:
        trigger = self.triggers.get(spec.label)
        if trigger is None or not spec.enabled:
            return None
        start = spec.start if spec.start is not None and spec.start > now else None
        first: datetime | None
        if isinstance(trigger, Rate):
            # The Scheduler starts a rate schedule at once (or at its StartDate); a rule after one period.
            first = start or (now if spec.type == "ScheduleV2" else now + trigger.period)
        else:
            first = trigger.next_after((start or now) - timedelta(microseconds=1))
        return self._within_end(spec, first)

    def _following(self, spec: ScheduleSpec, fired: datetime, now: datetime) -> datetime | None:
        """The run after the one due at `fired`; runs missed while the machine slept are skipped, not caught up."""
        trigger = self.triggers[spec.label]
        following = trigger.next_after(fired)
        if following is not None and following <= now:
            following = trigger.next_after(now)
        return self._within_end(spec, following)

    @staticmethod
    def _within_end(spec: ScheduleSpec, when: datetime | None) -> datetime | None:
        return None if when is None or (spec.end is not None and when > spec.end) else when


def _json(status: HTTPStatus, payload: Any) -> HttpResponse:
    body = json.dumps(payload, default=str).encode("utf-8")
    return HttpResponse(status=int(status), headers=[("Content-Type", "application/json")], body=body)

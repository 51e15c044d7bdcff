"""The whole local system in one process, driven step by step instead of by threads.

The same pieces as `make run` (local.run): the template's functions imported from their CodeUri, moto's server
with the template's queues and buckets, the S3 notifications, the API gateway with its authorizer and the
template's schedules. What differs is who moves things along: instead of poller threads and a wall-clock
scheduler, `fire_due` invokes each schedule whose time came on the simulated clock, and `drain` delivers every
visible queue message to its function until no queue has one, deleting only what the function handled (a
failure comes back after the queue's visibility timeout, on the simulated clock, and moto's redrive moves it to
the dead-letter queue as SQS would). Stepping is deterministic, so a seeded run can be repeated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from local.apigw import ApiGateway, HttpRequest, HttpResponse, RouteTable
from local.authorizer import authorizer_for
from local.aws import LocalAws
from local.cron import Trigger, parse_schedule
from local.lambda_runtime import LOCAL_ACCOUNT, LambdaFunction
from local.notifications import S3EventDelivery, S3Notifications, s3_notifications
from local.pollers import MAX_MESSAGES, Message, SqsBatchDelivery, sqs_event_sources
from local.schedules import ScheduleSpec, schedule_event, schedules_from
from local.template import SamTemplate

log = logging.getLogger("local.simulation")

MAX_DRAIN_ROUNDS = 200  # a queue that never empties is a bug to report, not a loop to wait on


class SimulatedCrash(BaseException):
    """Raised inside a function to stand for its process being killed: nothing after it runs, nothing is acked."""


@dataclass
class _Source:
    """One queue and what delivers its messages (an SQS event source, or an S3 notification's internal queue)."""

    name: str
    url: str
    deliver: Callable[[list[Message]], list[str]]


@dataclass
class _Schedule:
    spec: ScheduleSpec
    trigger: Trigger


@dataclass
class StepReport:
    delivered: int = 0
    crashed: int = 0


# A fault hook: called with (queue name, messages) before a delivery; it may return the messages to deliver
# again after the first delivery (a duplicate), or raise nothing. The simulation's faults module provides them.
DeliveryHook = Callable[[str, list[Message]], list[Message] | None]


class SimulatedStack:
    def __init__(self, template_path: Path, *, stack_name: str = "viral-sim") -> None:
        self.template = SamTemplate.load(template_path)
        self.functions = {lid: LambdaFunction(spec) for lid, spec in self.template.functions().items()}
        self.gateway = ApiGateway(
            RouteTable(self.template.api_routes()),
            self.functions,
            authorizer_of=lambda route: authorizer_for(self.template, route),
        )
        self.aws = LocalAws(self.template, stack_name=stack_name)
        self.notifications = S3Notifications(
            self.aws, s3_notifications(self.template, self.aws.resolver), self.functions
        )
        self.schedules = [
            _Schedule(spec, parse_schedule(spec.expression, spec.timezone))
            for spec in schedules_from(self.template, self.aws.resolver)
            if spec.enabled
        ]
        self.sources: list[_Source] = []
        self.delivery_hook: DeliveryHook | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        self.aws.start()
        self.notifications.start()
        region = self.aws.stack.region
        for source in sqs_event_sources(self.template, self.aws.resolver):
            deliver = SqsBatchDelivery(source, self.functions[source.function_id], region=region)
            self.sources.append(_Source(source.queue.name, source.queue.url, deliver))
        for function_id, queue in self.notifications.queues.items():
            self.sources.append(_Source(queue.name, queue.url, S3EventDelivery(self.functions[function_id])))

    def stop(self) -> None:
        self.aws.stop()

    def __enter__(self) -> SimulatedStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the API, as a client sees it ----------------------------------------------------------------------

    def request(
        self, method: str, target: str, *, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        sent = [(name, value) for name, value in (headers or {}).items()]
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            sent.append(("Content-Type", "application/json"))
        return self.gateway.handle(HttpRequest(method=method, target=target, headers=sent, body=payload))

    # --- schedules -----------------------------------------------------------------------------------------

    def fire_due(self, since: datetime, until: datetime) -> list[str]:
        """Invoke, once, every schedule with a run in (since, until]: runs missed inside one step coalesce, as
        EventBridge Scheduler's flexible windows may; the event carries the step's time."""
        fired = []
        for schedule in self.schedules:
            upcoming = schedule.trigger.next_after(since)
            if upcoming is None or upcoming > until:
                continue
            event = schedule_event(schedule.spec, at=until, region=self.aws.stack.region, account=LOCAL_ACCOUNT)
            try:
                self.functions[schedule.spec.function_id].invoke(event)
            except Exception:
                log.exception("%s failed", schedule.spec.label)
            fired.append(schedule.spec.function_id)
        return fired

    # --- queues --------------------------------------------------------------------------------------------

    def _queue(self, name: str) -> Any:
        """moto's own queue object: moto's server runs in this process, so counting needs no HTTP call."""
        from moto.sqs.models import sqs_backends

        return sqs_backends[self.aws.stack.account][self.aws.stack.region].queues[name]

    def drain(self) -> StepReport:
        """Deliver every visible message until no queue has one (failed messages wait for their visibility
        timeout, that is, a later step)."""
        report = StepReport()
        sqs = self.aws.client("sqs")
        for _ in range(MAX_DRAIN_ROUNDS):
            delivered_this_round = 0
            for source in self.sources:
                if not self._queue(source.name).messages:  # nothing visible: skip the receive call
                    continue
                answer = sqs.receive_message(
                    QueueUrl=source.url,
                    MaxNumberOfMessages=MAX_MESSAGES,
                    WaitTimeSeconds=0,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
                messages = answer.get("Messages") or []
                if not messages:
                    continue
                delivered_this_round += len(messages)
                report.delivered += len(messages)
                self._deliver(sqs, source, messages, report)
            if not delivered_this_round:
                return report
        raise RuntimeError(f"the queues did not empty after {MAX_DRAIN_ROUNDS} rounds")

    def _deliver(self, sqs: Any, source: _Source, messages: list[Message], report: StepReport) -> None:
        again = self.delivery_hook(source.name, messages) if self.delivery_hook else None
        try:
            done = source.deliver(messages)
        except SimulatedCrash:
            report.crashed += 1
            log.warning("a simulated crash killed the function on %d message(s) of %s", len(messages), source.name)
            return  # nothing acknowledged: the messages come back after the visibility timeout
        if again:  # the same messages delivered a second time before the first delivery's delete
            try:
                source.deliver(again)
            except SimulatedCrash:
                report.crashed += 1
        if done:
            sqs.delete_message_batch(
                QueueUrl=source.url,
                Entries=[{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(done)],
            )

    def waiting(self) -> int:
        """Messages in the queues that are delayed or in flight (not visible yet): work a later step will do."""
        total = 0
        for source in self.sources:
            queue = self._queue(source.name)
            total += queue.approximate_number_of_messages_delayed + queue.approximate_number_of_messages_not_visible
        return total

    def dead_letters(self) -> dict[str, int]:
        """Messages sitting in each dead-letter queue (a fault the system did not recover from)."""
        counts = {}
        for queue in self.aws.queues.values():
            if queue.name.endswith("dlq"):
                count = self._queue(queue.name).approximate_number_of_messages
                if count:
                    counts[queue.name] = count
        return counts

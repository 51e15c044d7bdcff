"""The reflexion schedule's fan-out: list every tenant and enqueue one run each, with batched sends.

10,000 tenants in the throwaway embedded PostgreSQL. SQS is a stand-in that accepts SendMessage and
SendMessageBatch after a fixed latency (20 ms, about what SQS answers from inside a region), because moto in
process spends ~200 ms of CPU per batch and would measure moto. The baseline, in the same run, sends one
request per message (what a loop of send_message does), so the ratio shows what batching and concurrent
requests buy whatever the machine's speed.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bench.billing import _environment
from bench.common import Figure, machine_info, owner_connection, print_table, throwaway_database, write_results

NAME = "fanout"
TENANTS, BASELINE_MESSAGES, RUNS = 10_000, 200, 3
LATENCY_S, TARGET_S = 0.020, 10.0
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/reflexion-jobs"


class _Sqs:
    """SendMessage / SendMessageBatch with SQS's answers and a fixed round-trip latency; it keeps the bodies."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.bodies: list[str] = []
        self._lock = threading.Lock()

    def send_message(self, *, QueueUrl: str, MessageBody: str, DelaySeconds: int = 0) -> dict[str, Any]:  # noqa: N803
        time.sleep(self.latency_s)
        with self._lock:
            self.bodies.append(MessageBody)
        return {"MessageId": str(uuid.uuid4())}

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        time.sleep(self.latency_s)
        with self._lock:
            self.bodies.extend(entry["MessageBody"] for entry in Entries)
        return {"Successful": [{"Id": e["Id"], "MessageId": str(uuid.uuid4())} for e in Entries], "Failed": []}


def run() -> bool:
    """Measure, write bench/results/fanout.json and print the table; True when every target is met."""
    sqs = _Sqs(LATENCY_S)
    with throwaway_database() as url, _queue(sqs):
        owner = owner_connection(url)
        try:
            machine = machine_info(owner)
            owner.run(
                "insert into tenants (id, name) select gen_random_uuid(), 'bench ' || g "
                f"from generate_series(1, {TENANTS}) g"
            )
            schedule_s, enqueued = _schedule(sqs)
            single_ms = _one_by_one()
        finally:
            owner.close()
    per_message_ms = schedule_s * 1000 / enqueued
    figures = [
        Figure("schedule: 10,000 tenants enqueued (median of 3)", schedule_s, "s", "<", TARGET_S),
        Figure("per message, batched (10 a request, 8 at once)", per_message_ms, "ms"),
        Figure("per message, one request each (baseline)", single_ms, "ms"),
        Figure("batched / baseline", per_message_ms / single_ms, "x", "<", 0.2),
    ]
    extra = {"machine": machine, "tenants": TENANTS, "enqueued_per_run": enqueued, "sqs_latency_ms": LATENCY_S * 1000}
    path = write_results(NAME, figures, extra)
    print_table(f"fanout ({path.relative_to(path.parents[2])})", figures)
    return all(f.passed is not False for f in figures)


def _schedule(sqs: _Sqs) -> tuple[float, int]:
    from viral.learning.reflexion import schedule_reflexion

    durations = []
    for _ in range(RUNS):
        sqs.bodies.clear()
        started = time.perf_counter()
        report = schedule_reflexion(now=datetime.now(UTC))
        durations.append(time.perf_counter() - started)
        if report["enqueued"] < TENANTS or len(sqs.bodies) != report["enqueued"]:
            raise RuntimeError(f"every tenant should get exactly one run: {report}, {len(sqs.bodies)} sent")
    return statistics.median(durations), TENANTS


def _one_by_one() -> float:
    from viral.aws.sqs import send
    from viral.learning.messages import ReflexionJobMessage

    now = datetime.now(UTC)
    messages = [ReflexionJobMessage(tenant_id=uuid.uuid4(), scheduled_at=now) for _ in range(BASELINE_MESSAGES)]
    started = time.perf_counter()
    for message in messages:
        send(QUEUE_URL, message)
    return (time.perf_counter() - started) * 1000 / BASELINE_MESSAGES


@contextmanager
def _queue(sqs: _Sqs) -> Iterator[None]:
    from viral.aws import sqs as sqs_module
    from viral.settings import get_settings

    real_client = sqs_module.client
    sqs_module.client = lambda service: sqs  # type: ignore[assignment]
    with _environment({"REFLEXION_QUEUE_URL": QUEUE_URL}):
        get_settings.cache_clear()
        try:
            yield
        finally:
            sqs_module.client = real_client
    get_settings.cache_clear()

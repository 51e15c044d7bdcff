"""Outbound webhooks in this process: 1,000 events fanned out to 3 endpoints each, delivered to a local receiver.

The events are emitted as services emit them (one unit of work each, with the nudge after its commit). The
webhook-deliveries queue is a list in memory (what is measured is our code, not SQS); the WebhookDelivery handler
(functions/webhook_delivery) drains it in batches of 10 as Lambda would: the dispatch that fans the outbox out,
then one signed attempt per delivery, POSTed over real sockets to a receiver on 127.0.0.1 that answers 200 at once.
The database is the throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.common import (
    Figure,
    StatementCounter,
    Timing,
    machine_info,
    owner_connection,
    print_table,
    throwaway_database,
    write_results,
)

NAME = "webhooks"
EVENTS, ENDPOINTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "1000")), 3
P50_TARGET_MS = 20.0

NOTES = {
    "emit": "one unit of work per event (bind the tenant, insert the outbox row, commit) plus the nudge sent to "
    "the queue after the commit",
    "dispatch": "the one dispatch that takes the 1,000 events: 3,000 delivery rows, events marked dispatched, "
    "3,000 attempt messages queued (in memory)",
    "attempt": "one attempt through the handler's path (attempt_delivery): claim the delivery under FOR UPDATE, "
    "open the sealed secret (cached per environment), sign with standardwebhooks, POST to the receiver on "
    "127.0.0.1 (keep-alive pool), record the attempt and the outcome",
    "overhead": "an attempt's time minus its HTTP exchange (connect, send, the receiver's answer)",
}


def run() -> bool:
    """Measure, write bench/results/webhooks.json and print the table; True when every target is met."""
    started = time.perf_counter()
    with throwaway_database() as url, _receiver() as receiver, _queue() as queue:
        owner = owner_connection(url)
        try:
            machine = machine_info(owner)
            tenant, secrets = _tenant_with_endpoints(owner, receiver.url)
            figures, checks, statements = _measure(tenant, queue, receiver)
            checks["attempts_recorded"] = owner.run("select count(*) from webhook_attempts")[0][0]
            checks["deliveries_succeeded"] = owner.run(
                "select count(*) from webhook_deliveries where status = 'succeeded'"
            )[0][0]
        finally:
            owner.close()
    checks["signatures_verified"] = receiver.verify(secrets)
    expected = EVENTS * ENDPOINTS
    if (checks["received"], checks["distinct_deliveries"], checks["deliveries_succeeded"]) != (expected,) * 3:
        raise RuntimeError(f"every event should reach every endpoint exactly once: {checks}")
    extra = {
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine,
        "notes": NOTES,
        "checks": checks,
        "statements_of_one_attempt": statements,
    }
    path = write_results(NAME, figures, extra)
    print_table(f"webhooks ({path.relative_to(path.parents[2])})", figures)
    return all(f.passed is not False for f in figures)


def _tenant_with_endpoints(owner: Any, url: str) -> tuple[uuid.UUID, list[str]]:
    from viral.identity.tenants import create_tenant
    from viral.outbound.endpoints import create_endpoint
    from viral.tenancy import tenant_scope

    tenant = create_tenant("Webhook bench").id
    owner.run("update tenants set subscription_tier = 'AGENCY' where id = :t", t=tenant)
    secrets = []
    with tenant_scope(tenant):
        for n in range(ENDPOINTS):
            secrets.append(create_endpoint(url=f"{url}/{n}", events=["video.ready"]).secret)
    return tenant, secrets


def _measure(tenant: uuid.UUID, queue: _Queue, receiver: _Receiver) -> tuple[list[Figure], dict[str, Any], list[str]]:
    from viral.db.engine import get_engine
    from viral.db.uow import unit_of_work
    from viral.outbound import delivery
    from viral.outbound.events import emit
    from viral.tenancy import tenant_scope

    from tests.events import load_handler

    handler = load_handler("webhook_delivery").lambda_handler
    emits: list[float] = []
    with tenant_scope(tenant):
        for n in range(EVENTS):
            start = time.perf_counter()
            with unit_of_work() as uow:
                emit(
                    uow, "video.ready", {"videoId": f"bench-{n}", "conceptId": f"concept-{n}", "provider": "storyboard"}
                )
            emits.append((time.perf_counter() - start) * 1000)

    attempts: list[float] = []
    exchanges: list[float] = []
    dispatches: list[float] = []
    statements: list[str] = []
    with (
        _timed(delivery, "attempt_delivery", attempts),
        _timed(delivery, "post", exchanges),
        _timed(delivery, "dispatch", dispatches),
    ):
        drain_started = time.perf_counter()
        batches = queue.drain(handler, counter=StatementCounter(get_engine()), statements=statements)
        drain_s = time.perf_counter() - drain_started

    total = Timing(tuple(attempts))
    http = Timing(tuple(exchanges))
    overhead = Timing(tuple(a - h for a, h in zip(attempts, exchanges, strict=True)))
    fan_out = max(dispatches)
    figures = [
        Figure(
            "attempt p50 (claim, sign, POST to 127.0.0.1, record)",
            total.p50,
            "ms",
            "<",
            P50_TARGET_MS,
            total.summary(),
        ),
        Figure("attempt p95", total.p95, "ms", detail=total.summary()),
        Figure("attempt overhead p50 (without the HTTP exchange)", overhead.p50, "ms", detail=overhead.summary()),
        Figure("HTTP exchange p50", http.p50, "ms", detail=http.summary()),
        Figure(
            "emit p50 (outbox row + commit + nudge)",
            Timing(tuple(emits)).p50,
            "ms",
            detail=Timing(tuple(emits)).summary(),
        ),
        Figure(f"dispatch of {EVENTS:,} events to {EVENTS * ENDPOINTS:,} deliveries", fan_out, "ms"),
        Figure("attempts per second, one consumer", len(attempts) / drain_s, "/s", detail={"batches": batches}),
    ]
    checks = {
        "events": EVENTS,
        "endpoints": ENDPOINTS,
        "attempts_timed": len(attempts),
        "received": len(receiver.requests),
        "distinct_deliveries": len({(r["path"], r["webhook-id"]) for r in receiver.requests}),
    }
    return figures, checks, statements


@contextmanager
def _timed(module: Any, name: str, samples: list[float]) -> Iterator[None]:
    """Time every call of module.name (the handler's own path calls it), in milliseconds."""
    original: Callable[..., Any] = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            samples.append((time.perf_counter() - start) * 1000)

    setattr(module, name, timed)
    try:
        yield
    finally:
        setattr(module, name, original)


class _Receiver:
    """A tenant's endpoint on 127.0.0.1: answers 200 at once and keeps each request (path, headers, body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.url = ""

    def verify(self, secrets: list[str]) -> int:
        """Check every 30th request with the standardwebhooks verifier (its own endpoint's secret)."""
        from standardwebhooks.webhooks import Webhook

        checked = 0
        for request in self.requests[::30]:
            secret = secrets[int(request["path"].rsplit("/", 1)[1])]
            Webhook(secret).verify(request["body"], request["headers"])
            checked += 1
        return checked


@contextmanager
def _receiver() -> Iterator[_Receiver]:
    receiver = _Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a production endpoint would allow
        disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stall)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver._lock:
                receiver.requests.append(
                    {"path": self.path, "webhook-id": headers["webhook-id"], "headers": headers, "body": body}
                )
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class _Queue:
    """webhook-deliveries in memory: what the code sends (nudges, attempts, retries) is kept in order and handed to
    the handler in batches of 10, as Lambda's event source would. SQS itself is not what is measured here."""

    def __init__(self) -> None:
        self.url = "memory://webhook-deliveries"
        self.waiting: list[str] = []

    def send(self, queue_url: str | None, message: Any, *, delay_s: int = 0) -> str:
        self.waiting.append(message.model_dump_json(by_alias=True))
        return str(uuid.uuid4())

    def send_batch(self, queue_url: str | None, messages: list[tuple[Any, int]]) -> int:
        self.waiting.extend(m.model_dump_json(by_alias=True) for m, _ in messages)
        return len(messages)

    def drain(self, handler: Any, *, counter: StatementCounter, statements: list[str]) -> int:
        """Deliver batches of 10 until nothing waits; the number of batches. The statements of one attempt (the
        first record of the first batch made only of attempts) are kept."""
        import json

        from tests.events import LambdaContext

        batches = 0
        while self.waiting:
            bodies, self.waiting = self.waiting[:10], self.waiting[10:]
            records = [_record(body) for body in bodies]
            if not statements and all(json.loads(body)["kind"] == "deliver" for body in bodies):
                with counter:
                    handler({"Records": records[:1]}, LambdaContext())
                statements.extend(counter.summary())
                records = records[1:]
            if records:
                result = handler({"Records": records}, LambdaContext())
                if result.get("batchItemFailures"):
                    raise RuntimeError(f"a record failed: {result}")
            batches += 1
        return batches


def _record(body: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "AQEBbench",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1764000000000",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1764000000001",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhook-deliveries",
        "awsRegion": "us-east-1",
    }


@contextmanager
def _queue() -> Iterator[_Queue]:
    """The in-memory queue in place of SQS sends, and the settings pointing at it."""
    import base64

    from viral.aws import sqs
    from viral.outbound import delivery
    from viral.outbound.sender import reset_pool
    from viral.settings import get_settings

    queue = _Queue()
    saved = {name: os.environ.get(name) for name in ("WEBHOOK_QUEUE_URL", "WEBHOOK_SECRET_KEY")}
    originals = (sqs.send, delivery.send_batch)
    os.environ["WEBHOOK_QUEUE_URL"] = queue.url
    os.environ.setdefault("WEBHOOK_SECRET_KEY", base64.b64encode(os.urandom(32)).decode())
    sqs.send, delivery.send_batch = queue.send, queue.send_batch  # type: ignore[assignment]
    reset_pool()
    get_settings.cache_clear()
    try:
        yield queue
    finally:
        sqs.send, delivery.send_batch = originals  # type: ignore[assignment]
        reset_pool()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()

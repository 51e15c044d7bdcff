"""The Stripe webhook (functions/stripe_webhook) in this process: verify, record and enqueue one delivery.

Every measured delivery is a new Stripe event (a new id, so it is really recorded and sent to billing-events),
signed as Stripe signs it with a fresh timestamp and handed to the handler as API Gateway's proxy event for the
template's route. Duplicates (an event delivered again, re-signed) are measured in turn with the new ones.
SQS is moto in process; the database is the throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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

NAME = "billing"
ROOT = Path(__file__).resolve().parents[1]
ROUTE = "/api/webhooks/stripe"
SECRET = "whsec_bench_only_" + "c" * 24
REPEAT, WARMUP, STATEMENT_SAMPLES, BUDGET_S = 200, 5, 30, 20.0
P50_TARGET_MS, STATEMENTS_TARGET = 20.0, 2

NOTES = {
    "delivery": "the StripeWebhookFunction handler with API Gateway's proxy event for POST /api/webhooks/stripe "
    "(built from template.yaml by the local gateway's code): a checkout.session.completed event with a new id, "
    "signed with a fresh timestamp (t=<ts>,v1=HMAC-SHA256); verify, record in webhook_events, send to the "
    "billing-events queue (moto in process), answer 200. Building and signing the event is not timed.",
    "duplicate": "the previous event delivered again after the worker settled it (re-signed with a fresh timestamp, "
    "as Stripe retries): verified, found settled, nothing sent; timed in turn with the new deliveries (an event "
    "not settled yet is sent again, so a lost send never loses it)",
    "statements": "statements per delivery on the runtime engine (before_cursor_execute); the driver's implicit "
    "BEGIN/COMMIT and the pool's liveness ping are not counted",
}


def run() -> bool:
    """Measure, write bench/results/billing.json and print the table; True when every target is met."""
    started = time.perf_counter()
    with throwaway_database() as url, _billing_queue() as queue_url:
        owner = owner_connection(url)
        try:
            machine = machine_info(owner)
            figures, statements, checks = _measure(queue_url)
            checks["webhook_events_rows"] = owner.run("select count(*) from webhook_events")[0][0]
        finally:
            owner.close()
    recorded = (checks["webhook_events_rows"], checks["messages_queued"], checks["queued_metrics"])
    if recorded != (checks["new_deliveries"],) * 3:
        raise RuntimeError(f"every new delivery should be recorded and queued exactly once: {checks}")
    extra = {
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine,
        "notes": NOTES,
        "checks": checks,
        "statements_of_one_delivery": statements,
    }
    path = write_results(NAME, figures, extra)
    print_table(f"billing ({path.relative_to(path.parents[2])})", figures)
    return all(f.passed is not False for f in figures)


@contextmanager
def _billing_queue() -> Iterator[str]:
    """moto's SQS in process with the billing-events queue, and the settings the webhook reads pointing at it."""
    import boto3
    from moto import mock_aws
    from viral.aws import reset_clients
    from viral.settings import get_settings

    environment = {"AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    with mock_aws(), _environment(environment):
        queue_url = boto3.client("sqs").create_queue(QueueName="billing-events")["QueueUrl"]
        settings = {"BILLING_QUEUE_URL": queue_url, "STRIPE_WEBHOOK_SECRET": SECRET, "STRIPE_SECRET_NAME": None}
        with _environment(settings):
            reset_clients()
            get_settings.cache_clear()
            try:
                yield queue_url
            finally:
                reset_clients()
    get_settings.cache_clear()


@contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) environment variables for the block, then put them back."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Stripe:
    """Plays Stripe's side: new events, signed at delivery time, sent as API Gateway's proxy events."""

    def __init__(self) -> None:
        from local.apigw import RouteTable
        from local.template import SamTemplate
        from tests.events import load_event

        self.routes = RouteTable(SamTemplate.load(ROOT / "template.yaml").api_routes())
        self.template = load_event("stripe_event_checkout_session_completed")
        self.created = 0

    def new_event(self) -> bytes:
        """A checkout.session.completed event Stripe has not sent before, as the exact bytes it sends."""
        self.created += 1
        event = {**self.template, "id": f"evt_bench{uuid.uuid4().hex}", "created": int(time.time())}
        return json.dumps(event).encode()

    def delivery(self, body: bytes) -> dict[str, Any]:
        """The proxy event of one delivery of `body`, signed now."""
        from local.apigw import HttpRequest, build_event
        from local.fakes.stripe_api import sign

        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
            ("Stripe-Signature", sign(body, SECRET)),
        ]
        request = HttpRequest(method="POST", target=ROUTE, headers=headers, body=body)
        return build_event(request, self.routes.match("POST", request.path), request_id=str(uuid.uuid4()))


def _settle(body: bytes) -> None:
    """What the billing worker does once it applied the event (not timed): a redelivery is a duplicate from
    then on. Until then the webhook sends every copy again, so a lost send never loses an event."""
    from viral.billing.repository import WebhookEventSystemRepository
    from viral.db.uow import system_unit_of_work

    with system_unit_of_work() as system:
        WebhookEventSystemRepository(system.session).mark(
            provider="stripe", event_id=json.loads(body)["id"], status="processed"
        )


def _measure(queue_url: str) -> tuple[list[Figure], list[str], dict[str, Any]]:
    from viral.db.engine import get_engine

    from tests.events import LambdaContext, load_handler

    webhook = load_handler("stripe_webhook")
    context = LambdaContext(function_name="StripeWebhookFunction")
    stripe = _Stripe()

    def deliver(event: dict[str, Any], expected: str) -> None:
        response = webhook.lambda_handler(event, context)
        status = json.loads(response.get("body") or "{}").get("status")
        if response["statusCode"] != 200 or status != expected:
            raise RuntimeError(f"expected 200 {expected}, got {response['statusCode']}: {response.get('body')}")

    def timed(body: bytes, expected: str) -> float:
        event = stripe.delivery(body)
        start = time.perf_counter()
        deliver(event, expected)
        return (time.perf_counter() - start) * 1000

    # The handler prints its metrics (CloudWatch EMF) on stdout, as in Lambda: kept, and counted, not shown.
    with contextlib.redirect_stdout(io.StringIO()) as emitted:
        for _ in range(WARMUP):  # imports, connections, moto's SQS backend
            body = stripe.new_event()
            deliver(stripe.delivery(body), "queued")
            _settle(body)
            deliver(stripe.delivery(body), "duplicate")

        counts: dict[str, list[int]] = {"new": [], "duplicate": []}
        summaries: dict[str, list[str]] = {}
        for _ in range(STATEMENT_SAMPLES):
            body = stripe.new_event()
            for kind, expected in (("new", "queued"), ("duplicate", "duplicate")):
                event = stripe.delivery(body)
                with StatementCounter(get_engine()) as counter:
                    deliver(event, expected)
                counts[kind].append(counter.count)
                summaries[kind] = counter.summary()
                _settle(body)  # after the new delivery: the duplicate then finds it settled

        samples: dict[str, list[float]] = {"new": [], "duplicate": []}
        deadline = time.perf_counter() + BUDGET_S
        for _ in range(REPEAT):
            body = stripe.new_event()
            samples["new"].append(timed(body, "queued"))
            _settle(body)
            samples["duplicate"].append(timed(body, "duplicate"))
            if time.perf_counter() > deadline and len(samples["new"]) >= 30:
                break
    new, duplicate = Timing(tuple(samples["new"])), Timing(tuple(samples["duplicate"]))

    checks = {
        "new_deliveries": stripe.created,
        "messages_queued": _queued(queue_url),
        "queued_metrics": sum('"StripeWebhookQueued"' in line for line in emitted.getvalue().splitlines()),
    }
    figures = [
        Figure("webhook.new.p50", new.p50, "ms", "<", P50_TARGET_MS, new.summary()),
        Figure("webhook.new.p95", new.p95, "ms"),
        *_statement_figures("webhook.new.statements", counts["new"], STATEMENTS_TARGET),
        Figure("webhook.duplicate.p50", duplicate.p50, "ms", "<", P50_TARGET_MS, duplicate.summary()),
        Figure("webhook.duplicate.p95", duplicate.p95, "ms"),
        *_statement_figures("webhook.duplicate.statements", counts["duplicate"], STATEMENTS_TARGET),
    ]
    statements = [f"{kind}: {line}" for kind, lines in summaries.items() for line in lines]
    return figures, statements, checks


def _statement_figures(name: str, counts: list[int], bound: int) -> list[Figure]:
    detail = {
        "mean": round(statistics.fmean(counts), 3),
        "per_delivery": {str(n): counts.count(n) for n in set(counts)},
    }
    return [Figure(f"{name}.max", max(counts), "", "<=", bound, detail)]


def _queued(queue_url: str) -> int:
    import boto3

    sqs = boto3.client("sqs")
    answer = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(answer["Attributes"]["ApproximateNumberOfMessages"])

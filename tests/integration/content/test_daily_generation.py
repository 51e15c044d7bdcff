"""Daily generation: the schedule enqueues one job per enabled tenant; the worker runs each job exactly once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import Engine, text
from viral.aws import reset_clients
from viral.content import storage
from viral.identity.tenants import set_daily_generation
from viral.operations.jobs import list_jobs
from viral.settings import get_settings
from viral.tenancy import tenant_scope

from tests.events import LambdaContext, load_event, load_handler

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch, database_url: object) -> Iterator[str]:
    with mock_aws():
        reset_clients()
        url = boto3.client("sqs").create_queue(QueueName="generation-jobs")["QueueUrl"]
        monkeypatch.setenv("GENERATION_QUEUE_URL", url)
        get_settings.cache_clear()
        yield url
        reset_clients()
    get_settings.cache_clear()


def received(queue_url: str) -> list[dict[str, Any]]:
    """Everything on the queue, as an SQS Lambda event's records."""
    sqs = boto3.client("sqs")
    records: list[dict[str, Any]] = []
    for _ in range(10):
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:
            record = load_event("sqs_generation_job_v1")["Records"][0]
            record.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"])
            records.append(record)
    return records


def enable(tenant: uuid.UUID) -> None:
    with tenant_scope(tenant):
        set_daily_generation(True)


def test_schedule_enqueues_only_enabled_tenants_once_per_day(
    queue: str, new_tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    enabled, disabled = new_tenant("On"), new_tenant("Off")
    enable(enabled)
    schedule = load_handler("daily_generate").lambda_handler
    first = schedule(load_event("schedule_daily_generate"), LambdaContext())
    second = schedule(load_event("schedule_daily_generate"), LambdaContext())  # the schedule fired twice
    bodies = [json.loads(r["body"]) for r in received(queue)]
    mine = [b for b in bodies if b["tenantId"] in (str(enabled), str(disabled))]
    assert {b["tenantId"] for b in mine} == {str(enabled)}
    assert len({b["jobId"] for b in mine}) == 1, "one job per tenant and day, whatever the redelivery"
    assert first["failed"] == second["failed"] == {}
    with tenant_scope(enabled):
        jobs = list_jobs(limit=10)
    assert [(j.job_type, j.status) for j in jobs] == [("generate-concepts", "pending")]


def test_worker_runs_each_job_once_even_when_delivered_twice(queue: str, new_tenant: Any) -> None:
    tenant = new_tenant("Worker")
    enable(tenant)
    load_handler("daily_generate").lambda_handler(load_event("schedule_daily_generate"), LambdaContext())
    records = [r for r in received(queue) if json.loads(r["body"])["tenantId"] == str(tenant)]
    worker = load_handler("generation_worker").lambda_handler
    first = worker({"Records": records}, LambdaContext())
    again = worker({"Records": records}, LambdaContext())  # SQS delivers at least once
    assert first == again == {"batchItemFailures": []}
    with tenant_scope(tenant):
        assert storage.count_generations() == 1
        [job] = list_jobs(limit=10)
    assert job.status == "completed"
    assert job.result is not None
    assert job.result["concepts"] == 1  # FREE's 10 concepts a month, paced over the month: one a day


def test_the_daily_batch_spreads_what_is_left_of_the_month_over_the_days_to_the_reset() -> None:
    from viral.content.daily import paced_count
    from viral.identity.tenant_repository import TenantRecord

    def tenant(quota: int, used: int, days_left: float) -> TenantRecord:
        return TenantRecord(
            id=uuid.uuid4(),
            name="Paced",
            subscription_tier="PRO",
            subscription_status="active",
            monthly_quota=quota,
            used_quota=used,
            quota_reset_at=NOW + timedelta(days=days_left),
            created_at=NOW,
        )

    assert paced_count(tenant(50, 0, 30), NOW) == 2  # PRO: 50 over 30 days
    assert paced_count(tenant(50, 44, 3), NOW) == 2  # 6 left over 3 days
    assert paced_count(tenant(50, 49, 0.5), NOW) == 1  # the last day takes what is left
    assert paced_count(tenant(500, 0, 10), NOW) == 36  # never more than a full batch
    assert paced_count(tenant(10, 10, 12), NOW) == 1  # nothing left: one, which the quota then refuses
    assert paced_count(tenant(10, 0, -2), NOW) == 10  # a reset overdue counts as today


def test_worker_marks_quota_exhaustion_failed_and_acknowledges(
    queue: str, new_tenant: Any, owner_engine: Engine
) -> None:
    tenant = new_tenant("Broke")
    enable(tenant)
    with owner_engine.begin() as connection:
        connection.execute(text("update tenants set used_quota = monthly_quota where id = :t"), {"t": tenant})
    load_handler("daily_generate").lambda_handler(load_event("schedule_daily_generate"), LambdaContext())
    records = [r for r in received(queue) if json.loads(r["body"])["tenantId"] == str(tenant)]
    answer = load_handler("generation_worker").lambda_handler({"Records": records}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    with tenant_scope(tenant):
        [job] = list_jobs(limit=10)
        assert storage.count_generations() == 0
    assert (job.status, job.error_message) == ("failed", "Quota exceeded")


def test_a_bad_record_fails_alone(queue: str, new_tenant: Any) -> None:
    tenant = new_tenant("Neighbour")
    enable(tenant)
    load_handler("daily_generate").lambda_handler(load_event("schedule_daily_generate"), LambdaContext())
    records = [r for r in received(queue) if json.loads(r["body"])["tenantId"] == str(tenant)]
    poison = {**records[0], "messageId": "poison-1", "body": '{"schemaVersion": 99}'}
    answer = load_handler("generation_worker").lambda_handler({"Records": [poison, *records]}, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    with tenant_scope(tenant):
        assert storage.count_generations() == 1


def test_one_failing_tenant_does_not_stop_the_others(
    queue: str, new_tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from viral.content import daily

    good, bad = new_tenant("Good"), new_tenant("Bad")
    enable(good)
    enable(bad)
    real_send = daily.send

    def flaky_send(queue_url: str | None, message: Any, **kwargs: Any) -> str:
        if message.tenant_id == bad:
            raise RuntimeError("queue hiccup")
        return real_send(queue_url, message, **kwargs)

    monkeypatch.setattr(daily, "send", flaky_send)
    report = daily.schedule_daily_generation(now=NOW)
    assert str(good) in report.enqueued
    assert report.failed.get(str(bad)) == "RuntimeError"


def test_the_worker_gathers_trends_with_no_transaction_held(
    queue: str, new_tenant: Any, monkeypatch: pytest.MonkeyPatch, owner_engine: Engine
) -> None:
    from viral.content import daily
    from viral.db.uow import transaction_open

    tenant = new_tenant("Cold cache")
    enable(tenant)
    load_handler("daily_generate").lambda_handler(load_event("schedule_daily_generate"), LambdaContext())
    records = [r for r in received(queue) if json.loads(r["body"])["tenantId"] == str(tenant)]
    held_during_gather: list[bool] = []
    real = daily.current_trends

    def watched(**kwargs: Any) -> Any:
        held_during_gather.append(transaction_open())
        return real(**kwargs)

    monkeypatch.setattr(daily, "current_trends", watched)
    answer = load_handler("generation_worker").lambda_handler({"Records": records}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    assert held_during_gather == [False]
    with tenant_scope(tenant):
        [job] = list_jobs(limit=10)
    assert (job.status, job.attempts) == ("completed", 1)
    assert job.started_at is not None and job.completed_at is not None


def test_a_vendor_call_inside_a_transaction_is_refused(tenant_a: uuid.UUID) -> None:
    import httpx
    from viral.db.uow import unit_of_work
    from viral.http.client import make_client

    answered = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with make_client(transport=answered) as client:
        assert client.get("https://vendor.example.test/ok").status_code == 200
        with unit_of_work(tenant_a), pytest.raises(RuntimeError, match="inside a database transaction"):
            client.get("https://vendor.example.test/held")

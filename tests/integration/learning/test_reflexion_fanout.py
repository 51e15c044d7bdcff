"""The reflexion schedule fans out one message per tenant through a queue; the worker runs each tenant's learner."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sqlalchemy import Engine
from viral.aws import reset_clients
from viral.aws.sqs import send_batch
from viral.learning import storage as learning_storage
from viral.learning.messages import ReflexionJobMessage
from viral.settings import get_settings
from viral.tenancy import tenant_scope

from tests.events import LambdaContext, load_event, load_handler
from tests.integration.learning.test_reflexion import feedback_for, setup_concepts, store_and_reflect


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch, database_url: object) -> Iterator[str]:
    with mock_aws():
        reset_clients()
        url = boto3.client("sqs").create_queue(QueueName="reflexion-jobs")["QueueUrl"]
        monkeypatch.setenv("REFLEXION_QUEUE_URL", url)
        get_settings.cache_clear()
        yield url
        reset_clients()
    get_settings.cache_clear()


def records(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            record = load_event("sqs_reflexion_job_v1")["Records"][0]
            record.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"])
            found.append(record)


def test_the_schedule_enqueues_one_run_per_tenant(queue: str, tenant_a: uuid.UUID, tenant_b: uuid.UUID) -> None:
    report = load_handler("reflexion_schedule").lambda_handler(load_event("schedule_reflexion"), LambdaContext())
    tenants = [json.loads(r["body"])["tenantId"] for r in records(queue)]
    assert report["enqueued"] == report["tenants"] == len(tenants)
    assert tenants.count(str(tenant_a)) == tenants.count(str(tenant_b)) == 1


def test_the_worker_runs_the_learner_of_the_message_tenant_only(
    queue: str, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    for tenant in (tenant_a, tenant_b):
        for concept in setup_concepts(tenant, owner_engine, count=3):
            predicted = concept["platformVirality"]["tiktok"]["score"]
            store_and_reflect(tenant, feedback_for(concept, actual_score=predicted * 0.5))
    send_batch(queue, [ReflexionJobMessage(tenant_id=tenant_a, scheduled_at="2026-11-24T06:00:00Z")])
    poison = {**load_event("sqs_reflexion_job_v1")["Records"][0], "messageId": "poison-1", "body": "{}"}
    answer = load_handler("reflexion_worker").lambda_handler({"Records": [poison, *records(queue)]}, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    with tenant_scope(tenant_a):
        assert learning_storage.get_unapplied_critiques() == []
        assert len(learning_storage.get_adjustments()) == 1
    with tenant_scope(tenant_b):
        assert len(learning_storage.get_unapplied_critiques()) == 3  # B's turn comes from B's own message
        assert learning_storage.get_adjustments() == []


def test_a_batch_whose_every_record_fails_is_answered_not_raised(database_url: object) -> None:
    poison = [
        {**load_event("sqs_reflexion_job_v1")["Records"][0], "messageId": f"poison-{i}", "body": "not json"}
        for i in range(3)
    ]
    answer = load_handler("reflexion_worker").lambda_handler({"Records": poison}, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"poison-{i}"} for i in range(3)]}


def test_batched_sends_deliver_every_message(queue: str) -> None:
    messages = [ReflexionJobMessage(tenant_id=uuid.uuid4(), scheduled_at="2026-11-24T06:00:00Z") for _ in range(37)]
    assert send_batch(queue, messages) == 37
    sent = sorted(json.loads(r["body"])["tenantId"] for r in records(queue))
    assert sent == sorted(str(m.tenant_id) for m in messages)

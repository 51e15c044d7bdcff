"""Analytics against the sandbox platform: snapshots at their ages, "not yet" for empty answers, the loop closed
once per concept and platform, tenant isolation of snapshots and metrics, and Prometheus text that parses.

Real PostgreSQL, moto in process, the sandbox network in process; the post worker publishes as in production and
the tests move a post's publishing time back to make it old.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from viral.analytics.collector import collect_tenant
from viral.analytics.repository import SnapshotRepository
from viral.content.storage import save_generation
from viral.db.uow import unit_of_work
from viral.identity import auth
from viral.learning.feedback import record_feedback
from viral.social import posts
from viral.tenancy import tenant_scope

from tests import factories
from tests.events import LambdaContext, load_event, load_handler
from tests.fakes.social_platforms import SocialAws, connect_sandbox, social_aws
from tests.gateway import Gateway


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: object) -> Iterator[SocialAws]:
    with social_aws(monkeypatch, tmp_path) as social:
        yield social


def key_of(tenant: uuid.UUID) -> dict[str, str]:
    with tenant_scope(tenant):
        secret = auth.create_api_key(scopes=("read", "write")).secret
    return {"Authorization": f"Bearer {secret}"}


def published(aws: SocialAws, tenant: uuid.UUID, engine: Engine, *, age: timedelta, concept: str | None = None) -> Any:
    """A post published through the worker on the tenant's sandbox account, then made `age` old; its video is
    tied to `concept` when given."""
    video = aws.put_video(tenant)
    with engine.begin() as connection:
        connection.execute(text("update videos set concept_id = :c where id = :v"), {"c": concept, "v": video})
    with tenant_scope(tenant):
        [post] = posts.create_posts(
            posts.PostRequest(video_id=video, account_ids=(connect_sandbox(tenant),), caption="Hi", privacy="PUBLIC")
        )
    aws.run_all(load_handler("post_worker").lambda_handler)
    with engine.begin() as connection:
        status = connection.execute(
            text(
                "update social_posts set posted_at = now() - make_interval(secs => :age) where id = :p returning status"
            ),
            {"age": age.total_seconds(), "p": post.id},
        ).scalar()
    assert status == "published"
    return post


def a_concept(tenant: uuid.UUID) -> str:
    concept = factories.concept()
    with tenant_scope(tenant):
        save_generation(factories.generation(concepts=[concept]))
    return str(concept["id"])


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r) for r in connection.execute(text(sql), params).mappings()]


def test_a_published_post_is_snapshotted_once_at_its_age_with_raw_figures_and_an_event(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    post = published(aws, tenant_a, owner_engine, age=timedelta(hours=7))
    first = collect_tenant(tenant_a)
    again = collect_tenant(tenant_a)
    assert (first.collected, again.collected, first.derived_feedback) == (1, 0, 0)
    [snapshot] = rows(owner_engine, "select * from analytics_snapshots where post_id = :p", p=post.id)
    assert snapshot["bucket"] == "6h" and snapshot["platform"] == "sandbox"
    assert snapshot["methodology"].startswith("sandbox:sandbox-v1")
    assert snapshot["raw"]["views"] == snapshot["views"] and snapshot["avg_view_duration_s"] > 0
    assert snapshot["saves"] is None and snapshot["completion_rate"] is None  # the sandbox gives neither
    [event] = rows(
        owner_engine, "select data from outbound_events where tenant_id = :t and type = 'metrics.collected'", t=tenant_a
    )
    assert event["data"]["snapshotId"] == str(snapshot["id"]) and event["data"]["bucket"] == "6h"
    # A day later the 24 h bucket is due; a post younger than an hour is not due at all.
    later = collect_tenant(tenant_a, now=datetime.now(UTC) + timedelta(hours=18))
    assert later.collected == 1
    published(aws, tenant_a, owner_engine, age=timedelta(minutes=20))
    assert collect_tenant(tenant_a).collected == 0


def test_an_empty_answer_is_not_yet_and_writes_nothing(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    import httpx
    from viral.social.platforms.sandbox import sandbox_network

    post = published(aws, tenant_a, owner_engine, age=timedelta(hours=2))
    sandbox_network().fail_next("GET /v1/posts/{id}/metrics", httpx.Response(200, json={"post_id": "x"}))
    result = collect_tenant(tenant_a)
    assert (result.collected, result.not_yet) == (0, 1)
    assert rows(owner_engine, "select id from analytics_snapshots where post_id = :p", p=post.id) == []
    assert collect_tenant(tenant_a).collected == 1  # asked again on the next run, and counted this time


def test_the_feedback_age_turns_one_snapshot_into_one_critiqued_feedback_per_concept_and_platform(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    concept = a_concept(tenant_a)
    post = published(aws, tenant_a, owner_engine, age=timedelta(hours=73), concept=concept)
    first = collect_tenant(tenant_a)
    assert (first.collected, first.derived_feedback) == (1, 1)
    # Older buckets of the same post, and a second post of the same concept and platform: no second feedback.
    published(aws, tenant_a, owner_engine, age=timedelta(hours=80), concept=concept)
    later = collect_tenant(tenant_a, now=datetime.now(UTC) + timedelta(days=4, hours=1))  # both within 7d's window
    assert later.collected == 2 and later.derived_feedback == 0
    [feedback] = rows(owner_engine, "select * from performance_feedback where concept_id = :c", c=concept)
    [snapshot] = rows(
        owner_engine, "select * from analytics_snapshots where post_id = :p and bucket = '72h'", p=post.id
    )
    assert feedback["data_source"] == "api" and feedback["snapshot_id"] == snapshot["id"]
    assert (feedback["views"], feedback["likes"]) == (snapshot["views"], snapshot["likes"])
    assert feedback["platform"] == "tiktok"  # the platform the video was made for
    critiques = rows(owner_engine, "select feedback_id from self_critiques where concept_id = :c", c=concept)
    assert critiques == [{"feedback_id": feedback["id"]}]
    # Manual feedback for the same concept and platform still works, and says it is manual.
    with tenant_scope(tenant_a):
        manual, _ = record_feedback(
            {
                "conceptId": concept,
                "category": "absurd",
                "platform": "tiktok",
                "metrics": {"views": 100, "likes": 10, "comments": 1, "shares": 2},
            }
        )
    assert manual.data_source == "manual"


def test_tenant_b_neither_sees_nor_collects_tenant_a_snapshots(
    aws: SocialAws, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine, runtime_engine: Engine
) -> None:
    post = published(aws, tenant_a, owner_engine, age=timedelta(hours=2))
    assert collect_tenant(tenant_b).collected == 0
    with unit_of_work(tenant_b) as uow:
        assert uow.repository(SnapshotRepository).due(datetime.now(UTC)) == []
    assert collect_tenant(tenant_a).collected == 1
    with unit_of_work(tenant_b) as uow:
        repository = uow.repository(SnapshotRepository)
        assert repository.series(post.id) == [] and not repository.post_exists(post.id)
    # B cannot write a snapshot for A's post either (the foreign key sees no such post of B's).
    with pytest.raises(Exception), unit_of_work(tenant_b) as uow:  # noqa: B017, PT011
        uow.repository(SnapshotRepository).add_once(
            {"post_id": post.id, "platform": "sandbox", "bucket": "24h", "raw": {}, "methodology": "x"}
        )
    with runtime_engine.connect() as connection, connection.begin():
        connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant_b)})
        assert connection.execute(text("select count(*) from analytics_snapshots")).scalar_one() == 0
        assert connection.execute(text("delete from analytics_snapshots")).rowcount == 0
    assert len(rows(owner_engine, "select id from analytics_snapshots where post_id = :p", p=post.id)) == 1


def test_the_metrics_routes_answer_per_tenant_and_prometheus_text_parses(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    concept = a_concept(tenant_a)
    post = published(aws, tenant_a, owner_engine, age=timedelta(hours=73), concept=concept)
    assert collect_tenant(tenant_a).derived_feedback == 1
    a, b = key_of(tenant_a), key_of(tenant_b)

    series = gateway.request("GET", f"/api/posts/{post.id}/metrics", headers=a)
    assert series.status == HTTPStatus.OK
    [point] = series.json()["snapshots"]
    assert point["bucket"] == "72h" and point["views"] >= 0 and point["methodology"].startswith("sandbox")
    assert gateway.request("GET", f"/api/posts/{post.id}/metrics", headers=b).status == HTTPStatus.NOT_FOUND
    assert gateway.request("GET", "/api/posts/not-a-uuid/metrics", headers=a).status == HTTPStatus.UNPROCESSABLE_ENTITY

    answer = gateway.request("GET", "/api/metrics", headers=a)
    assert answer.status == HTTPStatus.OK and answer.headers["Content-Type"].startswith("text/plain")
    assert "# HELP posting_total" in answer.body.decode() and "# TYPE posting_total gauge" in answer.body.decode()
    families = {f.name: f for f in text_string_to_metric_families(answer.body.decode())}
    assert {"video_generation_total", "posting_total", "reflexion_accuracy", "reflexion_samples"} <= set(families)
    [posted] = [
        s for s in families["posting_total"].samples if s.labels == {"platform": "sandbox", "status": "published"}
    ]
    assert posted.value == 1
    [samples] = families["reflexion_samples"].samples
    [accuracy] = families["reflexion_accuracy"].samples
    assert samples.value == 1 and 0 <= accuracy.value <= 100 and accuracy.value != 85
    assert families["analytics_snapshots_total"].samples[0].value == 1

    as_json = gateway.request("GET", "/api/metrics?format=json", headers=a).json()
    assert {m["name"] for m in as_json["reflexion"]} == {"reflexion_accuracy", "reflexion_samples"}
    assert gateway.request("GET", "/api/metrics?format=alerts", headers=a).json() == {"alerts": []}
    refused = gateway.request("GET", "/api/metrics?format=xml", headers=a)
    assert refused.status == HTTPStatus.UNPROCESSABLE_ENTITY and refused.json()["code"]

    # B's metrics count none of A's posts, snapshots or critiques.
    b_json = gateway.request("GET", "/api/metrics?format=json", headers=b).json()
    assert [(m["name"], m["value"]) for m in b_json.pop("reflexion")] == [("reflexion_samples", 0)]
    assert b_json == {"video": [], "posting": [], "collection": []}
    b_families = text_string_to_metric_families(gateway.request("GET", "/api/metrics", headers=b).body.decode())
    assert [(s.name, s.value) for f in b_families for s in f.samples] == [("reflexion_samples", 0.0)]


def test_the_alert_rules_fire_on_failed_posts_and_videos(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    published(aws, tenant_a, owner_engine, age=timedelta(hours=2))
    video = aws.put_video(tenant_a)
    with owner_engine.begin() as connection:
        connection.execute(text("update social_posts set status = 'failed' where tenant_id = :t"), {"t": tenant_a})
        connection.execute(
            text("update videos set status = 'failed', generation_cost = 12 where id = :v"), {"v": video}
        )
    alerts = gateway.request("GET", "/api/metrics?format=alerts", headers=key_of(tenant_a)).json()["alerts"]
    severities = sorted(a["severity"] for a in alerts)
    assert severities == ["critical", "warning", "warning"], alerts


def test_the_schedule_enqueues_only_tenants_with_posts_due_and_the_worker_collects_each_tenant_once(
    aws: SocialAws, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from viral.settings import get_settings

    post = published(aws, tenant_a, owner_engine, age=timedelta(hours=2))
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="analytics-jobs")["QueueUrl"]
    monkeypatch.setenv("ANALYTICS_QUEUE_URL", url)
    get_settings.cache_clear()
    report = load_handler("analytics_schedule").lambda_handler(load_event("schedule_analytics"), LambdaContext())
    template = load_event("sqs_analytics_job_v1")["Records"][0]
    records = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            records.append({**template, "messageId": message["MessageId"], "body": message["Body"]})
    tenants = {json.loads(r["body"])["tenantId"] for r in records}
    assert report["enqueued"] == report["tenants"] == len(records) and str(tenant_a) in tenants
    assert str(tenant_b) not in tenants  # nothing of B's is due: B's worker is not woken
    records += [
        {
            **template,
            "messageId": str(uuid.uuid4()),
            "body": json.dumps({**json.loads(records[0]["body"]), "tenantId": str(tenant_b)}),
        }
    ]
    worker = load_handler("analytics_worker").lambda_handler
    # Every record delivered twice: the second delivery finds its snapshot written and writes nothing.
    assert worker({"Records": records + records}, LambdaContext()) == {"batchItemFailures": []}
    assert len(rows(owner_engine, "select id from analytics_snapshots where post_id = :p", p=post.id)) == 1
    assert rows(owner_engine, "select id from analytics_snapshots where tenant_id = :t", t=tenant_b) == []

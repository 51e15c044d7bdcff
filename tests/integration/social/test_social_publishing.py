"""The post worker against the sandbox platform: publish once, however messages arrive, and say so honestly.

Real PostgreSQL, moto in process (S3, SQS), the sandbox network in process over httpx. The worker handler is
called with SQS-shaped batches, as Lambda's event source would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from viral.operations.jobs import list_jobs
from viral.social import posts
from viral.social.dispatch import dispatch_due_posts
from viral.social.platforms.sandbox import sandbox_network
from viral.tenancy import tenant_scope

from tests.events import LambdaContext, load_handler
from tests.fakes.social_platforms import SocialAws, connect_sandbox, social_aws


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: object) -> Iterator[SocialAws]:
    with social_aws(monkeypatch, tmp_path) as social:
        yield social


@pytest.fixture
def worker() -> Any:
    return load_handler("post_worker").lambda_handler


def schedule(tenant: uuid.UUID, video: uuid.UUID, account: uuid.UUID, **kwargs: Any) -> posts.PostRecord:
    """One post of the video on the account (default: now), as POST /api/posts makes it."""
    with tenant_scope(tenant):
        [post] = posts.create_posts(
            posts.PostRequest(video_id=video, account_ids=(account,), caption="Hello", privacy="PUBLIC", **kwargs)
        )
    return post


def dispatched(aws: SocialAws) -> list[str]:
    """The post ids the DuePosts schedule sends now (other tests' due posts may be among them); the messages stay
    on the queue (visibility 0) for the worker."""
    dispatch_due_posts()
    return [json.loads(r["body"])["postId"] for r in aws.receive()]


def row(engine: Engine, post_id: uuid.UUID) -> dict[str, Any]:
    with engine.connect() as connection:
        found = connection.execute(text("select * from social_posts where id = :p"), {"p": post_id}).mappings().one()
    return dict(found)


def test_a_post_for_now_is_published_once_with_the_platform_post_id_and_url(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    account = connect_sandbox(tenant_a)
    video = aws.put_video(tenant_a)
    post = schedule(tenant_a, video, account)
    answers = aws.run_all(worker)
    published = row(owner_engine, post.id)
    assert all(a == {"batchItemFailures": []} for a in answers)
    assert published["status"] == "published"
    assert published["platform_post_id"] and published["post_url"].endswith(published["platform_post_id"])
    assert published["posted_at"] is not None
    assert sandbox_network().publish_count(str(post.id)) == 1
    assert [h["to"] for h in published["history"]] == ["publishing", "publishing", "processing", "published"]
    with tenant_scope(tenant_a):
        [job] = list_jobs(limit=5, job_type="publish-post")
    assert job.status == "completed"


def test_the_same_message_delivered_twice_publishes_once(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    account = connect_sandbox(tenant_a)
    post = schedule(tenant_a, aws.put_video(tenant_a), account)
    [first] = aws.receive()
    twin = dict(first)
    assert aws.deliver(worker, [first]) == {"batchItemFailures": []}
    assert aws.deliver(worker, [twin]) == {"batchItemFailures": []}  # SQS delivered it again
    aws.run_all(worker)
    assert row(owner_engine, post.id)["status"] == "published"
    assert sandbox_network().publish_count(str(post.id)) == 1
    assert sum(1 for method, path in sandbox_network().requests if (method, path) == ("POST", "/v1/uploads")) == 1


def test_a_redelivery_after_a_crash_resumes_by_the_upload_id_and_never_begins_again(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = connect_sandbox(tenant_a)
    post = schedule(tenant_a, aws.put_video(tenant_a), account)
    network = sandbox_network()
    # The second chunk gets no answer: the delivery "crashes" after the upload id was committed.
    network.fail_next("PUT /v1/uploads/{id}", httpx.Response(200), httpx.Response(599))
    network.failures["PUT /v1/uploads/{id}"].pop(0)  # only the 599 is wanted, on the first chunk
    aws.run_all(worker)
    stored = row(owner_engine, post.id)
    assert stored["status"] == "published"
    assert sum(1 for m, p in network.requests if (m, p) == ("POST", "/v1/uploads")) == 1
    assert network.publish_count(str(post.id)) == 1
    assert stored["upload_id"] in network.uploads


def test_a_dead_delivery_with_no_upload_id_begins_a_new_upload_only_where_beginning_cannot_publish(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    account = connect_sandbox(tenant_a)
    post = schedule(tenant_a, aws.put_video(tenant_a), account)
    # A delivery committed `publishing` and died before the platform answered (its lease ran out).
    with owner_engine.begin() as connection:
        connection.execute(
            text(
                "update social_posts set status = 'publishing', lease_until = now() - interval '1 minute' where id = :p"
            ),
            {"p": post.id},
        )
    aws.run_all(worker)
    assert row(owner_engine, post.id)["status"] == "published"
    assert sandbox_network().publish_count(str(post.id)) == 1


def test_a_rate_limit_sends_the_post_back_to_the_schedule_after_the_stated_wait(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    account = connect_sandbox(tenant_a)
    post = schedule(tenant_a, aws.put_video(tenant_a), account)
    sandbox_network().fail_next("POST /v1/uploads", httpx.Response(429, headers={"Retry-After": "120"}))
    aws.run_all(worker)
    waiting = row(owner_engine, post.id)
    assert waiting["status"] == "scheduled"
    assert waiting["dispatched_at"] is None
    assert timedelta(seconds=100) < waiting["scheduled_for"] - datetime.now(UTC) <= timedelta(seconds=120)
    assert str(post.id) not in dispatched(aws)  # not due yet
    with owner_engine.begin() as connection:  # two minutes pass
        connection.execute(
            text("update social_posts set scheduled_for = scheduled_for - interval '121 seconds' where id = :p"),
            {"p": post.id},
        )
    assert dispatched(aws).count(str(post.id)) == 1
    aws.run_all(worker)
    assert row(owner_engine, post.id)["status"] == "published"
    assert sandbox_network().publish_count(str(post.id)) == 1


def test_a_5xx_before_acceptance_retries_and_a_refusal_fails_with_the_reason_in_words(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    account = connect_sandbox(tenant_a)
    retried = schedule(tenant_a, aws.put_video(tenant_a), account)
    sandbox_network().fail_next("POST /v1/uploads", httpx.Response(503))
    aws.run_all(worker)
    assert row(owner_engine, retried.id)["status"] == "scheduled"
    refused = schedule(tenant_a, aws.put_video(tenant_a), account)
    sandbox_network().fail_next(
        "POST /v1/uploads",
        httpx.Response(400, json={"error": {"code": "privacy_level_option_mismatch", "message": "bad"}}),
    )
    aws.run_all(worker)
    failed = row(owner_engine, refused.id)
    assert failed["status"] == "failed"
    assert failed["error_message"] == "The privacy you chose is not one the account offers."
    assert failed["error_code"] == "privacy_level_option_mismatch"


def test_an_expired_access_token_is_refreshed_once_and_the_rotated_refresh_token_is_kept(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    account = connect_sandbox(tenant_a)
    with owner_engine.connect() as connection:
        before = connection.execute(
            text("select refresh_token from social_accounts where id = :a"), {"a": account}
        ).scalar_one()
    post = schedule(tenant_a, aws.put_video(tenant_a), account)
    sandbox_network().expire_access_tokens()  # the platform says 401 although our expiry is hours away
    aws.run_all(worker)
    with owner_engine.connect() as connection:
        after = connection.execute(
            text("select refresh_token, status from social_accounts where id = :a"), {"a": account}
        ).one()
    assert row(owner_engine, post.id)["status"] == "published"
    assert after.status == "active"
    assert after.refresh_token != before  # the rotated refresh token was stored
    assert len(sandbox_network().refresh_tokens) == 1  # the old one is dead on the platform


def test_a_dead_grant_marks_the_account_reconnect_required_and_fails_the_post(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    account = connect_sandbox(tenant_a)
    post = schedule(tenant_a, aws.put_video(tenant_a), account)
    network = sandbox_network()
    network.expire_access_tokens()
    network.refresh_tokens.clear()  # the user revoked the app
    aws.run_all(worker)
    failed = row(owner_engine, post.id)
    assert (failed["status"], failed["error_code"]) == ("failed", "RECONNECT_REQUIRED")
    with tenant_scope(tenant_a):
        from viral.social.accounts import list_accounts

        [listed] = list_accounts()["accounts"]["sandbox"]
    assert (listed["status"], listed["isActive"]) == ("reconnect_required", False)
    assert network.publish_count(str(post.id)) == 0


def test_a_canceled_or_rescheduled_post_never_publishes_at_its_old_time(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    account = connect_sandbox(tenant_a)
    video = aws.put_video(tenant_a)
    canceled = schedule(tenant_a, video, account)
    moved = schedule(tenant_a, video, account)
    # Both were due and sent; before the worker runs, one is canceled and the other moved an hour ahead.
    with tenant_scope(tenant_a):
        posts.cancel_post(canceled.id)
        posts.reschedule_post(moved.id, datetime.now(UTC) + timedelta(hours=1))
    aws.run_all(worker)
    assert row(owner_engine, canceled.id)["status"] == "canceled"
    assert row(owner_engine, moved.id)["status"] == "scheduled"
    assert sandbox_network().published == {}
    assert {str(canceled.id), str(moved.id)}.isdisjoint(dispatched(aws))


def test_a_published_sandbox_post_reports_metrics_from_its_audience(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID
) -> None:
    from viral.social.metrics import fetch_post_metrics

    post = schedule(tenant_a, aws.put_video(tenant_a), connect_sandbox(tenant_a))
    aws.run_all(worker)
    with tenant_scope(tenant_a):
        first = fetch_post_metrics(post.id)
        again = fetch_post_metrics(post.id)
    assert first["platform"] == "sandbox" and first["views"] >= 0
    assert {"likes", "comments", "shares", "definition"} <= set(first)
    assert again["views"] >= first["views"]  # the audience only grows with age


def test_the_due_posts_handler_sends_due_posts_once_and_the_sample_events_parse(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    from tests.events import LambdaContext, load_event

    account = connect_sandbox(tenant_a)
    post = schedule(tenant_a, aws.put_video(tenant_a), account, scheduled_at=datetime.now(UTC) + timedelta(minutes=5))
    with owner_engine.begin() as connection:  # five minutes pass
        connection.execute(
            text("update social_posts set scheduled_for = now() - interval '1 second' where id = :p"), {"p": post.id}
        )
    schedule_handler = load_handler("due_posts").lambda_handler
    for _ in range(2):  # the schedule fires twice: the post is sent once (other tests' due posts may go too)
        assert schedule_handler(load_event("schedule_due_posts"), LambdaContext())["failed"] == 0
    records = aws.receive()
    assert [json.loads(r["body"])["postId"] for r in records].count(str(post.id)) == 1
    aws.deliver(worker, records)
    aws.run_all(worker)
    assert row(owner_engine, post.id)["status"] == "published"
    # The sample message names a post no tenant has: acknowledged, nothing done.
    assert worker(load_event("sqs_post_job_v1"), LambdaContext()) == {"batchItemFailures": []}


def test_status_hooks_see_every_change_in_its_transaction(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    from viral.social import lifecycle

    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(lifecycle, "_hooks", [])
    lifecycle.on_status_change(lambda uow, post, previous: seen.append((previous, post.status)))
    schedule(tenant_a, aws.put_video(tenant_a), connect_sandbox(tenant_a))
    aws.run_all(worker)
    assert seen == [("scheduled", "publishing"), ("publishing", "processing"), ("processing", "published")]


def test_a_post_the_platform_never_finishes_becomes_unconfirmed_after_the_processing_timeout(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    post = schedule(tenant_a, aws.put_video(tenant_a), connect_sandbox(tenant_a))
    sandbox_network().processing_s = 10_000
    [record] = aws.receive()
    aws.deliver(worker, [record])
    assert row(owner_engine, post.id)["status"] == "processing"
    with owner_engine.begin() as connection:  # two days pass
        connection.execute(
            text("update social_posts set publishing_started_at = now() - interval '2 days' where id = :p"),
            {"p": post.id},
        )
    aws.run_all(worker)
    stored = row(owner_engine, post.id)
    assert (stored["status"], stored["error_code"]) == ("unconfirmed", "UNCONFIRMED")
    assert "check the account" in stored["error_message"]


def test_a_due_post_whose_video_is_gone_fails_without_calling_the_platform(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    video = aws.put_video(tenant_a)
    post = schedule(tenant_a, video, connect_sandbox(tenant_a))
    with owner_engine.begin() as connection:
        connection.execute(text("update videos set status = 'failed' where id = :v"), {"v": video})
    aws.run_all(worker)
    stored = row(owner_engine, post.id)
    assert (stored["status"], stored["error_code"]) == ("failed", "VIDEO_GONE")
    assert ("POST", "/v1/uploads") not in sandbox_network().requests


def test_a_delivery_that_finds_the_post_leased_fails_and_backs_off_instead_of_working(
    aws: SocialAws, worker: Any, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    post = schedule(tenant_a, aws.put_video(tenant_a), connect_sandbox(tenant_a))
    with owner_engine.begin() as connection:  # another delivery holds the post
        connection.execute(
            text("update social_posts set lease_until = now() + interval '5 minutes' where id = :p"), {"p": post.id}
        )
    [record] = aws.receive()
    answer = worker({"Records": [record]}, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert aws.receive() == []  # hidden for the backoff (the queue's own visibility here is 0)
    assert row(owner_engine, post.id)["status"] == "scheduled"
    assert sandbox_network().requests == [r for r in sandbox_network().requests if r[1] != "/v1/uploads"]

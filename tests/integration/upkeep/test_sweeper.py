"""The Sweeper: stuck videos, ledger jobs and posts are re-sent once or failed with a reason; fresh ones are left.

Real PostgreSQL, moto in process (S3 and the three queues it sends to). Rows are made stuck the honest way (a
request whose message is then lost) and aged with the owner engine, as time passing would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.content import storage
from viral.content.daily import JOB_TYPE as GENERATION_JOB_TYPE
from viral.db.uow import system_unit_of_work, unit_of_work
from viral.errors import Forbidden
from viral.operations.repository import JobRepository
from viral.social import posts
from viral.tenancy import tenant_scope
from viral.upkeep.repository import (
    StuckJobRepository,
    StuckPostRepository,
    StuckVideoRepository,
    StuckWorkSystemRepository,
)
from viral.upkeep.sweeper import sweep
from viral.video.service import request_video

from tests import factories
from tests.events import LambdaContext, load_event, load_handler
from tests.fakes.social_platforms import SocialAws, connect_sandbox, social_aws


@dataclass
class Queues:
    social: SocialAws
    video: str
    generation: str
    post: str


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: object) -> Iterator[Queues]:
    import boto3
    from viral.settings import get_settings

    with social_aws(monkeypatch, tmp_path) as social:
        sqs = boto3.client("sqs")
        made = {
            name: sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
            for name in ("video-jobs", "generation-jobs")
        }
        monkeypatch.setenv("VIDEO_QUEUE_URL", made["video-jobs"])
        monkeypatch.setenv("GENERATION_QUEUE_URL", made["generation-jobs"])
        get_settings.cache_clear()
        yield Queues(social=social, video=made["video-jobs"], generation=made["generation-jobs"], post=social.queue_url)
    get_settings.cache_clear()


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue now (bodies), taken off it."""
    import boto3

    sqs = boto3.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def lost_video(tenant: uuid.UUID, queues: Queues) -> uuid.UUID:
    """A requested video whose message never reached the queue (sent, then lost)."""
    concept = factories.concept(category="tech")
    with tenant_scope(tenant):
        storage.save_generation(factories.generation(concepts=[concept]))  # type: ignore[arg-type]
        video = request_video(str(concept["id"])).video
    drain(queues.video)
    return video.id


def age(engine: Engine, table: str, row_id: uuid.UUID, **minutes_ago: int) -> None:
    """Move the row's timestamps back (updated_at=30: half an hour ago), as time passing would."""
    sets = ", ".join(f"{column} = now() - make_interval(mins => :{column})" for column in minutes_ago)
    with engine.begin() as connection:
        connection.execute(text(f"update {table} set {sets} where id = :id"), {"id": row_id, **minutes_ago})


def row(engine: Engine, table: str, row_id: uuid.UUID) -> dict[str, Any]:
    with engine.connect() as connection:
        return dict(connection.execute(text(f"select * from {table} where id = :id"), {"id": row_id}).mappings().one())


def used_videos(engine: Engine, tenant: uuid.UUID) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(text("select used_video_quota from tenants where id = :t"), {"t": tenant}).scalar_one()
        )


def generation_job(tenant: uuid.UUID, **changes: Any) -> uuid.UUID:
    with unit_of_work(tenant) as uow:
        job, _ = uow.repository(JobRepository).enqueue(
            job_type=changes.pop("job_type", GENERATION_JOB_TYPE),
            payload={"trigger": "daily", "forDate": "2026-12-05"},
            idempotency_key=f"test:{uuid.uuid4()}",
        )
    return job.id


def set_job(engine: Engine, job_id: uuid.UUID, **values: Any) -> None:
    sets = ", ".join(f"{column} = :{column}" for column in values)
    with engine.begin() as connection:
        connection.execute(text(f"update job_queue set {sets} where id = :id"), {"id": job_id, **values})


def post_in(tenant: uuid.UUID, queues: Queues, engine: Engine, status: str, step: int) -> uuid.UUID:
    """A post the worker left in `status` at `step` (scheduled through the API's service, then moved on)."""
    account = connect_sandbox(tenant)
    with tenant_scope(tenant):
        [post] = posts.create_posts(
            posts.PostRequest(
                video_id=queues.social.put_video(tenant), account_ids=(account,), caption="Hello", privacy="PUBLIC"
            )
        )
    with engine.begin() as connection:
        connection.execute(
            text("update social_posts set status = :s, step = :step, dispatched_at = now() where id = :id"),
            {"s": status, "step": step, "id": post.id},
        )
    return post.id


def ids(bodies: list[dict[str, Any]], key: str) -> list[str]:
    return [body[key] for body in bodies]


def test_a_queued_video_whose_message_was_lost_is_sent_again_once_and_a_fresh_one_is_left_alone(
    queues: Queues, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    stuck, fresh = lost_video(tenant_a, queues), lost_video(tenant_a, queues)
    age(owner_engine, "videos", stuck, updated_at=30)

    report = sweep()

    sent = drain(queues.video)
    assert ids(sent, "videoId").count(str(stuck)) == 1
    assert str(fresh) not in ids(sent, "videoId")
    [message] = [body for body in sent if body["videoId"] == str(stuck)]
    with owner_engine.connect() as connection:
        job_id = connection.execute(
            text("select id from job_queue where idempotency_key = :k"), {"k": f"video:{stuck}"}
        ).scalar_one()
    assert (message["tenantId"], message["jobId"], message["step"]) == (str(tenant_a), str(job_id), 0)
    assert report.resent["videos"] >= 1
    assert row(owner_engine, "videos", stuck)["status"] == "queued"
    # Sent again just now: the next run leaves it until the deadline passes again.
    sweep()
    assert str(stuck) not in ids(drain(queues.video), "videoId")


def test_a_video_queued_past_the_longer_deadline_fails_with_a_reason_and_its_quota_is_refunded(
    queues: Queues, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    video = lost_video(tenant_a, queues)
    assert used_videos(owner_engine, tenant_a) == 1
    age(owner_engine, "videos", video, updated_at=30, created_at=180)

    sweep()

    failed = row(owner_engine, "videos", video)
    assert failed["status"] == "failed"
    assert "never" in failed["error_message"] or "no worker" in failed["error_message"]
    assert used_videos(owner_engine, tenant_a) == 0
    with owner_engine.connect() as connection:
        job = connection.execute(
            text("select status, error_message from job_queue where idempotency_key = :k"), {"k": f"video:{video}"}
        ).one()
        event = connection.execute(
            text("select data from outbound_events where tenant_id = :t and type = 'video.failed'"), {"t": tenant_a}
        ).scalar_one()
    assert job.status == "failed" and job.error_message == failed["error_message"]
    assert event["videoId"] == str(video)
    assert str(video) not in ids(drain(queues.video), "videoId")
    # Failed once: a second run neither fails it again nor refunds twice.
    sweep()
    assert used_videos(owner_engine, tenant_a) == 0


def test_a_refund_after_the_quota_period_rolled_over_does_not_credit_the_new_period(
    queues: Queues, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    rolled, current = lost_video(tenant_a, queues), lost_video(tenant_b, queues)
    for video in (rolled, current):
        age(owner_engine, "videos", video, updated_at=30, created_at=180)
    with owner_engine.begin() as connection:
        # Tenant A's period rolled over after its video was charged (the reset zeroed the count); one video of the
        # new period is used since. Tenant B's period began before its video was charged.
        connection.execute(
            text(
                "update tenants set quota_period_start = now() - interval '1 hour', used_video_quota = 1 where id = :t"
            ),
            {"t": tenant_a},
        )
        connection.execute(
            text("update tenants set quota_period_start = now() - interval '1 day' where id = :t"), {"t": tenant_b}
        )

    sweep()

    assert row(owner_engine, "videos", rolled)["status"] == row(owner_engine, "videos", current)["status"] == "failed"
    assert used_videos(owner_engine, tenant_a) == 1  # the new period is not credited with the old period's video
    assert used_videos(owner_engine, tenant_b) == 0  # the same period: refunded


def test_generation_jobs_left_pending_or_running_are_sent_again_and_one_out_of_attempts_fails(
    queues: Queues, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    pending, running, exhausted, fresh = (generation_job(tenant_a) for _ in range(4))
    set_job(owner_engine, pending, scheduled_for=_ago(30))
    set_job(owner_engine, running, status="running", started_at=_ago(30), attempts=1)
    set_job(owner_engine, exhausted, status="running", started_at=_ago(30), attempts=3, max_attempts=3)
    set_job(owner_engine, fresh, status="running", started_at=_ago(1), attempts=1)

    sweep()

    sent = ids(drain(queues.generation), "jobId")
    assert sorted(j for j in sent if j in {str(pending), str(running), str(exhausted), str(fresh)}) == sorted(
        [str(pending), str(running)]
    )
    gave_up = row(owner_engine, "job_queue", exhausted)
    assert gave_up["status"] == "failed" and gave_up["error_message"].startswith("stalled running")
    assert row(owner_engine, "job_queue", pending)["status"] == "pending"
    assert row(owner_engine, "job_queue", fresh)["status"] == "running"
    sweep()  # just sent again: left until the deadline passes again
    assert not {str(pending), str(running)} & set(ids(drain(queues.generation), "jobId"))


def test_a_job_the_sweeper_cannot_resend_fails_with_a_reason_after_its_deadline_and_video_jobs_follow_their_video(
    queues: Queues, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    old_import, recent_import, video_job = (
        generation_job(tenant_a, job_type=kind) for kind in ("import-dexie", "import-dexie", "generate-video")
    )
    set_job(owner_engine, old_import, scheduled_for=_ago(120))
    set_job(owner_engine, recent_import, scheduled_for=_ago(30))
    set_job(owner_engine, video_job, scheduled_for=_ago(120))

    sweep()

    failed = row(owner_engine, "job_queue", old_import)
    assert failed["status"] == "failed" and "no worker finished it" in failed["error_message"]
    assert row(owner_engine, "job_queue", recent_import)["status"] == "pending"
    assert row(owner_engine, "job_queue", video_job)["status"] == "pending"


def test_a_post_whose_next_message_was_lost_is_sent_again_at_its_step_and_due_or_fresh_posts_are_left(
    queues: Queues, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    processing = post_in(tenant_a, queues, owner_engine, "processing", step=3)
    publishing = post_in(tenant_a, queues, owner_engine, "publishing", step=1)
    fresh = post_in(tenant_a, queues, owner_engine, "processing", step=2)
    due = post_in(tenant_a, queues, owner_engine, "scheduled", step=0)
    age(owner_engine, "social_posts", processing, updated_at=45)
    age(owner_engine, "social_posts", publishing, updated_at=45)
    age(owner_engine, "social_posts", due, updated_at=45, scheduled_for=45)
    drain(queues.post)

    sweep()

    sent = {body["postId"]: body for body in drain(queues.post)}
    assert (sent[str(processing)]["step"], sent[str(publishing)]["step"]) == (3, 1)
    assert str(fresh) not in sent and str(due) not in sent  # the due post is DuePosts' to send
    assert row(owner_engine, "social_posts", processing)["status"] == "processing"


def test_two_sweeps_at_once_act_on_each_stuck_row_once(
    queues: Queues, tenant_a: uuid.UUID, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = lost_video(tenant_a, queues)
    job = generation_job(tenant_a)
    post = post_in(tenant_a, queues, owner_engine, "processing", step=2)
    age(owner_engine, "videos", video, updated_at=30)
    set_job(owner_engine, job, scheduled_for=_ago(30))
    age(owner_engine, "social_posts", post, updated_at=45)
    drain(queues.post)

    # Two sweeps at once: both list the same rows before either acts. Record what the first listed, let it act,
    # then let the second act on that same (now stale) listing, as it would after waiting on the row locks.
    listed: dict[str, Any] = {}
    real = {
        name: getattr(StuckWorkSystemRepository, name) for name in ("queued_videos", "stalled_jobs", "silent_posts")
    }

    def recording(name: str) -> Any:
        def method(self: StuckWorkSystemRepository, **kwargs: Any) -> Any:
            key = f"{name}:{sorted(kwargs.get('only') or ())}"
            listed[key] = real[name](self, **kwargs)
            return listed[key]

        return method

    def replaying(name: str) -> Any:
        return lambda self, **kwargs: listed[f"{name}:{sorted(kwargs.get('only') or ())}"]

    for name in real:
        monkeypatch.setattr(StuckWorkSystemRepository, name, recording(name))
    first = sweep()
    for name in real:
        monkeypatch.setattr(StuckWorkSystemRepository, name, replaying(name))
    second = sweep()

    assert {video, job, post} <= {r.id for rows in listed.values() for r in rows}
    assert first.resent["videos"] >= 1 and first.resent["jobs"] >= 1 and first.resent["posts"] >= 1
    assert (second.resent.total(), second.failed.total(), second.errors) == (0, 0, 0)
    assert ids(drain(queues.video), "videoId").count(str(video)) == 1
    assert ids(drain(queues.generation), "jobId").count(str(job)) == 1
    assert ids(drain(queues.post), "postId").count(str(post)) == 1


def test_the_system_listing_finds_every_tenant_by_id_only_and_the_system_role_reads_no_content(
    queues: Queues, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    videos = {tenant: lost_video(tenant, queues) for tenant in (tenant_a, tenant_b)}
    for video in videos.values():
        age(owner_engine, "videos", video, updated_at=30)

    with system_unit_of_work() as system:
        found = StuckWorkSystemRepository(system.session).queued_videos(idle_s=600, limit=10_000)
    assert {(r.tenant_id, r.id) for r in found} >= set(videos.items())
    assert all(set(vars(r)) == {"tenant_id", "id"} for r in found)

    for statement in (
        "select error_message from videos",
        "select metadata from videos",
        "select payload from job_queue",
        "select caption from social_posts",
        "update videos set status = 'failed'",
    ):
        with pytest.raises(Forbidden), system_unit_of_work() as system:
            system.session.execute(text(statement))


def test_tenant_b_can_neither_see_nor_claim_tenant_a_stuck_rows(
    queues: Queues, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    video = lost_video(tenant_a, queues)
    job = generation_job(tenant_a)
    post = post_in(tenant_a, queues, owner_engine, "processing", step=2)
    age(owner_engine, "videos", video, updated_at=30)
    set_job(owner_engine, job, scheduled_for=_ago(30))
    age(owner_engine, "social_posts", post, updated_at=45)
    before = {table: row(owner_engine, table, i) for table, i in (("videos", video), ("job_queue", job))}

    with unit_of_work(tenant_b) as uow:
        assert uow.repository(StuckVideoRepository).claim_queued(video, idle_s=60) is None
        uow.repository(StuckVideoRepository).fail_queued(video, status="failed", reason="not yours")
        assert uow.repository(StuckJobRepository).claim_stalled(job, idle_s=60) is None
        assert uow.repository(StuckJobRepository).id_for(f"video:{video}") is None
        assert uow.repository(StuckPostRepository).claim_silent(post, idle_s=60) is None

    assert {table: row(owner_engine, table, i) for table, i in (("videos", video), ("job_queue", job))} == before
    with unit_of_work(tenant_a) as uow:  # the owner can
        assert uow.repository(StuckVideoRepository).claim_queued(video, idle_s=60) is not None


def test_the_sweeper_handler_reports_what_it_did_and_the_sample_event_parses(
    queues: Queues, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    video = lost_video(tenant_a, queues)
    age(owner_engine, "videos", video, updated_at=30)

    answer = load_handler("sweeper").lambda_handler(load_event("schedule_sweeper"), LambdaContext())

    assert answer["resent"]["videos"] >= 1 and answer["errors"] == 0 and answer["notSent"] == 0
    assert str(video) in ids(drain(queues.video), "videoId")


def _ago(minutes: int) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) - timedelta(minutes=minutes)

"""The autopilot against the real database, moto and the sandbox platform: today's best concepts plus exploration are
rendered once, ready videos are posted once per chosen account, quota refusals stop the day cleanly, a disabled
autopilot does nothing, and tenant B can neither see nor change tenant A's autopilot.

Videos are made ready the way the worker leaves them (object in the bucket, row ready); the tests do not render.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.autopilot import service
from viral.autopilot.repository import AutopilotRepository
from viral.autopilot.service import read_settings, run_autopilot, update_settings
from viral.billing.service import set_plan
from viral.content.storage import save_generation
from viral.db.uow import unit_of_work
from viral.identity import auth
from viral.operations.repository import JobRepository
from viral.tenancy import tenant_scope

from tests import factories
from tests.events import LambdaContext, load_event, load_handler
from tests.fakes.social_platforms import SocialAws, connect_sandbox, social_aws
from tests.gateway import Gateway


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: object) -> Iterator[SocialAws]:
    """moto's bucket, post-jobs and video-jobs queues; the offline storyboard as the only provider."""
    import boto3
    from viral.settings import get_settings
    from viral.video.providers.registry import reset_providers

    with social_aws(monkeypatch, tmp_path) as social:
        video_queue = boto3.client("sqs").create_queue(QueueName="video-jobs")["QueueUrl"]
        for name in ("VEO_API_KEY", "RUNWAY_API_KEY", "LUMA_API_KEY", "VIDEO_SECRET_NAME"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("VIDEO_QUEUE_URL", video_queue)
        get_settings.cache_clear()
        reset_providers()
        try:
            yield social
        finally:
            reset_providers()


def pro(tenant: uuid.UUID) -> uuid.UUID:
    with tenant_scope(tenant):
        set_plan("PRO")
    return tenant


def daily_generation(tenant: uuid.UUID, concepts: list[tuple[str, float]], *, status: str = "completed") -> list[str]:
    """Today's daily generation of the tenant, finished: one concept per (category, TikTok score); their ids."""
    made = []
    for category, score in concepts:
        concept = factories.concept(category=category)
        concept["platformVirality"] = {
            "tiktok": {"score": score, "label": "HIGH REACH", "factors": []},
            "youtubeShorts": {"score": score - 20, "label": "SOLID", "factors": []},
        }
        made.append(concept)
    generation = factories.generation(concepts=made)
    today = datetime.now(UTC).date().isoformat()
    with tenant_scope(tenant):
        save_generation(generation)
        with unit_of_work() as uow:
            jobs = uow.repository(JobRepository)
            job, _ = jobs.enqueue(job_type="generate-concepts", payload={}, idempotency_key=f"daily:{today}")
            if status != "pending":
                jobs.finish(job.id, status=status, result={"generationId": generation["id"]})
    return [str(c["id"]) for c in made]


def enable(tenant: uuid.UUID, **settings: Any) -> None:
    with tenant_scope(tenant):
        update_settings({"enabled": True, **settings})


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r) for r in connection.execute(text(sql), params).mappings()]


def make_ready(aws: SocialAws, engine: Engine, tenant: uuid.UUID) -> int:
    """Every queued video of the tenant finished as the worker leaves it: object stored, row ready."""
    import boto3

    videos = rows(engine, "select id from videos where tenant_id = :t and status = 'queued'", t=tenant)
    for video in videos:
        key = f"videos/{tenant}/{video['id']}.mp4"
        boto3.client("s3").put_object(Bucket=aws.bucket, Key=key, Body=os.urandom(1024), ContentType="video/mp4")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "update videos set status = 'ready', s3_key = :k, size_bytes = 1024, duration_s = 12, "
                    "width = 720, height = 1280 where id = :v"
                ),
                {"k": key, "v": video["id"]},
            )
    return len(videos)


def key_of(tenant: uuid.UUID, *scopes: str) -> dict[str, str]:
    with tenant_scope(tenant):
        secret = auth.create_api_key(scopes=scopes or ("read", "write", "admin")).secret
    return {"Authorization": f"Bearer {secret}"}


def test_picks_are_the_top_scored_plus_exploration_and_a_rerun_picks_nothing_new(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    # Given a finished daily generation in which tech scores lowest
    pro(tenant_a)
    connect_sandbox(tenant_a)
    absurd, food, food2, tech = daily_generation(tenant_a, [("absurd", 90), ("food", 85), ("food", 80), ("tech", 40)])
    enable(tenant_a, videos_per_day=3)
    # When the autopilot runs
    first = run_autopilot(tenant_a)
    # Then the two best are picked, and the third explores a (category, platform) cell not tried yet; each once
    assert (first.picked, first.submitted, first.in_progress) == (3, 3, 3)
    picks = rows(
        owner_engine,
        "select slot, concept_id, kind, status, video_id, platform from autopilot_picks where tenant_id = :t "
        "order by slot",
        t=tenant_a,
    )
    assert [(p["slot"], p["concept_id"], p["kind"], p["status"]) for p in picks[:2]] == [
        (0, absurd, "top", "rendering"),
        (1, food, "top", "rendering"),
    ]
    assert (picks[2]["kind"], picks[2]["status"]) == ("exploration", "rendering")
    assert picks[2]["concept_id"] in (food2, tech)
    category = {absurd: "absurd", food: "food", food2: "food", tech: "tech"}
    cells = [(category[p["concept_id"]], p["platform"]) for p in picks]
    assert cells[2] not in cells[:2]  # a cell the top picks did not already try
    videos = rows(owner_engine, "select id, concept_id, platform from videos where tenant_id = :t", t=tenant_a)
    assert sorted(v["concept_id"] for v in videos) == sorted(p["concept_id"] for p in picks)
    assert {v["id"] for v in videos} == {p["video_id"] for p in picks}
    assert {(v["concept_id"], v["platform"]) for v in videos} == {(p["concept_id"], p["platform"]) for p in picks}
    # And a re-run picks and renders nothing new (the videos are still rendering)
    again = run_autopilot(tenant_a)
    assert (again.picked, again.submitted, again.in_progress) == (0, 0, 3)
    assert len(rows(owner_engine, "select id from videos where tenant_id = :t", t=tenant_a)) == 3


def test_nothing_is_picked_before_the_daily_generation_finishes(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    pro(tenant_a)
    connect_sandbox(tenant_a)
    enable(tenant_a)
    assert "has not run yet" in str(run_autopilot(tenant_a).waiting)
    daily_generation(tenant_a, [("absurd", 90)], status="pending")
    assert "still running" in str(run_autopilot(tenant_a).waiting)
    assert rows(owner_engine, "select id from autopilot_picks where tenant_id = :t", t=tenant_a) == []


def test_a_duplicate_message_and_a_run_that_died_render_nothing_twice(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pro(tenant_a)
    connect_sandbox(tenant_a)
    daily_generation(tenant_a, [("absurd", 90), ("food", 85), ("tech", 40)])
    enable(tenant_a, videos_per_day=3)
    # A run dies right after the video service queued the first video, before the pick recorded it.
    real = service.request_video
    calls = []

    def dies_once(concept_id: str, **kwargs: Any) -> Any:
        answer = real(concept_id, **kwargs)
        calls.append(concept_id)
        if len(calls) == 1:
            raise RuntimeError("the worker died here")
        return answer

    monkeypatch.setattr(service, "request_video", dies_once)
    with pytest.raises(RuntimeError):
        run_autopilot(tenant_a)
    # The same message delivered twice in one batch: the first delivery finishes the day, the second adds nothing.
    record = load_event("sqs_autopilot_job_v1")["Records"][0]
    body = json.dumps({"schemaVersion": 1, "tenantId": str(tenant_a), "scheduledAt": datetime.now(UTC).isoformat()})
    records = [{**record, "messageId": f"m{n}", "body": body} for n in range(2)]
    answer = load_handler("autopilot_worker").lambda_handler({"Records": records}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    videos = rows(owner_engine, "select concept_id from videos where tenant_id = :t", t=tenant_a)
    assert len(videos) == 3 and len({v["concept_id"] for v in videos}) == 3
    assert len(calls) == 3  # the died run's video was found again, not requested again
    # A run while another holds the tenant's lease does nothing.
    with owner_engine.begin() as connection:
        connection.execute(
            text("update autopilot_settings set run_lease_until = now() + interval '5 minutes' where tenant_id = :t"),
            {"t": tenant_a},
        )
    assert run_autopilot(tenant_a).outcome == "busy"


def test_a_ready_video_gets_exactly_one_post_per_chosen_account_once(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    # Given three sandbox accounts and three videos a day, round robin
    pro(tenant_a)
    accounts = [connect_sandbox(tenant_a, user=f"creator-{n}") for n in range(3)]
    daily_generation(tenant_a, [("absurd", 90), ("food", 85), ("tech", 40), ("news", 30)])
    enable(tenant_a, videos_per_day=3)
    run_autopilot(tenant_a)
    assert run_autopilot(tenant_a).posted == 0  # nothing is ready yet
    # When the videos become ready and the autopilot runs (twice)
    assert make_ready(aws, owner_engine, tenant_a) == 3
    first = run_autopilot(tenant_a)
    second = run_autopilot(tenant_a)
    # Then each video went to one account, each account got one video, and the second run posted nothing
    assert (first.posted, second.posted, first.post_failures) == (3, 0, 0)
    posts = rows(
        owner_engine,
        "select video_id, account_id, status, privacy, caption from social_posts where tenant_id = :t",
        t=tenant_a,
    )
    assert len(posts) == 3
    assert sorted(str(p["account_id"]) for p in posts) == sorted(str(a) for a in accounts)
    assert len({p["video_id"] for p in posts}) == 3
    assert {p["status"] for p in posts} == {"scheduled"} and {p["privacy"] for p in posts} == {"PUBLIC"}
    assert all(p["caption"] for p in posts)
    assert {
        p["status"] for p in rows(owner_engine, "select status from autopilot_picks where tenant_id = :t", t=tenant_a)
    } == {"posted"}
    # The post worker publishes each once (the posts were sent to post-jobs when scheduled).
    aws.run_all(load_handler("post_worker").lambda_handler)
    published = rows(owner_engine, "select status from social_posts where tenant_id = :t", t=tenant_a)
    assert [p["status"] for p in published] == ["published"] * 3


def test_every_account_mode_posts_each_video_to_each_chosen_account(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    pro(tenant_a)
    first, second, left_out = (connect_sandbox(tenant_a, user=f"creator-{n}") for n in range(3))
    daily_generation(tenant_a, [("absurd", 90), ("food", 85)])
    enable(
        tenant_a,
        videos_per_day=2,
        distribution="all_accounts",
        account_ids=[first, second],
        posting="hours",
        posting_hours=[18],
    )
    run_autopilot(tenant_a)
    make_ready(aws, owner_engine, tenant_a)
    assert run_autopilot(tenant_a).posted == 4
    posts = rows(owner_engine, "select account_id, scheduled_for from social_posts where tenant_id = :t", t=tenant_a)
    assert sorted(str(p["account_id"]) for p in posts) == sorted([str(first), str(first), str(second), str(second)])
    assert left_out not in {p["account_id"] for p in posts}
    assert {p["scheduled_for"].astimezone(UTC).hour for p in posts} == {18}  # at the set hour, not now


def test_quota_exhaustion_ends_the_day_cleanly(aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    # Given the FREE plan (3 videos a month) and five videos a day
    connect_sandbox(tenant_a)
    daily_generation(tenant_a, [("absurd", 90), ("food", 85), ("tech", 80), ("news", 70), ("music", 60)])
    enable(tenant_a, videos_per_day=5, exploration_share=0)
    # When the autopilot runs
    report = run_autopilot(tenant_a)
    # Then three videos are requested, the rest refused, and the status says why
    assert (report.picked, report.submitted, report.refused, report.error) == (5, 3, 2, None)
    assert "quota" in str(report.waiting)
    statuses = rows(
        owner_engine, "select status, error from autopilot_picks where tenant_id = :t order by slot", t=tenant_a
    )
    assert [s["status"] for s in statuses] == ["rendering"] * 3 + ["refused"] * 2
    assert statuses[-1]["error"] == "Video quota exceeded"
    # And later runs neither pick nor ask again
    again = run_autopilot(tenant_a)
    assert (again.picked, again.submitted, again.refused) == (0, 0, 0)
    assert len(rows(owner_engine, "select id from videos where tenant_id = :t", t=tenant_a)) == 3
    with tenant_scope(tenant_a):
        assert service.autopilot_answer()["status"]["stopped"] == "quota"


def test_a_disabled_autopilot_does_nothing_and_is_not_scheduled(
    aws: SocialAws, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from viral.settings import get_settings

    pro(tenant_a)
    connect_sandbox(tenant_a)
    daily_generation(tenant_a, [("absurd", 90)])
    assert run_autopilot(tenant_a).outcome == "disabled"  # never configured
    enable(tenant_a)
    with tenant_scope(tenant_a):
        update_settings({"enabled": False})
    assert run_autopilot(tenant_a).outcome == "disabled"
    assert rows(owner_engine, "select id from autopilot_picks where tenant_id = :t", t=tenant_a) == []
    assert rows(owner_engine, "select id from videos where tenant_id = :t", t=tenant_a) == []

    # The schedule lists only tenants with the autopilot on.
    enable(tenant_b)
    url = boto3.client("sqs").create_queue(QueueName="autopilot-jobs")["QueueUrl"]
    monkeypatch.setenv("AUTOPILOT_QUEUE_URL", url)
    get_settings.cache_clear()
    report = load_handler("autopilot_schedule").lambda_handler(load_event("schedule_autopilot"), LambdaContext())
    bodies = []
    while messages := boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            boto3.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    tenants = {b["tenantId"] for b in bodies}
    assert str(tenant_b) in tenants and str(tenant_a) not in tenants
    assert report["enqueued"] == report["tenants"] == len(bodies)


def test_enabling_turns_on_daily_generation_and_the_routes_need_their_scopes(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID
) -> None:
    admin, reader = key_of(tenant_a), key_of(tenant_a, "read", "write")
    shown = gateway.request("GET", "/api/autopilot", headers=reader)
    assert shown.status == HTTPStatus.OK
    assert (shown.json()["enabled"], shown.json()["videosPerDay"], shown.json()["explorationPicks"]) == (False, 3, 1)
    assert shown.json()["dailyGeneration"] is False
    refused = gateway.request("PUT", "/api/autopilot", headers=reader, json={"enabled": True})
    assert refused.status == HTTPStatus.FORBIDDEN
    changed = gateway.request("PUT", "/api/autopilot", headers=admin, json={"enabled": True, "videosPerDay": 2})
    assert changed.status == HTTPStatus.OK
    answer = changed.json()
    assert (answer["enabled"], answer["videosPerDay"], answer["explorationPicks"], answer["dailyGeneration"]) == (
        True,
        2,
        0,
        True,
    )
    assert answer["status"]["picks"] == [] and answer["status"]["postsMade"] == 0
    # Fields left out keep their value; null resets the account choice and the share to automatic.
    kept = gateway.request("PUT", "/api/autopilot", headers=admin, json={"explorationShare": 0.5, "accountIds": None})
    assert (kept.json()["videosPerDay"], kept.json()["explorationShare"], kept.json()["accountIds"]) == (2, 0.5, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"videosPerDay": 0}, "videosPerDay"),
        ({"videosPerDay": 21}, "videosPerDay"),
        ({"explorationShare": 1.5}, "explorationShare"),
        ({"distribution": "everywhere"}, "distribution"),
        ({"posting": "later"}, "posting"),
        ({"postingHours": [24]}, "postingHours"),
        ({"postingHours": [9, 9]}, "postingHours"),
        ({"accountIds": ["not-a-uuid"]}, "accountIds"),
        ({"enabled": None}, "enabled"),
        ({"surprise": True}, "surprise"),
        ({"posting": "hours"}, "postingHours"),
        ({"accountIds": [str(uuid.uuid4())]}, "accountIds"),
    ],
)
def test_bad_bodies_are_422_saying_what_is_wrong(
    gateway: Gateway, tenant_a: uuid.UUID, body: dict[str, Any], field: str
) -> None:
    answer = gateway.request("PUT", "/api/autopilot", headers=key_of(tenant_a), json=body)
    assert answer.status == HTTPStatus.UNPROCESSABLE_ENTITY, answer.body
    assert answer.json()["code"] == "VALIDATION_FAILED"
    assert field in json.dumps(answer.json()["details"]) or field in answer.json()["error"]
    with tenant_scope(tenant_a):
        assert read_settings().enabled is False  # nothing was written


def test_tenant_b_can_neither_see_nor_change_tenant_a_autopilot(
    aws: SocialAws,
    gateway: Gateway,
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    owner_engine: Engine,
    runtime_engine: Engine,
) -> None:
    pro(tenant_a)
    account_a = connect_sandbox(tenant_a)
    daily_generation(tenant_a, [("absurd", 90), ("food", 80)])
    enable(tenant_a, videos_per_day=2, account_ids=[account_a])
    run_autopilot(tenant_a)
    a, b = key_of(tenant_a), key_of(tenant_b)
    # B sees its own defaults, none of A's settings or picks
    seen = gateway.request("GET", "/api/autopilot", headers=b).json()
    assert (seen["enabled"], seen["accountIds"], seen["status"]["picks"]) == (False, None, [])
    # B cannot point its autopilot at A's account, and its changes never reach A
    refused = gateway.request("PUT", "/api/autopilot", headers=b, json={"accountIds": [str(account_a)]})
    assert refused.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert gateway.request("PUT", "/api/autopilot", headers=b, json={"videosPerDay": 9}).status == HTTPStatus.OK
    mine = gateway.request("GET", "/api/autopilot", headers=a).json()
    assert (mine["enabled"], mine["videosPerDay"], mine["accountIds"]) == (True, 2, [str(account_a)])
    assert len(mine["status"]["picks"]) == 2
    # B's run touches nothing of A's
    assert run_autopilot(tenant_b).outcome == "disabled"
    with unit_of_work(tenant_b) as uow:
        repository = uow.repository(AutopilotRepository)
        assert repository.picks_in("rendering") == [] and repository.settings().videos_per_day == 9  # type: ignore[union-attr]
    # Row-level security: bound to B, the runtime role sees and changes none of A's rows.
    with runtime_engine.connect() as connection, connection.begin():
        connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant_b)})
        assert connection.execute(text("select count(*) from autopilot_picks")).scalar_one() == 0
        assert (
            connection.execute(
                text("select count(*) from autopilot_settings where tenant_id = :a"), {"a": tenant_a}
            ).scalar_one()
            == 0
        )
        assert connection.execute(text("update autopilot_picks set status = 'failed'")).rowcount == 0
        assert (
            connection.execute(text("delete from autopilot_settings where tenant_id = :a"), {"a": tenant_a}).rowcount
            == 0
        )
    assert {
        p["status"] for p in rows(owner_engine, "select status from autopilot_picks where tenant_id = :t", t=tenant_a)
    } == {"rendering"}


def test_the_status_block_shows_picks_videos_posts_and_the_last_run(
    aws: SocialAws, gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    pro(tenant_a)
    connect_sandbox(tenant_a)
    daily_generation(tenant_a, [("absurd", 90), ("food", 85), ("tech", 40)])
    enable(tenant_a)
    run_autopilot(tenant_a)
    status = gateway.request("GET", "/api/autopilot", headers=key_of(tenant_a)).json()["status"]
    assert [p["kind"] for p in status["picks"]] == ["top", "top", "exploration"]
    assert status["videosInProgress"] == 3 and status["postsMade"] == 0 and status["stopped"] is None
    assert status["lastRun"]["submitted"] == 3 and status["lastRunAt"]
    assert all(p["title"] and p["videoStatus"] == "queued" for p in status["picks"])
    make_ready(aws, owner_engine, tenant_a)
    run_autopilot(tenant_a, now=datetime.now(UTC) + timedelta(seconds=1))
    status = gateway.request("GET", "/api/autopilot", headers=key_of(tenant_a)).json()["status"]
    assert status["postsMade"] == 3 and status["videosInProgress"] == 0
    assert all(p["status"] == "posted" and len(p["posts"]) == 1 for p in status["picks"])

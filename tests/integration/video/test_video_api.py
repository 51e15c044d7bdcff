"""The video routes through the real authorizer and Api function: request, status, listing, quota and isolation."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, text
from viral.content import storage
from viral.db.engine import reset_engine
from viral.errors import QuotaExceeded
from viral.identity import auth
from viral.operations.jobs import list_jobs
from viral.settings import get_settings
from viral.tenancy import tenant_scope
from viral.video.service import request_video

from tests import factories
from tests.events import load_handler
from tests.fakes.video_vendors import VideoAws, video_aws
from tests.gateway import Gateway


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, database_url: object) -> Iterator[VideoAws]:
    with video_aws(monkeypatch) as pipeline:
        yield pipeline


def key_of(tenant: uuid.UUID, *scopes: str) -> dict[str, str]:
    with tenant_scope(tenant):
        secret = auth.create_api_key(scopes=scopes or ("read", "write", "generate")).secret
    return {"Authorization": f"Bearer {secret}"}


def concepts_of(tenant: uuid.UUID, count: int = 1, category: str = "tech") -> list[str]:
    concepts = [factories.concept(category=category) for _ in range(count)]
    with tenant_scope(tenant):
        storage.save_generation(factories.generation(concepts=concepts))  # type: ignore[arg-type]
    return [str(c["id"]) for c in concepts]


def generate(gateway: Gateway, headers: dict[str, str], concept_id: str, **body: Any) -> Any:
    return gateway.request("POST", "/api/video/generate", headers=headers, json={"conceptId": concept_id, **body})


def set_tier(engine: Engine, tenant: uuid.UUID, tier: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("update tenants set subscription_tier = :tier where id = :t"), {"tier": tier, "t": tenant}
        )


def set_video_quota(engine: Engine, tenant: uuid.UUID, *, total: int, used: int = 0) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("update tenants set monthly_video_quota = :total, used_video_quota = :used where id = :t"),
            {"total": total, "used": used, "t": tenant},
        )


def test_generate_answers_the_original_shape_and_queues_one_job(
    gateway: Gateway, aws: VideoAws, tenant_a: uuid.UUID
) -> None:
    [concept_id] = concepts_of(tenant_a)
    response = generate(gateway, key_of(tenant_a), concept_id, platform="youtube-shorts")
    body = response.json()
    assert response.status == HTTPStatus.OK
    assert {k: body[k] for k in ("success", "conceptId", "message", "status", "provider")} == {
        "success": True,
        "conceptId": concept_id,
        "message": "Video generation started",
        "status": "queued",
        "provider": "storyboard",
    }
    [record] = aws.receive()
    assert json.loads(record["body"])["videoId"] == body["videoId"]
    with tenant_scope(tenant_a):
        [job] = list_jobs(limit=5, job_type="generate-video")
    assert (job.status, job.payload["videoId"], job.priority) == ("pending", body["videoId"], 9)


def test_a_repeated_request_joins_the_video_in_flight_without_a_second_charge(
    gateway: Gateway, aws: VideoAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    [concept_id] = concepts_of(tenant_a)
    headers = key_of(tenant_a)
    first = generate(gateway, headers, concept_id).json()
    again = generate(gateway, headers, concept_id).json()
    other_platform = generate(gateway, headers, concept_id, platform="instagram-reels").json()
    with owner_engine.connect() as connection:
        used = connection.execute(text("select used_video_quota from tenants where id = :t"), {"t": tenant_a}).scalar()
    assert again["videoId"] == first["videoId"]
    assert again["message"] == "Video generation already in progress"
    assert other_platform["videoId"] != first["videoId"]
    assert used == 2


def test_status_follows_the_video_to_ready_with_a_presigned_url(
    gateway: Gateway, aws: VideoAws, tenant_a: uuid.UUID
) -> None:
    [concept_id] = concepts_of(tenant_a)
    headers = key_of(tenant_a)
    target = f"/api/video/status?conceptId={concept_id}"
    before = gateway.request("GET", target, headers=headers).json()
    video_id = generate(gateway, headers, concept_id).json()["videoId"]
    queued = gateway.request("GET", target, headers=headers).json()
    aws.run_until_idle(load_handler("video_worker").lambda_handler)
    ready = gateway.request("GET", target, headers=headers).json()
    assert before == {"status": "not_started", "message": "Video generation not started"}
    # The original's status values (its clients poll for "completed"), the pipeline's state beside them
    assert (queued["status"], queued["state"], queued["videoUrl"]) == ("generating", "queued", None)
    assert {k: ready[k] for k in ("status", "state", "videoId", "provider", "cost", "error")} == {
        "status": "completed",
        "state": "ready",
        "videoId": video_id,
        "provider": "storyboard",
        "cost": 0.0,
        "error": None,
    }
    assert 10 <= ready["duration"] <= 30
    assert ready["generatedAt"] is not None
    url = urlsplit(ready["videoUrl"])
    query = parse_qs(url.query)
    assert url.path.endswith(f"/videos/{tenant_a}/{video_id}.mp4")
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"], "Signature V4: S3 refuses V2 on new buckets"
    assert query["X-Amz-Expires"] == ["900"]
    assert aws.object(f"videos/{tenant_a}/{video_id}.mp4")[4:8] == b"ftyp"


def test_videos_are_listed_newest_first_and_paginated(gateway: Gateway, aws: VideoAws, tenant_a: uuid.UUID) -> None:
    headers = key_of(tenant_a)
    ids = [generate(gateway, headers, c).json()["videoId"] for c in concepts_of(tenant_a, 3)]
    first = gateway.request("GET", "/api/videos?limit=2", headers=headers).json()
    rest = gateway.request("GET", "/api/videos?limit=2&offset=2", headers=headers).json()
    queued = gateway.request("GET", "/api/videos?status=queued", headers=headers).json()
    assert [v["videoId"] for v in first["videos"] + rest["videos"]] == ids[::-1]
    assert (first["total"], first["limit"], rest["offset"]) == (3, 2, 2)
    assert queued["total"] == 3


def test_tenant_b_can_neither_see_nor_request_tenant_a_videos(
    gateway: Gateway, aws: VideoAws, tenant_a: uuid.UUID, tenant_b: uuid.UUID
) -> None:
    [concept_id] = concepts_of(tenant_a)
    generate(gateway, key_of(tenant_a), concept_id)
    b = key_of(tenant_b)
    requested = generate(gateway, b, concept_id)
    status = gateway.request("GET", f"/api/video/status?conceptId={concept_id}", headers=b)
    listed = gateway.request("GET", "/api/videos", headers=b).json()
    filtered = gateway.request("GET", f"/api/videos?conceptId={concept_id}", headers=b).json()
    assert requested.status == HTTPStatus.NOT_FOUND
    assert requested.json() == {"error": "Concept not found", "code": "NOT_FOUND"}
    # As the original answered any concept without a video; the same for an id that exists nowhere
    assert (status.status, status.json()) == (
        HTTPStatus.OK,
        {"status": "not_started", "message": "Video generation not started"},
    )
    assert listed == {"videos": [], "total": 0, "limit": 50, "offset": 0}
    assert filtered["total"] == 0


def test_the_quota_refuses_the_request_past_the_plan_with_nothing_written(
    gateway: Gateway, aws: VideoAws, tenant_a: uuid.UUID
) -> None:
    headers = key_of(tenant_a)
    answers = [generate(gateway, headers, c) for c in concepts_of(tenant_a, 4)]  # FREE: 3 videos a month
    listed = gateway.request("GET", "/api/videos", headers=headers).json()
    assert [a.status for a in answers] == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]
    assert answers[3].json()["code"] == "QUOTA_EXCEEDED"
    assert "3 videos" in answers[3].json()["details"]
    assert listed["total"] == 3
    assert len(aws.receive()) == 3


def test_the_plan_raises_the_video_quota(aws: VideoAws, tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    with owner_engine.begin() as connection:
        connection.execute(text("update tenants set subscription_tier = 'STARTER' where id = :t"), {"t": tenant_a})
    with tenant_scope(tenant_a):
        for concept_id in concepts_of(tenant_a, 5):
            request_video(concept_id)
    with owner_engine.connect() as connection:
        used = connection.execute(text("select used_video_quota from tenants where id = :t"), {"t": tenant_a}).scalar()
    assert used == 5


@pytest.fixture
def separate_connections(database_url: object) -> Iterator[None]:
    """One connection per session (NullPool), so parallel requests really race in the database."""
    previous = os.environ.get("DB_POOL_MODE")
    os.environ["DB_POOL_MODE"] = "null"
    get_settings.cache_clear()
    reset_engine()
    yield
    if previous is None:
        os.environ.pop("DB_POOL_MODE", None)
    else:
        os.environ["DB_POOL_MODE"] = previous
    get_settings.cache_clear()
    reset_engine()


def race(tenant: uuid.UUID, concept_ids: list[str]) -> list[str]:
    barrier = threading.Barrier(len(concept_ids))
    outcomes: list[str] = []

    def call(concept_id: str) -> None:
        barrier.wait(timeout=20)
        try:
            with tenant_scope(tenant):
                outcomes.append(str(request_video(concept_id).video.id))
        except QuotaExceeded:
            outcomes.append("exceeded")
        except Exception as error:  # collected and asserted below
            outcomes.append(repr(error))

    threads = [threading.Thread(target=call, args=(c,)) for c in concept_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_parallel_requests_never_exceed_the_quota(
    separate_connections: None, aws: VideoAws, new_tenant: Any, owner_engine: Engine
) -> None:
    tenant = new_tenant("Parallel videos")
    set_video_quota(owner_engine, tenant, total=3)
    outcomes = race(tenant, concepts_of(tenant, 10))
    with owner_engine.connect() as connection:
        used = connection.execute(text("select used_video_quota from tenants where id = :t"), {"t": tenant}).scalar()
        videos = connection.execute(text("select count(*) from videos where tenant_id = :t"), {"t": tenant}).scalar()
    assert sorted(o == "exceeded" for o in outcomes) == [False] * 3 + [True] * 7, outcomes
    assert used == videos == 3


def test_parallel_repeats_of_one_request_make_one_video_and_one_charge(
    separate_connections: None, aws: VideoAws, new_tenant: Any, owner_engine: Engine
) -> None:
    tenant = new_tenant("Parallel repeats")
    [concept_id] = concepts_of(tenant)
    outcomes = race(tenant, [concept_id] * 6)
    with owner_engine.connect() as connection:
        used = connection.execute(text("select used_video_quota from tenants where id = :t"), {"t": tenant}).scalar()
    assert len(set(outcomes)) == 1, outcomes
    uuid.UUID(outcomes[0])
    assert used == 1


def test_bad_requests_are_refused_with_what_is_wrong(
    gateway: Gateway, aws: VideoAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    set_tier(owner_engine, tenant_a, "AGENCY")  # may pick any provider: the pick below is refused as unconfigured
    headers = key_of(tenant_a)
    [concept_id] = concepts_of(tenant_a)
    no_id = gateway.request("POST", "/api/video/generate", headers=headers, json={})
    bad_platform = generate(gateway, headers, concept_id, platform="myspace")
    unconfigured = generate(gateway, headers, concept_id, provider="veo")
    status_without_id = gateway.request("GET", "/api/video/status", headers=headers)
    read_only = generate(gateway, key_of(tenant_a, "read"), concept_id)
    assert no_id.status == bad_platform.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert no_id.json()["details"][0]["field"] == "conceptId"
    assert (unconfigured.status, unconfigured.json()["error"]) == (
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "video provider 'veo' is not configured",
    )
    assert (status_without_id.status, status_without_id.json()["details"]) == (
        HTTPStatus.UNPROCESSABLE_ENTITY,
        [{"field": "conceptId", "message": "Field required"}],
    )
    assert read_only.status == HTTPStatus.FORBIDDEN
    assert aws.receive() == []


def test_a_queue_outage_answers_503_and_asking_again_sends_the_same_video(
    gateway: Gateway, aws: VideoAws, tenant_a: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    from viral.errors import Retryable
    from viral.video import service as videos

    [concept_id] = concepts_of(tenant_a)
    headers = key_of(tenant_a)
    working_send = videos.send

    def outage(*args: Any, **kwargs: Any) -> str:
        raise Retryable("the queue did not accept the message")

    monkeypatch.setattr(videos, "send", outage)
    refused = generate(gateway, headers, concept_id)
    monkeypatch.setattr(videos, "send", working_send)
    retried = generate(gateway, headers, concept_id)
    [record] = aws.receive()
    assert refused.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert retried.status == HTTPStatus.OK
    assert json.loads(record["body"])["videoId"] == retried.json()["videoId"]
    assert gateway.request("GET", "/api/videos", headers=headers).json()["total"] == 1


@pytest.mark.parametrize(
    ("tier", "category", "picked", "allowed"),
    [
        ("FREE", "tech", "runway", ["storyboard"]),
        ("FREE", "food", "luma", ["storyboard"]),
        ("STARTER", "tech", "runway", ["storyboard", "luma", "veo"]),
        ("PRO", "food", "runway", ["storyboard", "luma"]),
        ("PRO", "news", "runway", ["storyboard", "luma", "veo"]),
    ],
)
def test_a_client_cannot_pick_a_provider_its_plan_and_the_concepts_tier_do_not_allow(
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    tenant_a: uuid.UUID,
    owner_engine: Engine,
    tier: str,
    category: str,
    picked: str,
    allowed: list[str],
) -> None:
    vendor_keys = {"VEO_API_KEY": "k", "RUNWAY_API_KEY": "k", "LUMA_API_KEY": "k"}
    with video_aws(monkeypatch, **vendor_keys) as pipeline:
        set_tier(owner_engine, tenant_a, tier)
        headers = key_of(tenant_a)
        [concept_id] = concepts_of(tenant_a, category=category)
        refused = generate(gateway, headers, concept_id, provider=picked)
        allowed_pick = generate(gateway, headers, concept_id, provider=allowed[-1])
        sent = pipeline.receive()
    assert refused.status == HTTPStatus.FORBIDDEN
    assert refused.json()["code"] == "FORBIDDEN"
    assert refused.json()["details"]["allowed"] == allowed
    assert all(name in refused.json()["error"] for name in allowed)
    assert allowed_pick.status == HTTPStatus.OK
    assert allowed_pick.json()["provider"] == allowed[-1]
    assert len(sent) == 1, "the refused pick queued nothing"
    with owner_engine.connect() as connection:
        used = connection.execute(text("select used_video_quota from tenants where id = :t"), {"t": tenant_a})
        assert used.scalar_one() == 1, "and charged nothing"


def test_the_agency_plan_may_pick_the_costliest_provider_for_any_concept(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    with video_aws(monkeypatch, RUNWAY_API_KEY="k", LUMA_API_KEY="k"):
        set_tier(owner_engine, tenant_a, "AGENCY")
        [concept_id] = concepts_of(tenant_a, category="food")
        answer = generate(gateway, key_of(tenant_a), concept_id, provider="runway")
    assert (answer.status, answer.json()["provider"]) == (HTTPStatus.OK, "runway")

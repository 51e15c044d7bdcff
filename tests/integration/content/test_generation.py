"""The concept engine end to end on the real database: concepts, scores, quota, trends cache, daily jobs."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from viral.content import storage
from viral.content.concepts import ConceptRequest, post_time, write_concepts
from viral.content.generation import generate
from viral.content.schemas import TrendData
from viral.content.scoring import ScoreModel
from viral.content.trend_sources.offline import offline_topics, offline_trends
from viral.db.engine import get_engine
from viral.errors import QuotaExceeded
from viral.identity import auth
from viral.tenancy import tenant_scope

from tests.gateway import Gateway

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
DASHBOARD_FIELDS = {
    "id",
    "title",
    "script",
    "soraPrompt",
    "veoPrompt",
    "caption",
    "hashtags",
    "postTime",
    "whyItWorks",
    "trendSource",
    "category",
    "platformVirality",
    "monetization",
    "variants",
}


def set_quota(owner_engine: Engine, tenant: uuid.UUID, *, total: int, used: int = 0) -> None:
    with owner_engine.begin() as connection:
        connection.execute(
            text("update tenants set monthly_quota = :t, used_quota = :u where id = :id"),
            {"t": total, "u": used, "id": tenant},
        )


def test_generate_with_no_keys_makes_complete_scored_concepts(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    set_quota(owner_engine, tenant_a, total=100)
    with tenant_scope(tenant_a):
        result = generate(now=NOW, seed=7)
        stored = storage.get_generation(result.generation.id)
    answer = result.wire()
    assert 10 <= len(answer["concepts"]) <= 36
    for concept in answer["concepts"]:
        assert set(concept) >= DASHBOARD_FIELDS
        assert len(concept["script"]) == 4
        for platform in ("tiktok", "youtubeShorts", "instagramReels"):
            score = concept["platformVirality"][platform]
            assert 0 <= score["score"] < 100
            assert score["breakdown"]["modelVersion"] == 1
            assert {f["name"] for f in score["breakdown"]["factors"]} == {
                "trendSignals",
                "categoryWeight",
                "platformMultiplier",
                "recency",
                "hook",
            }
    per_category: dict[str, int] = {}
    for concept in answer["concepts"]:
        per_category[concept["category"]] = per_category.get(concept["category"], 0) + 1
    assert max(per_category.values()) <= 3
    assert answer["quota"] == {
        "used": len(answer["concepts"]),
        "total": 100,
        "remaining": 100 - len(answer["concepts"]),
        "requested": len(answer["concepts"]),
        "granted": len(answer["concepts"]),
        "limited": False,
    }
    assert stored is not None
    assert [c.id for c in stored.concepts] == [c["id"] for c in answer["concepts"]]


def test_seeded_generation_is_deterministic() -> None:
    trends = offline_trends(now=NOW, seed=1)
    first = write_concepts(trends, ConceptRequest(), model=ScoreModel(), rng=random.Random(42), now=NOW)
    second = write_concepts(trends, ConceptRequest(), model=ScoreModel(), rng=random.Random(42), now=NOW)
    other = write_concepts(trends, ConceptRequest(), model=ScoreModel(), rng=random.Random(43), now=NOW)
    assert [c.wire() for c in first] == [c.wire() for c in second]
    assert [c.title for c in first] != [c.title for c in other]


def test_scores_do_not_saturate_on_the_bundled_trend_set() -> None:
    trends = offline_trends(now=NOW, per_category=25, seed=3)
    assert len(trends) == len(offline_topics())
    concepts = []
    rng = random.Random(5)
    for trend in trends:  # one concept per topic, no per-category cap
        concepts += write_concepts([trend], ConceptRequest(), model=ScoreModel(), rng=rng, now=NOW)
    scores = [
        c.wire()["platformVirality"][p]["score"]
        for c in concepts
        for p in ("tiktok", "youtubeShorts", "instagramReels")
    ]
    assert sum(1 for s in scores if s >= 100) / len(scores) < 0.05
    assert len(set(scores)) > 30, "scores spread over the range"


@pytest.mark.parametrize(
    ("now", "zone"), [(datetime(2026, 7, 1, 12, tzinfo=UTC), "EDT"), (datetime(2026, 1, 14, 12, tzinfo=UTC), "EST")]
)
def test_posting_times_use_real_time_zones(now: datetime, zone: str) -> None:
    for seed in range(20):
        slot = post_time(random.Random(seed), now=now)
        at = datetime.fromisoformat(slot["at"])
        assert at > now
        assert slot["est"].endswith(zone)
        offset = 4 if zone == "EDT" else 5
        local_hour = (at.hour - offset) % 24
        assert slot["est"].startswith(f"{(local_hour % 12) or 12}:")
        assert slot["utc"] == at.strftime("%H:%M UTC")


def test_quota_limits_the_call_and_then_refuses_with_nothing_written(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    set_quota(owner_engine, tenant_a, total=10)
    with tenant_scope(tenant_a):
        first = generate(now=NOW, seed=1)
        assert len(first.generation.concepts) == 10
        assert first.quota.wire()["limited"] is True
        assert first.quota.requested > 10
        with pytest.raises(QuotaExceeded) as refused:
            generate(now=NOW, seed=2)
        assert storage.count_generations() == 1
    assert "10 concepts" in str(refused.value.details)


def test_twenty_parallel_calls_never_exceed_the_quota(new_tenant: Any, owner_engine: Engine) -> None:
    tenant = new_tenant("Parallel")
    set_quota(owner_engine, tenant, total=10)
    with tenant_scope(tenant):
        generate(now=NOW, seed=0, request=ConceptRequest(count=1))  # warm the trend cache first
    set_quota(owner_engine, tenant, total=10, used=0)
    with owner_engine.begin() as connection:
        connection.execute(text("delete from generations where tenant_id = :t"), {"t": tenant})
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def call(seed: int) -> None:
        barrier.wait(timeout=20)
        try:
            with tenant_scope(tenant):
                result = generate(ConceptRequest(count=3), now=NOW, seed=seed)
            outcomes.append(f"ok:{len(result.generation.concepts)}")
        except QuotaExceeded:
            outcomes.append("exceeded")
        except Exception as error:  # collected and asserted below
            outcomes.append(repr(error))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    granted = sum(int(o.split(":")[1]) for o in outcomes if o.startswith("ok:"))
    assert all(o.startswith("ok:") or o == "exceeded" for o in outcomes), outcomes
    with owner_engine.connect() as connection:
        stored = connection.execute(text("select count(*) from concepts where tenant_id = :t"), {"t": tenant}).scalar()
        used = connection.execute(text("select used_quota from tenants where id = :t"), {"t": tenant}).scalar()
    assert granted == stored == used == 10


@pytest.fixture
def statements(database_url: object) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(get_engine(), "before_cursor_execute", record)
    yield seen
    event.remove(get_engine(), "before_cursor_execute", record)


def test_warm_generate_takes_five_statements(tenant_a: uuid.UUID, owner_engine: Engine, statements: list[str]) -> None:
    set_quota(owner_engine, tenant_a, total=1000)
    with tenant_scope(tenant_a):
        generate(now=NOW, seed=1)  # fills the trend cache if needed
        statements.clear()
        generate(now=NOW, seed=2)
    assert len(statements) <= 5


def test_trend_cache_is_shared_and_refreshable(
    gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    with tenant_scope(tenant_a):
        key_a = auth.create_api_key().secret
    with tenant_scope(tenant_b):
        key_b = auth.create_api_key().secret
    first = gateway.request("GET", "/api/trends", headers={"Authorization": f"Bearer {key_a}"}).json()
    second = gateway.request("GET", "/api/trends", headers={"Authorization": f"Bearer {key_b}"}).json()
    assert first["fetchedAt"] == second["fetchedAt"]
    assert {"potentialLabel", "topic", "score", "recency", "category"} <= set(first["trends"][0])
    with owner_engine.begin() as connection:  # a minute later (refreshes are at most once a minute)
        connection.execute(text("update trend_refreshes set claimed_at = claimed_at - interval '61 seconds'"))
    refreshed = gateway.request("POST", "/api/trends", headers={"Authorization": f"Bearer {key_a}"}).json()
    assert refreshed["refreshed"] is True
    assert refreshed["fetchedAt"] > first["fetchedAt"]
    TrendData.model_validate(refreshed["trends"][0])


def test_generate_route_answers_the_original_shape_and_429_with_nothing_written(
    gateway: Gateway, tenant_a: uuid.UUID
) -> None:
    with tenant_scope(tenant_a):
        key = auth.create_api_key().secret
    headers = {"Authorization": f"Bearer {key}"}
    first = gateway.request("POST", "/api/generate", headers=headers)
    body = first.json()
    assert first.status == HTTPStatus.OK
    assert {"id", "date", "concepts", "trends", "isFavorite", "quota"} <= set(body)
    assert len(body["concepts"]) == 6  # no body: the default batch, not the whole month
    assert body["quota"]["used"] == 6
    rest = gateway.request("POST", "/api/generate", headers=headers).json()
    assert len(rest["concepts"]) == 4  # what is left of FREE's 10
    assert rest["quota"]["used"] == 10
    refused = gateway.request("POST", "/api/generate", headers=headers)
    assert refused.status == HTTPStatus.TOO_MANY_REQUESTS
    assert refused.json()["code"] == "QUOTA_EXCEEDED"
    assert refused.json()["error"] == "Quota exceeded"
    history = gateway.request("GET", "/api/history", headers=headers).json()
    assert history["total"] == 2


def test_generate_route_choices_and_bad_body(gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    set_quota(owner_engine, tenant_a, total=100)
    with tenant_scope(tenant_a):
        key = auth.create_api_key().secret
    headers = {"Authorization": f"Bearer {key}"}
    chosen = gateway.request(
        "POST", "/api/generate", headers=headers, json={"categories": ["food", "music"], "count": 4}
    ).json()
    assert len(chosen["concepts"]) == 4
    assert {c["category"] for c in chosen["concepts"]} <= {"food", "music"}
    bad = gateway.request("POST", "/api/generate", headers=headers, json={"categories": ["crypto"], "count": 99})
    assert bad.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert {d["field"].split(".")[0] for d in bad.json()["details"]} == {"categories", "count"}


def test_generate_counts_generations_and_concepts_without_naming_the_tenant(
    tenant_a: uuid.UUID, owner_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    set_quota(owner_engine, tenant_a, total=100)
    capsys.readouterr()
    with tenant_scope(tenant_a):
        result = generate(now=NOW, seed=11)
    emitted = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    values = {
        name: record[name]
        for record in map(json.loads, emitted)
        for name in ("Generations", "Concepts")
        if name in record
    }
    assert values == {"Generations": [1.0], "Concepts": [float(len(result.generation.concepts))]}
    assert not any(str(tenant_a) in line for line in emitted)

"""The shared trend cache is refreshed from the vendors at most once a minute, whichever tenants ask."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from http import HTTPStatus

import httpx
import pytest
from sqlalchemy import Engine, text
from viral.content import trends as trends_module
from viral.content.schemas import TrendData
from viral.content.trend_sources import build_trend
from viral.content.trends import refresh_shared_trends
from viral.identity import auth
from viral.tenancy import tenant_scope

from tests.gateway import Gateway


class CountingSource:
    """A vendor stand-in that counts how often it is asked (each call spends the shared quota)."""

    name = "counting"
    share = 5

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def configured(self) -> bool:
        return True

    def fetch(self, client: httpx.Client, *, now: datetime) -> list[TrendData]:
        with self._lock:
            self.calls += 1
            n = self.calls
        topic = f"Robot chef cooks dinner, take {n}"
        return [
            build_trend(
                source="YouTube",
                source_api="youtube",
                key=topic,
                topic=topic,
                category="tech",
                recency="today",
                visual=90,
                emotion=90,
                share=90,
                now=now,
            )
        ]


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch, owner_engine: Engine) -> Iterator[CountingSource]:
    """The only configured trend source, with no refresh claimed yet (the claim is global, as the cache is)."""
    with owner_engine.begin() as connection:
        connection.execute(text("delete from trend_refreshes"))
    counting = CountingSource()
    monkeypatch.setattr(trends_module, "configured_sources", lambda settings: [counting])
    yield counting
    with owner_engine.begin() as connection:
        connection.execute(text("delete from trend_refreshes"))


def key_of(tenant: uuid.UUID) -> str:
    with tenant_scope(tenant):
        return auth.create_api_key().secret


def age_the_claim(engine: Engine, seconds: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("update trend_refreshes set claimed_at = claimed_at - make_interval(secs => :s)"), {"s": seconds}
        )


def test_a_second_tenant_refreshing_within_the_minute_gets_the_fresh_cache_without_asking_the_vendors(
    gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, source: CountingSource, owner_engine: Engine
) -> None:
    key_a, key_b = key_of(tenant_a), key_of(tenant_b)
    first = gateway.request("POST", "/api/trends", headers={"Authorization": f"Bearer {key_a}"})
    second = gateway.request("POST", "/api/trends", headers={"Authorization": f"Bearer {key_b}"})
    assert (first.status, second.status) == (HTTPStatus.OK, HTTPStatus.OK)
    assert first.json()["refreshed"] is True
    assert second.json()["refreshed"] is False
    assert second.json()["fetchedAt"] == first.json()["fetchedAt"]
    assert second.json()["trends"] == first.json()["trends"]
    assert source.calls == 1

    age_the_claim(owner_engine, 61)  # a minute later anyone may refresh again
    third = gateway.request("POST", "/api/trends", headers={"Authorization": f"Bearer {key_b}"}).json()
    assert third["refreshed"] is True
    assert third["fetchedAt"] > first.json()["fetchedAt"]
    assert any(t["topic"].endswith("take 2") for t in third["trends"])
    assert source.calls == 2


def test_tenants_refreshing_at_the_same_moment_ask_the_vendors_once(
    tenant_a: uuid.UUID, tenant_b: uuid.UUID, source: CountingSource
) -> None:
    barrier = threading.Barrier(4)
    outcomes: list[bool] = []

    def refresh(tenant: uuid.UUID) -> None:
        with tenant_scope(tenant):
            barrier.wait(timeout=10)
            outcomes.append(refresh_shared_trends().refreshed)

    threads = [threading.Thread(target=refresh, args=(t,)) for t in (tenant_a, tenant_b, tenant_a, tenant_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == [False, False, False, True]
    assert source.calls == 1


def test_a_stale_cache_read_while_a_refresh_is_claimed_answers_without_asking_the_vendors(
    tenant_a: uuid.UUID, source: CountingSource, owner_engine: Engine
) -> None:
    from viral.content.trends import current_trends

    with tenant_scope(tenant_a):
        refresh_shared_trends()
    with owner_engine.begin() as connection:  # the cache went stale, but someone refreshed a moment ago
        connection.execute(text("update trend_snapshots set fetched_at = fetched_at - interval '1 day'"))
        connection.execute(text("update trend_refreshes set claimed_at = now()"))
    with tenant_scope(tenant_a):
        found, _ = current_trends()
    assert source.calls == 1
    assert found

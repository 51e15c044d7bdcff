"""The shared token buckets on the real PostgreSQL: both buckets or neither, refill, window reset, pauses, and
concurrent draws from many threads that never spend more than a bucket holds."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from viral.analytics.budgets import Bucket, BudgetRepository, Refusal
from viral.db.uow import unit_of_work

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def key(name: str) -> str:
    return f"test:{name}:{uuid.uuid4().hex[:8]}"


def draw(tenant: uuid.UUID, buckets: list[Bucket], at: datetime, cost: float = 1.0) -> Refusal | None:
    with unit_of_work(tenant) as uow:
        return uow.repository(BudgetRepository).draw(buckets, now=at, cost=cost)


def tokens(tenant: uuid.UUID, name: str) -> float:
    with unit_of_work(tenant) as uow:
        found = uow.repository(BudgetRepository).tokens(name)
    assert found is not None
    return found[0]


def test_a_draw_spends_from_both_buckets_or_from_neither(tenant_a: uuid.UUID) -> None:
    app, account = Bucket(key("app"), 5), Bucket(key("account"), 2)
    assert draw(tenant_a, [app, account], T0) is None
    assert draw(tenant_a, [app, account], T0) is None
    refused = draw(tenant_a, [app, account], T0)
    assert refused is not None and refused.key == account.key and not refused.paused
    assert (tokens(tenant_a, app.key), tokens(tenant_a, account.key)) == (3, 0)  # the app kept its tokens


def test_a_bucket_refills_with_time_and_a_window_quota_is_full_again_when_its_window_ends(
    tenant_a: uuid.UUID,
) -> None:
    minute = Bucket(key("minute"), 60, 1.0)
    for _ in range(60):
        assert draw(tenant_a, [minute], T0) is None
    refused = draw(tenant_a, [minute], T0)
    assert refused is not None and refused.until == T0 + timedelta(seconds=1)
    assert draw(tenant_a, [minute], T0 + timedelta(seconds=2)) is None  # two tokens back, one spent

    day = Bucket(key("day"), 2, 0.0, resets_at=T0 + timedelta(hours=3))
    assert draw(tenant_a, [day], T0, cost=2) is None
    refused = draw(tenant_a, [day], T0 + timedelta(hours=1))
    assert refused is not None and refused.until == T0 + timedelta(hours=3)
    next_window = Bucket(day.key, 2, 0.0, resets_at=T0 + timedelta(hours=27))
    assert draw(tenant_a, [next_window], T0 + timedelta(hours=3, seconds=1)) is None
    assert tokens(tenant_a, day.key) == 1


def test_a_paused_bucket_refuses_until_the_stated_time(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    app, account = Bucket(key("app"), 100), Bucket(key("account"), 100)
    with unit_of_work(tenant_a) as uow:
        uow.repository(BudgetRepository).pause(app, until=T0 + timedelta(minutes=2), reason="429", now=T0)
    refused = draw(tenant_a, [app, account], T0 + timedelta(minutes=1))
    assert refused == Refusal(app.key, T0 + timedelta(minutes=2), True, "paused by the platform")
    assert tokens(tenant_a, account.key) == 100  # nothing spent while refused
    assert draw(tenant_a, [app, account], T0 + timedelta(minutes=2, seconds=1)) is None
    with owner_engine.connect() as connection:
        reason = connection.execute(text("select pause_reason from platform_budgets where key = :k"), {"k": app.key})
        assert reason.scalar_one() == "429"


@pytest.mark.parametrize("threads", [8])
def test_concurrent_draws_never_spend_more_than_the_capacity(
    tenant_a: uuid.UUID, tenant_b: uuid.UUID, threads: int
) -> None:
    shared = Bucket(key("app"), 20)
    granted: list[bool] = []
    lock = threading.Lock()

    def hammer(tenant: uuid.UUID, account: Bucket) -> None:
        for _ in range(10):
            outcome = draw(tenant, [shared, account], T0) is None
            with lock:
                granted.append(outcome)

    workers = [
        threading.Thread(target=hammer, args=((tenant_a, tenant_b)[n % 2], Bucket(key(f"account{n}"), 100)))
        for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(granted) == threads * 10 and sum(granted) == 20
    assert tokens(tenant_a, shared.key) == 0


def test_the_runtime_role_may_draw_but_never_delete_a_bucket(tenant_a: uuid.UUID, runtime_engine: Engine) -> None:
    name = key("app")
    assert draw(tenant_a, [Bucket(name, 3)], T0) is None
    with runtime_engine.connect() as connection:
        assert connection.execute(text("select tokens from platform_budgets where key = :k"), {"k": name}).scalar() == 2
        with pytest.raises(Exception, match="permission denied"):
            connection.execute(text("delete from platform_budgets where key = :k"), {"k": name})
        connection.rollback()

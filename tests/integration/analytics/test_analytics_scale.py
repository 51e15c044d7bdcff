"""Analytics at scale: the schedule's set-based choice of due posts (a system path over every tenant) agrees with
each tenant's own choice, returns tenant and post ids only, and the batched snapshot write is idempotent.

Real PostgreSQL; posts are seeded as the owner with known publishing times.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.analytics.repository import (
    CATCH_UP,
    DuePostRef,
    DueSnapshotSystemRepository,
    SnapshotRepository,
    due_bucket,
)
from viral.db.uow import system_unit_of_work, unit_of_work
from viral.errors import Forbidden, InvalidInput

NOW = datetime.now(UTC).replace(microsecond=0)
H = timedelta(hours=1)

# (age, bucket already snapshotted or None, due bucket expected or None): every bucket's window edges.
MIXED: list[tuple[timedelta, str | None, str | None]] = [
    (30 * timedelta(minutes=1), None, None),  # younger than the first age
    (1 * H, None, "1h"),  # at the age exactly
    (2 * H, None, "1h"),
    (2 * H, "1h", None),  # already snapshotted
    (5 * H + 59 * timedelta(minutes=1), None, "1h"),
    (7 * H, None, "6h"),
    (7 * H, "1h", "6h"),  # the earlier bucket's snapshot does not count for this one
    (25 * H, None, "24h"),
    (24 * H + CATCH_UP + H, None, None),  # past the 24 h window, still short of 72 h
    (73 * H, None, "72h"),
    (73 * H, "72h", None),
    (72 * H + CATCH_UP + H, None, None),
    (7 * 24 * H + 2 * H, None, "7d"),
    (7 * 24 * H + CATCH_UP + H, None, None),
    (30 * 24 * H + H, None, "30d"),
    (30 * 24 * H + CATCH_UP + H, None, None),
    (40 * 24 * H, None, None),
]


def seed_posts(
    engine: Engine, tenant: uuid.UUID, mixed: list[tuple[timedelta, str | None, str | None]]
) -> dict[uuid.UUID, str | None]:
    """Published sandbox posts of the tenant at the given ages (with the given snapshot), plus a scheduled post and
    a published one without the platform's id; {post id: expected due bucket}."""
    expected: dict[uuid.UUID, str | None] = {}
    with engine.begin() as connection:
        account, video = uuid.uuid4(), uuid.uuid4()
        connection.execute(
            text(
                "insert into social_accounts (id, tenant_id, platform, username, platform_account_id, access_token) "
                "values (:a, :t, 'sandbox', 'creator', :pa, 'v1.x.y')"
            ),
            {"a": account, "t": tenant, "pa": f"sbx-{account}"},
        )
        connection.execute(
            text(
                "insert into videos (id, tenant_id, platform, provider, status, s3_key) "
                "values (:v, :t, 'tiktok', 'storyboard', 'ready', 'videos/x.mp4')"
            ),
            {"v": video, "t": tenant},
        )
        rows = [(age, taken, due, "published", True) for age, taken, due in mixed]
        rows += [(2 * H, None, None, "scheduled", False), (2 * H, None, None, "failed", True)]
        for age, taken, due, status, has_platform_id in rows:
            post = connection.execute(
                text(
                    "insert into social_posts (tenant_id, video_id, account_id, platform, status, platform_post_id, "
                    "posted_at, scheduled_for) values (:t, :v, :a, 'sandbox', :s, :pp, :at, :at) returning id"
                ),
                {
                    "t": tenant,
                    "v": video,
                    "a": account,
                    "s": status,
                    "pp": f"sbx-{uuid.uuid4()}" if has_platform_id else None,
                    "at": NOW - age,
                },
            ).scalar_one()
            if taken is not None:
                connection.execute(
                    text(
                        "insert into analytics_snapshots (tenant_id, post_id, platform, bucket, raw, methodology) "
                        "values (:t, :p, 'sandbox', :b, '{}'::jsonb, 'sandbox')"
                    ),
                    {"t": tenant, "p": post, "b": taken},
                )
            expected[post] = due
    return expected


def system_due(tenants: set[uuid.UUID]) -> list[DuePostRef]:
    with system_unit_of_work() as system:
        return [ref for ref in DueSnapshotSystemRepository(system.session).due(NOW) if ref.tenant_id in tenants]


def test_due_bucket_keeps_the_largest_age_reached_within_its_window() -> None:
    for age, taken, expected in MIXED:
        if taken is None:
            assert due_bucket(age) == expected, age


def test_the_set_based_choice_and_each_tenants_due_choose_the_same_posts(
    owner_engine: Engine, tenant_a: uuid.UUID, tenant_b: uuid.UUID
) -> None:
    # Given two tenants with posts at every bucket's window edges
    expected_a = seed_posts(owner_engine, tenant_a, MIXED)
    expected_b = seed_posts(owner_engine, tenant_b, MIXED[::2])
    # When the schedule's system path and each tenant's worker choose
    chosen = system_due({tenant_a, tenant_b})
    per_tenant = {}
    for tenant in (tenant_a, tenant_b):
        with unit_of_work(tenant) as uow:
            per_tenant[tenant] = {item.post_id: item.bucket for item in uow.repository(SnapshotRepository).due(NOW)}
    # Then both choose exactly the expected posts, each under its own tenant
    for tenant, expected in ((tenant_a, expected_a), (tenant_b, expected_b)):
        wanted = {post: bucket for post, bucket in expected.items() if bucket is not None}
        assert per_tenant[tenant] == wanted
        assert {ref.post_id for ref in chosen if ref.tenant_id == tenant} == set(wanted)
    assert len(chosen) == len({ref.post_id for ref in chosen})  # a post is due for one bucket at most
    with system_unit_of_work() as system:
        tenants = set(DueSnapshotSystemRepository(system.session).tenants_due(NOW))
    assert {tenant_a, tenant_b} <= tenants


def test_the_system_path_sees_ids_only_and_each_tenants_worker_only_its_own_posts(
    owner_engine: Engine, tenant_a: uuid.UUID, tenant_b: uuid.UUID
) -> None:
    expected_a = seed_posts(owner_engine, tenant_a, MIXED)
    [ref, *_] = system_due({tenant_a})
    assert set(vars(ref)) == {"tenant_id", "post_id"}
    # The system role may read which posts have which bucket, never the figures, raw answers or captions.
    for column in ("views", "raw"):
        with pytest.raises(Forbidden), system_unit_of_work() as system:
            system.session.execute(text(f"select {column} from analytics_snapshots limit 1"))
    with pytest.raises(Forbidden), system_unit_of_work() as system:
        system.session.execute(text("select caption from social_posts limit 1"))
    # Tenant B's worker, under row-level security, finds none of A's due posts.
    with unit_of_work(tenant_b) as uow:
        assert not {item.post_id for item in uow.repository(SnapshotRepository).due(NOW)} & set(expected_a)


def snapshot_row(post: uuid.UUID, bucket: str, views: int) -> dict[str, Any]:
    return {
        "post_id": post,
        "platform": "sandbox",
        "bucket": bucket,
        "raw": {"views": views},
        "views": views,
        "methodology": "sandbox",
    }


def test_add_many_writes_each_post_and_bucket_once(
    owner_engine: Engine, tenant_a: uuid.UUID, tenant_b: uuid.UUID
) -> None:
    expected = seed_posts(owner_engine, tenant_a, MIXED)
    due = [(post, bucket) for post, bucket in expected.items() if bucket is not None]
    first, rest = due[:2], due[2:]
    with unit_of_work(tenant_a) as uow:
        written = uow.repository(SnapshotRepository).add_many([snapshot_row(p, b, 10) for p, b in first])
    assert [(p, b) for p, b, _ in written] == first
    # A rerun over all of them writes only the new ones; the first ones keep their figures.
    with unit_of_work(tenant_a) as uow:
        again = uow.repository(SnapshotRepository).add_many([snapshot_row(p, b, 99) for p, b in due])
    assert sorted((p, b) for p, b, _ in again) == sorted(rest)
    with unit_of_work(tenant_a) as uow:
        assert uow.repository(SnapshotRepository).add_many([snapshot_row(p, b, 7) for p, b in due]) == []
        assert [s.views for s in uow.repository(SnapshotRepository).series(first[0][0])] == [10]
    with owner_engine.connect() as connection:
        count = connection.execute(
            text("select count(*) from analytics_snapshots where tenant_id = :t and raw ? 'views'"), {"t": tenant_a}
        ).scalar_one()
    assert count == len(due)
    # Tenant B cannot write a snapshot of A's post (it is not B's post).
    with pytest.raises(InvalidInput), unit_of_work(tenant_b) as uow:
        uow.repository(SnapshotRepository).add_many([snapshot_row(first[0][0], "30d", 1)])

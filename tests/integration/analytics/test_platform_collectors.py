"""The collector against fake TikTok, YouTube and Instagram servers speaking their analytics wire formats: success,
partial and empty insight sets, 401 then refresh, 429 and quota errors that pause a shared bucket until the stated
time, a retired metric dropped and asked again, batching at each platform's limit, budgets shared by concurrent
collectors, and tenant isolation of the snapshots.

Real PostgreSQL, moto in process; accounts are connected through the real OAuth flow against the fakes, and the
published posts are written as the post worker leaves them (status published, a platform id, a publishing time).
Each test has its own app credentials, so the app-wide buckets of one test never touch another's.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.analytics.budgets import next_pacific_midnight
from viral.analytics.collector import CollectionResult, collect_tenant
from viral.analytics.repository import SnapshotRepository
from viral.db.uow import unit_of_work

from tests.fakes.platform_servers import FakeInstagram, FakeTikTok, FakeYouTube
from tests.fakes.social_platforms import SocialAws, connect_with, social_aws


@pytest.fixture
def tiktok() -> Iterator[FakeTikTok]:
    with FakeTikTok().running() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def youtube() -> Iterator[FakeYouTube]:
    with FakeYouTube().running() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def instagram() -> Iterator[FakeInstagram]:
    with FakeInstagram().running() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def apps() -> dict[str, str]:
    """This test's own app ids (the keys of the app-wide buckets)."""
    suffix = uuid.uuid4().hex[:10]
    return {"tiktok": f"tt-{suffix}", "youtube": f"g-{suffix}", "instagram": f"fb-{suffix}"}


@pytest.fixture
def aws(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: object,
    tiktok: FakeTikTok,
    youtube: FakeYouTube,
    instagram: FakeInstagram,
    apps: dict[str, str],
    request: pytest.FixtureRequest,
) -> Iterator[SocialAws]:
    env = {
        "TIKTOK_CLIENT_KEY": apps["tiktok"],
        "TIKTOK_CLIENT_SECRET": "tt-secret",
        "TIKTOK_BASE_URL": tiktok.url,
        "GOOGLE_CLIENT_ID": apps["youtube"],
        "GOOGLE_CLIENT_SECRET": "g-secret",
        "GOOGLE_OAUTH_BASE_URL": youtube.url,
        "YOUTUBE_BASE_URL": youtube.url,
        "YOUTUBE_ANALYTICS_BASE_URL": youtube.url,
        "FACEBOOK_APP_ID": apps["instagram"],
        "FACEBOOK_APP_SECRET": "fb-secret",
        "GRAPH_BASE_URL": instagram.url,
        **getattr(request, "param", {}),
    }
    with social_aws(monkeypatch, tmp_path, **env) as social:
        yield social


def published_posts(
    aws: SocialAws,
    engine: Engine,
    tenant: uuid.UUID,
    account: uuid.UUID,
    platform: str,
    platform_ids: list[str],
    *,
    age: timedelta = timedelta(hours=2),
) -> dict[str, uuid.UUID]:
    """Posts as the worker leaves them once published: platform id -> post id."""
    video = aws.put_video(tenant, size=1024)
    found = {}
    with engine.begin() as connection:
        for platform_id in platform_ids:
            found[platform_id] = connection.execute(
                text(
                    "insert into social_posts (tenant_id, video_id, account_id, platform, platform_post_id, status,"
                    " posted_at) values (:t, :v, :a, :p, :i, 'published', now() - make_interval(secs => :age))"
                    " returning id"
                ),
                {"t": tenant, "v": video, "a": account, "p": platform, "i": platform_id, "age": age.total_seconds()},
            ).scalar_one()
    return found


def snapshots(engine: Engine, tenant: uuid.UUID) -> dict[str, dict[str, Any]]:
    """The tenant's snapshots by the platform's post id."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "select p.platform_post_id, s.* from analytics_snapshots s join social_posts p on p.id = s.post_id"
                " where s.tenant_id = :t"
            ),
            {"t": tenant},
        ).mappings()
        return {r["platform_post_id"]: dict(r) for r in rows}


def bucket(engine: Engine, key: str) -> dict[str, Any]:
    with engine.connect() as connection:
        return dict(
            connection.execute(text("select * from platform_budgets where key = :k"), {"k": key}).mappings().one()
        )


def unpause(engine: Engine, key: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("update platform_budgets set paused_until = now() - interval '1 second' where key = :k"), {"k": key}
        )


def counts(result: CollectionResult) -> tuple[int, int, int, int]:
    return result.collected, result.not_yet, result.failed, result.deferred


# --- TikTok --------------------------------------------------------------------------------------------------


def test_tiktok_reads_21_posts_in_two_calls_and_keeps_each_answer_with_its_definition(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, tiktok: FakeTikTok
) -> None:
    account = connect_with(tenant_a, "tiktok", tiktok)
    ids = [str(7_300_000_000_000_000_000 + n) for n in range(21)]
    for n, video_id in enumerate(ids[:-1]):
        tiktok.video_stats[video_id] = {"view_count": 1000 + n, "like_count": 70, "comment_count": 4, "share_count": 2}
    published_posts(aws, owner_engine, tenant_a, account, "tiktok", ids)

    result = collect_tenant(tenant_a)

    assert [len(call) for call in tiktok.query_calls] == [20, 1]
    assert counts(result) == (20, 1, 0, 0)  # the last video is not in TikTok's answer yet: not yet, never zero
    stored = snapshots(owner_engine, tenant_a)
    first = stored[ids[0]]
    assert (first["views"], first["likes"], first["comments"], first["shares"], first["saves"]) == (
        1000,
        70,
        4,
        2,
        None,
    )
    assert first["methodology"] == "tiktok:display-api-v2" and first["bucket"] == "1h"
    assert first["raw"]["view_count"] == 1000 and first["raw"]["platformPostId"] == ids[0]
    assert ids[-1] not in stored


def test_tiktok_partial_figures_are_stored_as_given_and_the_rest_stay_unknown(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, tiktok: FakeTikTok
) -> None:
    account = connect_with(tenant_a, "tiktok", tiktok)
    tiktok.video_stats["71"] = {"view_count": 0}  # a zero is a figure
    tiktok.video_stats["72"] = {"view_count": -5, "like_count": "many"}  # nonsense is no figure
    published_posts(aws, owner_engine, tenant_a, account, "tiktok", ["71", "72"])

    assert counts(collect_tenant(tenant_a)) == (1, 1, 0, 0)
    snapshot = snapshots(owner_engine, tenant_a)["71"]
    assert (snapshot["views"], snapshot["likes"], snapshot["shares"]) == (0, None, None)


def test_tiktok_refuses_an_expired_token_then_the_refreshed_one_reads(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, tiktok: FakeTikTok
) -> None:
    account = connect_with(tenant_a, "tiktok", tiktok)
    tiktok.video_stats["81"] = {"view_count": 10, "like_count": 1, "comment_count": 0, "share_count": 0}
    published_posts(aws, owner_engine, tenant_a, account, "tiktok", ["81"])
    tiktok.expire_access_tokens()

    result = collect_tenant(tenant_a)

    assert counts(result) == (1, 0, 0, 0)
    assert tiktok.server.count("POST", "/v2/oauth/token/") == 2  # the code exchange, then one refresh
    assert tiktok.server.count("POST", "/v2/video/query/") == 2  # refused, then read with the rotated token


def test_tiktok_429_pauses_the_app_bucket_until_the_stated_time_and_nothing_more_is_asked(
    aws: SocialAws,
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    owner_engine: Engine,
    tiktok: FakeTikTok,
    apps: dict[str, str],
) -> None:
    first, second = connect_with(tenant_a, "tiktok", tiktok), connect_with(tenant_b, "tiktok", tiktok)
    for video_id in ("91", "92"):
        tiktok.video_stats[video_id] = {"view_count": 5, "like_count": 1, "comment_count": 0, "share_count": 0}
    published_posts(aws, owner_engine, tenant_a, first, "tiktok", ["91"])
    published_posts(aws, owner_engine, tenant_b, second, "tiktok", ["92"])
    tiktok.fail_next("query", tiktok.rate_limited(120))
    before = datetime.now(UTC)

    assert counts(collect_tenant(tenant_a)) == (0, 0, 0, 1)  # deferred: still due
    key = f"tiktok:app:{apps['tiktok']}:video.query"
    paused = bucket(owner_engine, key)["paused_until"]
    assert before + timedelta(seconds=115) < paused < datetime.now(UTC) + timedelta(seconds=125)

    # The app's bucket is paused for every tenant: the other tenant's run asks TikTok nothing.
    calls = tiktok.server.count("POST", "/v2/video/query/")
    assert counts(collect_tenant(tenant_b)) == (0, 0, 0, 1)
    assert counts(collect_tenant(tenant_a)) == (0, 0, 0, 1)
    assert tiktok.server.count("POST", "/v2/video/query/") == calls

    unpause(owner_engine, key)  # the stated time has passed
    assert counts(collect_tenant(tenant_a)) == (1, 0, 0, 0)
    assert counts(collect_tenant(tenant_b)) == (1, 0, 0, 0)


# --- YouTube -------------------------------------------------------------------------------------------------


def test_youtube_reads_51_posts_in_two_calls_with_watch_time_where_the_analytics_api_has_it(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, youtube: FakeYouTube
) -> None:
    account = connect_with(tenant_a, "youtube", youtube)
    ids = [f"yt{n:02d}" for n in range(51)]
    for video_id in ids:
        youtube.statistics[video_id] = {
            "viewCount": "18446744073",
            "likeCount": "56",
            "favoriteCount": "0",
            "commentCount": "7",
        }
    youtube.statistics["yt00"] = {"viewCount": "1234", "favoriteCount": "0"}  # likes hidden, comments off
    youtube.watch["yt00"] = {"estimatedMinutesWatched": 12.5, "averageViewDuration": 31, "views": 24}
    published_posts(aws, owner_engine, tenant_a, account, "youtube", ids, age=timedelta(hours=80))

    result = collect_tenant(tenant_a)

    assert [len(call) for call in youtube.statistics_calls] == [50, 1]
    assert len(youtube.report_calls) == 2 and youtube.report_calls[0]["filters"].count(",") == 49
    assert counts(result) == (51, 0, 0, 0)
    stored = snapshots(owner_engine, tenant_a)
    watched, lagging = stored["yt00"], stored["yt01"]
    assert (watched["views"], watched["likes"], watched["comments"]) == (1234, None, None)
    assert watched["watch_time_s"] == Decimal("750.00") and watched["avg_view_duration_s"] == Decimal("31.00")
    assert watched["methodology"] == "youtube:shorts-views-count-replays-2025-03-31"
    assert watched["raw"]["analytics"]["estimatedMinutesWatched"] == 12.5
    # The Analytics API lags 48-72 h: without its row the statistics still make a snapshot.
    assert (lagging["views"], lagging["likes"], lagging["watch_time_s"]) == (18_446_744_073, 56, None)
    assert lagging["bucket"] == "72h"


def test_youtube_quota_exceeded_pauses_the_app_units_until_midnight_pacific(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, youtube: FakeYouTube, apps: dict[str, str]
) -> None:
    account = connect_with(tenant_a, "youtube", youtube)
    youtube.statistics["q1"] = {"viewCount": "3"}
    published_posts(aws, owner_engine, tenant_a, account, "youtube", ["q1"])
    youtube.fail_next("videos", youtube.quota_exceeded())

    assert counts(collect_tenant(tenant_a)) == (0, 0, 0, 1)
    paused = bucket(owner_engine, f"youtube:app:{apps['youtube']}:units")["paused_until"]
    assert abs((paused - next_pacific_midnight(datetime.now(UTC))).total_seconds()) < 600
    calls = len(youtube.server.requests)
    assert counts(collect_tenant(tenant_a)) == (0, 0, 0, 1)
    assert len(youtube.server.requests) == calls  # nothing asked of a paused bucket


def test_youtube_refreshes_a_refused_token_once_and_reads(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, youtube: FakeYouTube
) -> None:
    account = connect_with(tenant_a, "youtube", youtube)
    youtube.statistics["r1"] = {"viewCount": "9", "likeCount": "1", "commentCount": "0"}
    published_posts(aws, owner_engine, tenant_a, account, "youtube", ["r1"])
    youtube.expire_access_tokens()

    assert counts(collect_tenant(tenant_a)) == (1, 0, 0, 0)
    assert youtube.server.count("POST", "/token") == 2


@pytest.mark.parametrize("aws", [{"ANALYTICS_YOUTUBE_DAILY_UNITS": "3"}], indirect=True)
def test_two_concurrent_collectors_never_spend_more_than_the_shared_daily_units(
    aws: SocialAws,
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    owner_engine: Engine,
    youtube: FakeYouTube,
    apps: dict[str, str],
) -> None:
    for tenant in (tenant_a, tenant_b):
        account = connect_with(tenant, "youtube", youtube)
        ids = [f"{str(tenant)[:8]}-{n}" for n in range(101)]  # 3 calls each: 6 wanted, 3 units a day
        for video_id in ids:
            youtube.statistics[video_id] = {"viewCount": "1"}
        published_posts(aws, owner_engine, tenant, account, "youtube", ids)
    results: dict[uuid.UUID, CollectionResult] = {}

    def run(tenant: uuid.UUID) -> None:
        results[tenant] = collect_tenant(tenant)

    threads = [threading.Thread(target=run, args=(t,)) for t in (tenant_a, tenant_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(youtube.statistics_calls) == 3
    collected = sum(r.collected for r in results.values())
    deferred = sum(r.deferred for r in results.values())
    assert collected == sum(len(c) for c in youtube.statistics_calls) and collected + deferred == 202
    assert bucket(owner_engine, f"youtube:app:{apps['youtube']}:units")["tokens"] == 0


# --- Instagram -----------------------------------------------------------------------------------------------


def test_instagram_insights_in_both_value_shapes_make_a_full_snapshot(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, instagram: FakeInstagram
) -> None:
    account = connect_with(tenant_a, "instagram", instagram)
    instagram.add_media(
        "1790001",
        views=1234,
        reach=900,
        likes=80,
        comments=5,
        shares=7,
        saved=11,
        total_interactions=103,
        ig_reels_avg_watch_time=4250,
        ig_reels_video_view_total_time=5_244_500,
    )
    instagram.total_value_metrics = {"likes", "saved"}
    published_posts(aws, owner_engine, tenant_a, account, "instagram", ["1790001"])

    assert counts(collect_tenant(tenant_a)) == (1, 0, 0, 0)
    snapshot = snapshots(owner_engine, tenant_a)["1790001"]
    figures = (snapshot["views"], snapshot["likes"], snapshot["comments"], snapshot["shares"], snapshot["saves"])
    assert figures == (1234, 80, 5, 7, 11)
    assert snapshot["avg_view_duration_s"] == Decimal("4.25") and snapshot["watch_time_s"] == Decimal("5244.50")
    assert snapshot["methodology"] == "instagram:views-2025"
    [(_, asked)] = instagram.insight_calls
    assert "plays" not in asked and "impressions" not in asked and "video_views" not in asked


def test_instagram_partial_empty_and_not_enough_viewers(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, instagram: FakeInstagram
) -> None:
    account = connect_with(tenant_a, "instagram", instagram)
    instagram.add_media("p1", views=40, reach=30)
    instagram.add_media("p2")  # an empty data set: no figures yet
    instagram.add_media("p3", views=3)
    instagram.not_enough_viewers.add("p3")
    published_posts(aws, owner_engine, tenant_a, account, "instagram", ["p1", "p2", "p3"])

    assert counts(collect_tenant(tenant_a)) == (1, 2, 0, 0)
    snapshot = snapshots(owner_engine, tenant_a)["p1"]
    assert (snapshot["views"], snapshot["likes"], snapshot["saves"]) == (40, None, None)


def test_instagram_drops_a_metric_it_no_longer_supports_and_asks_again_without_it(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, instagram: FakeInstagram
) -> None:
    account = connect_with(tenant_a, "instagram", instagram)
    instagram.retired_metrics = {"ig_reels_video_view_total_time"}
    for media in ("d1", "d2"):
        instagram.add_media(media, views=10, likes=1, comments=0, shares=0, saved=0)
    published_posts(aws, owner_engine, tenant_a, account, "instagram", ["d1", "d2"])

    assert counts(collect_tenant(tenant_a)) == (2, 0, 0, 0)
    asked = [metrics for _, metrics in instagram.insight_calls]
    assert len(asked) == 3  # refused once, asked again without it, and the next media without it at once
    assert "ig_reels_video_view_total_time" in asked[0]
    assert all("ig_reels_video_view_total_time" not in m and "views" in m for m in asked[1:])


def test_instagram_throttling_pauses_the_bucket_meta_names_for_the_time_it_estimates(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, instagram: FakeInstagram, apps: dict[str, str]
) -> None:
    account = connect_with(tenant_a, "instagram", instagram)
    for media in ("t1", "t2"):
        instagram.add_media(media, views=10)
    published_posts(aws, owner_engine, tenant_a, account, "instagram", ["t1", "t2"])
    instagram.fail_next("insights", instagram.throttled(4, regain_minutes=7))  # code 4: the app's limit

    assert counts(collect_tenant(tenant_a)) == (0, 0, 0, 2)
    paused = bucket(owner_engine, f"instagram:app:{apps['instagram']}")["paused_until"]
    assert timedelta(minutes=6) < paused - datetime.now(UTC) < timedelta(minutes=8)
    assert len(instagram.insight_calls) == 0  # the throttled answer came before any insight was served


def test_instagram_refused_token_cannot_be_refreshed_so_the_account_asks_to_reconnect(
    aws: SocialAws, tenant_a: uuid.UUID, owner_engine: Engine, instagram: FakeInstagram
) -> None:
    account = connect_with(tenant_a, "instagram", instagram)
    instagram.add_media("x1", views=10)
    published_posts(aws, owner_engine, tenant_a, account, "instagram", ["x1"])
    instagram.expire_access_tokens()

    assert counts(collect_tenant(tenant_a)) == (0, 0, 1, 0)
    with owner_engine.connect() as connection:
        status = connection.execute(text("select status from social_accounts where id = :a"), {"a": account})
        assert status.scalar_one() == "reconnect_required"


# --- isolation -----------------------------------------------------------------------------------------------


def test_tenant_b_never_sees_or_collects_tenant_a_platform_snapshots(
    aws: SocialAws, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine, tiktok: FakeTikTok
) -> None:
    account = connect_with(tenant_a, "tiktok", tiktok)
    tiktok.video_stats["i1"] = {"view_count": 3, "like_count": 0, "comment_count": 0, "share_count": 0}
    posts = published_posts(aws, owner_engine, tenant_a, account, "tiktok", ["i1"])

    assert counts(collect_tenant(tenant_b)) == (0, 0, 0, 0)
    assert counts(collect_tenant(tenant_a)) == (1, 0, 0, 0)
    with unit_of_work(tenant_b) as uow:
        repository = uow.repository(SnapshotRepository)
        assert repository.series(posts["i1"]) == [] and repository.due(datetime.now(UTC)) == []
    assert snapshots(owner_engine, tenant_b) == {}

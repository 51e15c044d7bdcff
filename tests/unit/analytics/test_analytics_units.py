"""Age buckets and the normalisation of a platform's answer (empty is "not yet", never zero)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from viral.analytics.normalise import normalise
from viral.analytics.repository import bucket_for


@pytest.mark.parametrize(
    ("age", "bucket"),
    [
        (timedelta(minutes=59), None),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=23), "6h"),
        (timedelta(hours=80), "72h"),
        (timedelta(days=7), "7d"),
        (timedelta(days=40), "30d"),
    ],
)
def test_a_late_run_files_a_post_under_the_largest_age_it_has_reached(age: timedelta, bucket: str | None) -> None:
    assert bucket_for(age) == bucket


def test_an_answer_without_figures_is_not_yet_and_a_zero_is_a_figure() -> None:
    assert normalise("sandbox", {"post_id": "1"}).empty
    zero = normalise("sandbox", {"views": 0, "likes": 0, "comments": 0, "shares": 0})
    assert not zero.empty and zero.views == 0 and zero.saves is None


def test_sandbox_figures_keep_their_definition_and_derive_watch_time() -> None:
    figures = normalise(
        "sandbox",
        {"views": 10, "likes": 2, "comments": 1, "shares": -3, "avg_watch_time_ms": 4500, "definition": "sandbox-v1"},
    )
    assert figures.shares is None  # a negative count is no figure
    assert figures.avg_view_duration_s == Decimal("4.5") and figures.watch_time_s == Decimal("45.0")
    assert figures.methodology == "sandbox:sandbox-v1"
    with pytest.raises(ValueError, match="no normaliser"):
        normalise("myspace", {})


def test_tiktok_counts_keep_the_display_api_definition() -> None:
    figures = normalise("tiktok", {"id": "1", "view_count": 9000, "like_count": 700, "comment_count": 40})
    assert (figures.views, figures.likes, figures.comments, figures.shares) == (9000, 700, 40, None)
    assert figures.saves is None and figures.watch_time_s is None
    assert figures.methodology == "tiktok:display-api-v2"
    assert normalise("tiktok", {}).empty


def test_youtube_uint64_strings_are_counts_and_watch_time_is_optional() -> None:
    figures = normalise(
        "youtube",
        {
            "statistics": {"viewCount": "18446744073709551", "likeCount": "56", "commentCount": "7"},
            "analytics": {"estimatedMinutesWatched": 12.5, "averageViewDuration": 31, "views": 24},
        },
    )
    assert (figures.views, figures.likes, figures.comments) == (18_446_744_073_709_551, 56, 7)
    assert figures.watch_time_s == Decimal("750.0") and figures.avg_view_duration_s == Decimal("31")
    assert figures.methodology == "youtube:shorts-views-count-replays-2025-03-31"
    only_statistics = normalise("youtube", {"statistics": {"viewCount": "0"}})
    assert only_statistics.views == 0 and only_statistics.watch_time_s is None and not only_statistics.empty


@pytest.mark.parametrize(
    "bad", ["-1", "NaN", "nan", "1e400", "18446744073709551615", "", "12abc", True, float("nan"), float("inf"), -3]
)
def test_negative_nan_unbounded_or_non_numeric_values_are_no_figure(bad: object) -> None:
    assert normalise("youtube", {"statistics": {"viewCount": bad}}).views is None
    assert normalise("tiktok", {"view_count": bad}).views is None


def test_instagram_reads_both_value_shapes_and_an_empty_set_is_not_yet() -> None:
    raw = {
        "data": [
            {"name": "views", "period": "lifetime", "values": [{"value": 1234}]},
            {"name": "saved", "total_value": {"value": 11}},
            {"name": "ig_reels_avg_watch_time", "values": [{"value": 4250}]},
            {"name": "ig_reels_video_view_total_time", "values": [{"value": 5_244_500}]},
            {"name": "likes", "values": []},
        ]
    }
    figures = normalise("instagram", raw)
    assert (figures.views, figures.saves, figures.likes) == (1234, 11, None)
    assert figures.avg_view_duration_s == Decimal("4.25") and figures.watch_time_s == Decimal("5244.5")
    assert figures.methodology == "instagram:views-2025"
    assert normalise("instagram", {"data": []}).empty
    assert normalise("instagram", {}).empty


def test_a_graph_invalid_metric_error_names_the_retired_metric_not_its_replacement() -> None:
    from viral.social.platforms.instagram import retired_metrics

    asked = ["views", "reach", "ig_reels_video_view_total_time"]
    message = (
        "(#100) Starting from version v22.0 and above, the ig_reels_video_view_total_time metric is no longer "
        "supported. Please use views instead."
    )
    assert retired_metrics(asked, message) == {"ig_reels_video_view_total_time"}
    listing = "(#100) metric[2] must be one of the following values: views, reach, likes"
    assert retired_metrics(asked, listing) == {"ig_reels_video_view_total_time"}
    assert retired_metrics(asked, "(#100) Unsupported get request.") == set()


def test_meta_regain_access_estimate_and_retry_after_in_both_forms() -> None:
    import json

    import httpx
    from viral.social.platforms.base import retry_after_s
    from viral.social.platforms.instagram import _regain_access_s

    usage = {"1784": [{"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": 7}]}
    throttled = httpx.Response(400, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    assert _regain_access_s(throttled) == 420
    assert _regain_access_s(httpx.Response(400)) == 300
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "30"})) == 30
    assert retry_after_s(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0
    assert retry_after_s(httpx.Response(429)) == 60


def test_youtube_units_are_a_daily_window_ending_at_midnight_pacific() -> None:
    import uuid
    from datetime import UTC, datetime

    from viral.analytics.budgets import buckets_for, next_pacific_midnight
    from viral.settings import Settings

    # 2026-07-01 06:30 UTC is 23:30 the day before in Los Angeles (PDT, UTC-7): the window ends at 07:00 UTC.
    now = datetime(2026, 7, 1, 6, 30, tzinfo=UTC)
    assert next_pacific_midnight(now) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    account = uuid.uuid4()
    app, mine = buckets_for("youtube", "videos.list", app="g-1", account_id=account, settings=Settings(), now=now)
    assert (app.key, app.capacity, app.refill_per_s, app.resets_at) == (
        "youtube:app:g-1:units",
        10_000,
        0.0,
        datetime(2026, 7, 1, 7, 0, tzinfo=UTC),
    )
    assert mine.key == f"youtube:account:{account}" and mine.refill_per_s == 1.0
    tiktok_app, _ = buckets_for("tiktok", "video.query", app="k", account_id=account, settings=Settings(), now=now)
    assert (tiktok_app.key, tiktok_app.capacity, tiktok_app.refill_per_s) == ("tiktok:app:k:video.query", 600, 10.0)

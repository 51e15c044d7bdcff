"""Each trend adapter against a fake server speaking the vendor's format: success, empty, malformed, 401, 429, slow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from viral.content.trend_sources import TrendSource
from viral.content.trend_sources.gnews import GNewsTrends
from viral.content.trend_sources.google_trends import GoogleTrends
from viral.content.trend_sources.reddit import SUBREDDITS, RedditTrends
from viral.content.trend_sources.youtube import YouTubeTrends
from viral.content.trends import gather
from viral.errors import Permanent, Retryable
from viral.http.client import make_client

from local.fakes.http_server import FakeServer, Reply

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def iso(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


YOUTUBE_OK = {
    "kind": "youtube#videoListResponse",
    "items": [
        {
            "id": "vid1",
            "snippet": {
                "title": "Speedrunning a cozy farming game",
                "categoryId": "20",
                "publishedAt": iso(5),
                "tags": ["speedrun", "cozy"],
            },
            "statistics": {"viewCount": "1500000", "likeCount": "90000", "commentCount": "4000"},
        },
        {"id": "vid2", "snippet": {"title": "Broken item"}},  # malformed: skipped, not fatal
    ],
}
REDDIT_LISTING = {
    "kind": "Listing",
    "data": {
        "children": [
            {
                "kind": "t3",
                "data": {
                    "id": "abc",
                    "title": "Cat opens the fridge by itself",
                    "ups": 52000,
                    "num_comments": 900,
                    "created_utc": (NOW - timedelta(hours=3)).timestamp(),
                    "permalink": "/r/videos/abc",
                    "subreddit": "videos",
                },
            }
        ]
    },
}
GNEWS_OK = {
    "totalArticles": 1,
    "articles": [
        {
            "title": "Startup launches a solar phone charger",
            "description": "...",
            "url": "https://news.test/a",
            "publishedAt": iso(30),
            "source": {"name": "Tech Daily", "url": "https://news.test"},
        }
    ],
}
RSS_OK = """<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:ht="https://trends.google.com/trending/rss" version="2.0"><channel><title>Daily Search Trends</title>
<item><title>meteor shower tonight</title><ht:approx_traffic>500K+</ht:approx_traffic>
<pubDate>Tue, 24 Nov 2026 12:00:00 +0000</pubDate>
<ht:news_item><ht:news_item_title>Where to watch the meteor shower</ht:news_item_title></ht:news_item></item>
</channel></rss>"""


def youtube(url: str) -> TrendSource:
    return YouTubeTrends("yt-test-key", base_url=url)


def reddit(url: str) -> TrendSource:
    return RedditTrends("id", "secret", auth_url=url, api_url=url)


def gnews(url: str) -> TrendSource:
    return GNewsTrends("gnews-test-key", base_url=url)


def google(url: str) -> TrendSource:
    return GoogleTrends(True, feed_url=f"{url}/trending/rss?geo=US")


def serve_youtube(fake: FakeServer, reply: Reply) -> None:
    fake.route("GET", "/youtube/v3/videos", lambda r: reply)


def serve_reddit(fake: FakeServer, reply: Reply) -> None:
    fake.route(
        "POST",
        "/api/v1/access_token",
        lambda r: Reply(200, json.dumps({"access_token": "tok", "token_type": "bearer"})),
    )
    for subreddit in SUBREDDITS:
        fake.route("GET", f"/r/{subreddit}/hot", lambda r: reply)


def serve_gnews(fake: FakeServer, reply: Reply) -> None:
    fake.route("GET", "/api/v4/top-headlines", lambda r: reply)


def serve_google(fake: FakeServer, reply: Reply) -> None:
    fake.route("GET", "/trending/rss", lambda r: reply)


VENDORS: dict[str, tuple[Callable[[str], TrendSource], Callable[[FakeServer, Reply], None], Reply, Reply]] = {
    "youtube": (youtube, serve_youtube, Reply(200, json.dumps(YOUTUBE_OK)), Reply(200, '{"items": []}')),
    "reddit": (reddit, serve_reddit, Reply(200, json.dumps(REDDIT_LISTING)), Reply(200, '{"data": {"children": []}}')),
    "gnews": (gnews, serve_gnews, Reply(200, json.dumps(GNEWS_OK)), Reply(200, '{"totalArticles": 0, "articles": []}')),
    "google": (
        google,
        serve_google,
        Reply(200, RSS_OK, {"Content-Type": "application/rss+xml"}),
        Reply(200, '<rss version="2.0"><channel></channel></rss>', {"Content-Type": "application/rss+xml"}),
    ),
}


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    with server.running():
        yield server


def fetch(source: TrendSource, *, read_s: float = 2.0) -> list:
    with make_client(read_s=read_s) as client:
        return source.fetch(client, now=NOW)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_success_gives_scored_trends(fake: FakeServer, vendor: str) -> None:
    build, serve, ok, _ = VENDORS[vendor]
    serve(fake, ok)
    trends = fetch(build(fake.url))
    assert trends, vendor
    first = trends[0]
    assert first.topic
    assert 0 < first.score <= 150
    assert first.category in {"gaming", "emotional", "tech", "news", "absurd"}
    assert first.recency in {"today", "yesterday", "older"}


def test_youtube_maps_category_recency_and_skips_malformed_items(fake: FakeServer) -> None:
    serve_youtube(fake, VENDORS["youtube"][2])
    trends = fetch(youtube(fake.url))
    assert [(t.topic, t.category, t.recency) for t in trends] == [
        ("Speedrunning a cozy farming game", "gaming", "today")
    ]
    assert fake.requests[0].query["chart"] == ["mostPopular"]
    assert fake.requests[0].query["key"] == ["yt-test-key"]


def test_reddit_authenticates_with_client_credentials(fake: FakeServer) -> None:
    serve_reddit(fake, VENDORS["reddit"][2])
    fetch(reddit(fake.url))
    token_request = next(r for r in fake.requests if r.path == "/api/v1/access_token")
    assert token_request.headers["authorization"].startswith("Basic ")
    assert b"grant_type=client_credentials" in token_request.body
    listing = next(r for r in fake.requests if r.path.endswith("/hot"))
    assert listing.headers["authorization"] == "Bearer tok"


def test_google_trends_reads_traffic_and_related_news(fake: FakeServer) -> None:
    serve_google(fake, VENDORS["google"][2])
    [trend] = fetch(google(fake.url))
    assert trend.topic == "meteor shower tonight"
    assert trend.engagement_count == 500_000
    assert trend.related_keywords == ["Where to watch the meteor shower"]


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_empty_answer_gives_no_trends(fake: FakeServer, vendor: str) -> None:
    build, serve, _, empty = VENDORS[vendor]
    serve(fake, empty)
    assert fetch(build(fake.url)) == []


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_malformed_answer_is_permanent(fake: FakeServer, vendor: str) -> None:
    build, serve, _, _ = VENDORS[vendor]
    serve(fake, Reply(200, "<html>oops</html>" if vendor != "google" else "not xml <<<"))
    with pytest.raises(Permanent):
        fetch(build(fake.url))


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_401_is_permanent(fake: FakeServer, vendor: str) -> None:
    build, serve, _, _ = VENDORS[vendor]
    refused = Reply(401, '{"error": {"code": 401, "message": "API key not valid"}}')
    serve(fake, refused)
    if vendor == "reddit":
        fake.route("POST", "/api/v1/access_token", lambda r: refused)
    with pytest.raises(Permanent, match="401"):
        fetch(build(fake.url))


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_429_is_retryable(fake: FakeServer, vendor: str) -> None:
    build, serve, _, _ = VENDORS[vendor]
    serve(fake, Reply(429, '{"errors": ["rate limited"]}', {"Retry-After": "30"}))
    with pytest.raises(Retryable):
        fetch(build(fake.url))


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_slow_answer_times_out_as_retryable(fake: FakeServer, vendor: str) -> None:
    build, serve, ok, _ = VENDORS[vendor]
    serve(fake, Reply(ok.status, ok.body, ok.headers, delay_s=1.5))
    if vendor == "reddit":
        fake.route("POST", "/api/v1/access_token", lambda r: Reply(200, '{"access_token": "t"}', delay_s=1.5))
    with pytest.raises(Retryable, match="timed out"):
        fetch(build(fake.url), read_s=0.3)


def test_one_failing_source_never_fails_the_gathering(fake: FakeServer) -> None:
    serve_youtube(fake, VENDORS["youtube"][2])
    serve_gnews(fake, Reply(500, "{}"))
    serve_google(fake, Reply(200, RSS_OK, delay_s=3))
    started = time.monotonic()
    gathered = gather([youtube(fake.url), gnews(fake.url), google(fake.url)], now=NOW, deadline_s=1.0)
    elapsed = time.monotonic() - started
    assert gathered.sources["youtube"]["status"] == "ok"
    assert gathered.sources["gnews"]["status"] == "error"
    assert gathered.sources["google-trends"]["status"] in {"timeout", "error"}
    assert any(t.source_api == "youtube" for t in gathered.trends)
    # the offline set fills every category, so concepts can be written whatever failed
    assert {t.category for t in gathered.trends} >= {"food", "music", "finance"}
    assert elapsed < 5


def test_gathering_with_no_sources_uses_the_offline_set() -> None:
    gathered = gather([], now=NOW, deadline_s=1.0)
    assert len({t.category for t in gathered.trends}) == 12
    assert all(t.source_api == "offline" for t in gathered.trends)


class StuckSource:
    """A source that hangs (a vendor that never answers, DNS stuck): it finishes only when the test lets it."""

    name = "stuck"
    share = 5

    def __init__(self) -> None:
        self.release = threading.Event()
        self.finished = threading.Event()

    def configured(self) -> bool:
        return True

    def fetch(self, client: httpx.Client, *, now: datetime) -> list:
        self.release.wait(timeout=10)
        self.finished.set()
        return []


def test_gathering_returns_at_the_total_deadline_without_waiting_for_a_late_source(fake: FakeServer) -> None:
    serve_youtube(fake, VENDORS["youtube"][2])
    stuck = StuckSource()
    try:
        gathered = gather([stuck, youtube(fake.url)], now=NOW, deadline_s=0.5)
        returned_before_the_late_source = not stuck.finished.is_set()
    finally:
        stuck.release.set()
    assert returned_before_the_late_source
    assert gathered.sources["stuck"] == {"status": "timeout", "count": 0}
    assert gathered.sources["youtube"]["status"] == "ok"
    assert {t.category for t in gathered.trends} >= {"food", "music", "finance"}


def test_a_source_of_many_requests_stops_at_its_own_deadline_and_keeps_what_it_got(fake: FakeServer) -> None:
    # Reddit asks one subreddit after another: 7 requests of 0.4 s would hold the call for almost 3 s.
    serve_reddit(fake, Reply(200, json.dumps(REDDIT_LISTING), delay_s=0.4))
    gathered = gather([reddit(fake.url)], now=NOW, deadline_s=1.5)
    listings = sum(1 for r in fake.requests if r.path.endswith("/hot"))
    assert listings < len(SUBREDDITS), "the source stopped asking once its deadline had passed"
    assert gathered.sources["reddit"]["status"] == "ok", "what arrived in time is kept"
    assert any(t.source_api == "reddit" for t in gathered.trends)

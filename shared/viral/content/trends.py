"""Trends: gathered concurrently from every configured source within a deadline, mixed, cached in the database."""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from viral.content.engine_repository import EngineRepository
from viral.content.schemas import TrendData
from viral.content.trend_sources import TrendSource, potential_label, top
from viral.content.trend_sources.gnews import GNewsTrends
from viral.content.trend_sources.google_trends import GoogleTrends
from viral.content.trend_sources.offline import offline_trends
from viral.content.trend_sources.reddit import RedditTrends
from viral.content.trend_sources.youtube import YouTubeTrends
from viral.db.uow import unit_of_work
from viral.errors import DomainError
from viral.http.client import make_client
from viral.observability import logger
from viral.settings import Settings, get_settings
from viral.vocabulary import CATEGORY_VALUES

MIN_PER_CATEGORY = 3
REFRESH_INTERVAL_S = 60  # the shared vendor quotas are spent at most this often, whoever asks
SOURCE_SHARE_OF_DEADLINE = 0.8
PER_REQUEST_READ_S = 5.0
MIN_REQUEST_S = 0.05  # less time than this left: a request could not finish, so it does not start


def configured_sources(settings: Settings) -> list[TrendSource]:
    sources: list[TrendSource] = [
        YouTubeTrends(settings.youtube_api_key, region=settings.trends_region),
        RedditTrends(settings.reddit_client_id, settings.reddit_client_secret),
        GNewsTrends(settings.gnews_api_key),
        GoogleTrends(
            settings.google_trends_enabled,
            feed_url=f"https://trends.google.com/trending/rss?geo={settings.trends_region}",
        ),
    ]
    return [s for s in sources if s.configured()]


@dataclass(frozen=True)
class Gathered:
    trends: list[TrendData]
    sources: dict[str, Any]


def gather(sources: list[TrendSource], *, now: datetime, deadline_s: float) -> Gathered:
    """Every source at once; each keeps only its best `share`; a failing or slow source never fails the call.

    Hard deadlines: each source has its own (see `_deadline_client`), and the call returns at `deadline_s`
    whatever a late source is still doing (its thread finishes on its own; nothing waits for it).
    The mix is topped up from the offline set so every category has trends to write concepts from.
    """
    report: dict[str, Any] = {}
    mixed: list[TrendData] = []
    if sources:
        started = time.monotonic()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="trends")
        try:
            futures = {
                pool.submit(_fetch_by, source, started + _source_deadline(source, deadline_s), now): source
                for source in sources
            }
            done, late = concurrent.futures.wait(futures, timeout=max(0.0, started + deadline_s - time.monotonic()))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        for future in late:
            report[futures[future].name] = {"status": "timeout", "count": 0}
        for future in done:
            source = futures[future]
            try:
                found = future.result()
            except (DomainError, ValidationError) as error:
                logger.warning("trend source failed", extra={"source": source.name, "error": str(error)})
                report[source.name] = {"status": "error", "count": 0, "error": str(error)[:200]}
                continue
            best = top(found, source.share)
            report[source.name] = {"status": "ok" if best else "empty", "count": len(best)}
            mixed.extend(best)
    mixed = _top_up(_unique(mixed), now=now)
    report["offline"] = {"status": "ok", "count": sum(1 for t in mixed if t.source_api == "offline")}
    return Gathered(trends=sorted(mixed, key=lambda t: t.score, reverse=True), sources=report)


def _source_deadline(source: TrendSource, deadline_s: float) -> float:
    """A source's own deadline: its `deadline_s` if it has one, never past its share of the call's deadline (the
    rest leaves time to hand over what it has before the call returns)."""
    budget = deadline_s * SOURCE_SHARE_OF_DEADLINE
    own = getattr(source, "deadline_s", None)
    return min(float(own), budget) if isinstance(own, int | float) and own > 0 else budget


def _fetch_by(source: TrendSource, deadline: float, now: datetime) -> list[TrendData]:
    with _deadline_client(deadline) as client:
        return source.fetch(client, now=now)


def _deadline_client(deadline: float) -> httpx.Client:
    """A client that enforces a deadline (time.monotonic()) over every request of one source: each request's
    timeouts shrink to the time left, and none starts once it has passed. A source of many sequential requests
    (Reddit: a token and six listings) keeps what it got in time instead of holding the call."""

    def clamp(request: httpx.Request) -> None:
        left = deadline - time.monotonic()
        if left <= MIN_REQUEST_S:
            raise httpx.TimeoutException("the source's deadline has passed", request=request)
        timeouts = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            phase: left if value is None else min(float(value), left)
            for phase, value in {p: timeouts.get(p) for p in ("connect", "read", "write", "pool")}.items()
        }

    return make_client(read_s=PER_REQUEST_READ_S, event_hooks={"request": [clamp]})


def _unique(trends: list[TrendData]) -> list[TrendData]:
    seen: set[str] = set()
    unique = []
    for trend in trends:
        key = trend.topic.strip().lower()
        if key not in seen:
            seen.add(key)
            unique.append(trend)
    return unique


def _top_up(trends: list[TrendData], *, now: datetime) -> list[TrendData]:
    counts = {c: sum(1 for t in trends if t.category == c) for c in CATEGORY_VALUES}
    extra = [t for t in offline_trends(now=now) if counts[t.category] < MIN_PER_CATEGORY]
    for trend in extra:
        if counts[trend.category] < MIN_PER_CATEGORY:
            counts[trend.category] += 1
            trends.append(trend)
    return trends


@dataclass(frozen=True)
class Refresh:
    trends: list[TrendData]
    fetched_at: datetime
    refreshed: bool


def refresh_shared_trends(*, now: datetime | None = None, settings: Settings | None = None) -> Refresh:
    """Gather trends now and store them as the newest snapshot, unless any caller (of any tenant) did so less than
    REFRESH_INTERVAL_S ago: then the newest snapshot is the answer and no vendor is asked.

    The claim is committed before the network (no transaction is held while the sources are asked).
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    with unit_of_work() as uow:
        claimed = uow.repository(EngineRepository).claim_trend_refresh(
            region=settings.trends_region, interval_s=REFRESH_INTERVAL_S
        )
        latest = None if claimed else uow.repository(EngineRepository).latest_snapshot(region=settings.trends_region)
    if not claimed:
        if latest is not None:
            return Refresh([TrendData.model_validate(t) for t in latest.trends], latest.fetched_at, refreshed=False)
        # The first refresh is still under way elsewhere: the offline set, asking nobody and storing nothing.
        return Refresh(gather([], now=now, deadline_s=settings.trends_deadline_s).trends, now, refreshed=False)
    gathered = gather(configured_sources(settings), now=now, deadline_s=settings.trends_deadline_s)
    with unit_of_work() as uow:
        snapshot = uow.repository(EngineRepository).store_snapshot(
            region=settings.trends_region, trends=[t.wire() for t in gathered.trends], sources=gathered.sources
        )
    return Refresh(gathered.trends, snapshot.fetched_at, refreshed=True)


def refresh_trends(
    *, now: datetime | None = None, settings: Settings | None = None
) -> tuple[list[TrendData], datetime]:
    """The trends of `refresh_shared_trends` (fresh, or the newest snapshot when a refresh was made just now)."""
    refresh = refresh_shared_trends(now=now, settings=settings)
    return refresh.trends, refresh.fetched_at


def current_trends(*, settings: Settings | None = None) -> tuple[list[TrendData], datetime]:
    """The cached trends if fresh, else freshly gathered ones."""
    settings = settings or get_settings()
    with unit_of_work() as uow:
        inputs = uow.repository(EngineRepository).inputs(region=settings.trends_region, ttl_s=settings.trends_ttl_s)
    if inputs.snapshot is None:
        return refresh_trends(settings=settings)
    return [TrendData.model_validate(t) for t in inputs.snapshot.trends], inputs.snapshot.fetched_at


def trends_answer(trends: list[TrendData], fetched_at: datetime, *, refreshed: bool | None = None) -> dict[str, Any]:
    """The original's GET/POST /api/trends shape (POST adds `refreshed`: false when the cache was refreshed less
    than a minute ago, by any tenant, and is answered as it stands)."""
    answer: dict[str, Any] = {
        "trends": [{**t.wire(), "potentialLabel": potential_label(t.score)} for t in trends],
        "fetchedAt": fetched_at.isoformat(),
    }
    if refreshed is not None:
        answer["refreshed"] = refreshed
    return answer

"""Trends: gathered concurrently from every configured source within a deadline, mixed, cached in the database."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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

    The mix is topped up from the offline set so every category has trends to write concepts from.
    """
    report: dict[str, Any] = {}
    mixed: list[TrendData] = []
    if sources:
        with (
            make_client(read_s=min(5.0, deadline_s)) as client,
            concurrent.futures.ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="trends") as pool,
        ):
            futures = {pool.submit(source.fetch, client, now=now): source for source in sources}
            done, late = concurrent.futures.wait(futures, timeout=deadline_s)
            for future in late:
                future.cancel()
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


def refresh_trends(
    *, now: datetime | None = None, settings: Settings | None = None
) -> tuple[list[TrendData], datetime]:
    """Gather trends now (network, outside any transaction) and store them as the newest snapshot."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    gathered = gather(configured_sources(settings), now=now, deadline_s=settings.trends_deadline_s)
    with unit_of_work() as uow:
        snapshot = uow.repository(EngineRepository).store_snapshot(
            region=settings.trends_region, trends=[t.wire() for t in gathered.trends], sources=gathered.sources
        )
    return gathered.trends, snapshot.fetched_at


def current_trends(*, settings: Settings | None = None) -> tuple[list[TrendData], datetime]:
    """The cached trends if fresh, else freshly gathered ones."""
    settings = settings or get_settings()
    with unit_of_work() as uow:
        inputs = uow.repository(EngineRepository).inputs(region=settings.trends_region, ttl_s=settings.trends_ttl_s)
    if inputs.snapshot is None:
        return refresh_trends(settings=settings)
    return [TrendData.model_validate(t) for t in inputs.snapshot.trends], inputs.snapshot.fetched_at


def trends_answer(trends: list[TrendData], fetched_at: datetime, *, refreshed: bool = False) -> dict[str, Any]:
    """The original's GET/POST /api/trends shape."""
    answer: dict[str, Any] = {
        "trends": [{**t.wire(), "potentialLabel": potential_label(t.score)} for t in trends],
        "fetchedAt": fetched_at.isoformat(),
    }
    if refreshed:
        answer["refreshed"] = True
    return answer

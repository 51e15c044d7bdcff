"""Google Trends' daily trending-searches RSS feed (no key)."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # the feed is size-capped; expat refuses entity-expansion bombs
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from viral.content.schemas import TrendData
from viral.content.trend_sources import build_trend, category_from_text, engagement_bonus, recency_of
from viral.errors import Permanent, Retryable
from viral.http.client import raise_for_vendor

HT = "{https://trends.google.com/trending/rss}"
MAX_FEED_BYTES = 2_000_000


def _traffic(text: str | None) -> float:
    """'200K+' -> 200000."""
    value = (text or "0").strip().rstrip("+").replace(",", "").upper()
    scale = {"K": 1e3, "M": 1e6}.get(value[-1:], 1.0)
    try:
        return float(value.rstrip("KM")) * scale
    except ValueError:
        return 0.0


class GoogleTrends:
    name = "google-trends"
    share = 6

    def __init__(self, enabled: bool, *, feed_url: str = "https://trends.google.com/trending/rss?geo=US") -> None:
        self.enabled = enabled
        self.feed_url = feed_url

    def configured(self) -> bool:
        return self.enabled

    def fetch(self, client: httpx.Client, *, now: datetime) -> list[TrendData]:
        try:
            response = client.get(self.feed_url)
        except httpx.TimeoutException as exc:
            raise Retryable("Google Trends timed out") from exc
        except httpx.TransportError as exc:
            raise Retryable("Google Trends is unreachable") from exc
        raise_for_vendor(response, "Google Trends")
        if len(response.content) > MAX_FEED_BYTES:
            raise Permanent("Google Trends feed is larger than expected")
        try:
            channel = ET.fromstring(response.content).find("channel")  # noqa: S314
        except ET.ParseError as exc:
            raise Permanent("Google Trends answered with malformed XML") from exc
        if channel is None:
            raise Permanent("Google Trends feed has no channel")
        return [t for item in channel.findall("item") if (t := self._trend(item, now)) is not None]

    def _trend(self, item: ET.Element, now: datetime) -> TrendData | None:
        title = (item.findtext("title") or "").strip()
        if not title:
            return None
        try:
            published = parsedate_to_datetime(item.findtext("pubDate") or "")
        except (TypeError, ValueError):
            published = None
        traffic = _traffic(item.findtext(f"{HT}approx_traffic"))
        related = [(n.findtext(f"{HT}news_item_title") or "").strip()[:200] for n in item.findall(f"{HT}news_item")]
        bonus = engagement_bonus(traffic, scale=2_000_000)
        return build_trend(
            source="Google Trends",
            source_api="google-trends",
            key=title.lower(),
            topic=title,
            category=category_from_text(" ".join([title, *related])),
            recency=recency_of(published, now=now),
            visual=58 + bonus,
            emotion=60 + bonus * 0.6,
            share=62 + bonus,
            now=now,
            engagementCount=traffic,
            platform="general",
            relatedKeywords=[r for r in related if r][:5],
        )

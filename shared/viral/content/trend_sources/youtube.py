"""YouTube Data API v3: the most popular videos of a region (videos.list, chart=mostPopular)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from viral.content.schemas import TrendData
from viral.content.trend_sources import build_trend, category_from_text, engagement_bonus, recency_of
from viral.errors import Permanent
from viral.http.client import get_json

# YouTube's video category ids (https://developers.google.com/youtube/v3/docs/videoCategories) to ours.
YOUTUBE_CATEGORIES = {
    "1": "cartoon",
    "2": "luxury",
    "10": "music",
    "15": "emotional",
    "17": "fitness",
    "19": "luxury",
    "20": "gaming",
    "22": "relationships",
    "23": "absurd",
    "24": "absurd",
    "25": "news",
    "26": "food",
    "27": "tech",
    "28": "tech",
    "34": "absurd",
}


class YouTubeTrends:
    name = "youtube"
    share = 8

    def __init__(
        self, api_key: str | None, *, base_url: str = "https://www.googleapis.com", region: str = "US"
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.region = region

    def configured(self) -> bool:
        return bool(self.api_key)

    def fetch(self, client: httpx.Client, *, now: datetime) -> list[TrendData]:
        body = get_json(
            client,
            f"{self.base_url}/youtube/v3/videos",
            "YouTube",
            params={
                "part": "snippet,statistics",
                "chart": "mostPopular",
                "regionCode": self.region,
                "maxResults": 20,
                "key": self.api_key,
            },
        )
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise Permanent("YouTube answered without an items list")
        return [trend for item in items if (trend := self._trend(item, now)) is not None]

    def _trend(self, item: Any, now: datetime) -> TrendData | None:
        try:
            snippet, stats = item["snippet"], item.get("statistics") or {}
            title = str(snippet["title"]).strip()
            published = datetime.fromisoformat(str(snippet["publishedAt"]).replace("Z", "+00:00"))
            views, likes = float(stats.get("viewCount", 0)), float(stats.get("likeCount", 0))
            comments = float(stats.get("commentCount", 0))
        except (KeyError, TypeError, ValueError):
            return None  # one malformed item never spoils the others
        if not title:
            return None
        hours = max(1.0, (now - published).total_seconds() / 3600)
        velocity = (views + likes + comments) / hours
        category = YOUTUBE_CATEGORIES.get(str(snippet.get("categoryId")), category_from_text(title))
        bonus = engagement_bonus(velocity, scale=1_000_000)
        return build_trend(
            source="YouTube Trending",
            source_api="youtube",
            key=str(item.get("id", title)),
            topic=title,
            category=category,
            recency=recency_of(published, now=now),
            visual=70 + bonus,
            emotion=60 + bonus * 0.6,
            share=60 + bonus,
            now=now,
            sourceUrl=f"https://www.youtube.com/watch?v={item.get('id', '')}",
            velocity=round(velocity, 1),
            engagementCount=views + likes + comments,
            platform="youtube",
            relatedKeywords=[str(t)[:100] for t in (snippet.get("tags") or [])[:5]],
        )

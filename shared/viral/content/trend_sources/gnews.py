"""GNews top headlines for a few news categories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from viral.content.schemas import TrendData
from viral.content.trend_sources import build_trend, category_from_text, recency_of
from viral.errors import Permanent, Retryable
from viral.http.client import get_json

TOPICS = ("entertainment", "technology", "sports", "business", "science")
NEGATIVE = ("crash", "dies", "war", "attack", "crisis", "lawsuit", "fired", "scandal")
POSITIVE = ("wins", "record", "breakthrough", "celebrates", "launches", "saves", "best")


class GNewsTrends:
    name = "gnews"
    share = 5

    def __init__(self, api_key: str | None, *, base_url: str = "https://gnews.io") -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")

    def configured(self) -> bool:
        return bool(self.api_key)

    def fetch(self, client: httpx.Client, *, now: datetime) -> list[TrendData]:
        trends: list[TrendData] = []
        errors: list[Exception] = []
        for topic in TOPICS:
            try:
                body = get_json(
                    client,
                    f"{self.base_url}/api/v4/top-headlines",
                    "GNews",
                    params={"category": topic, "lang": "en", "max": 5, "apikey": self.api_key},
                )
            except Permanent:
                raise  # a bad key fails every topic alike
            except Retryable as exc:
                errors.append(exc)
                continue
            articles = body.get("articles") if isinstance(body, dict) else None
            for article in articles if isinstance(articles, list) else []:
                if (trend := self._trend(article, now)) is not None:
                    trends.append(trend)
        if errors and len(errors) == len(TOPICS):
            raise errors[0]
        return trends

    def _trend(self, article: Any, now: datetime) -> TrendData | None:
        try:
            title = str(article["title"]).strip()
            published = datetime.fromisoformat(str(article["publishedAt"]).replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError):
            return None
        if not title:
            return None
        lowered = title.lower()
        sentiment = (
            "negative"
            if any(w in lowered for w in NEGATIVE)
            else "positive"
            if any(w in lowered for w in POSITIVE)
            else "neutral"
        )
        return build_trend(
            source=f"GNews: {(article.get('source') or {}).get('name', 'news')}",
            source_api="gnews",
            key=str(article.get("url", title)),
            topic=title,
            category=category_from_text(title),
            recency=recency_of(published, now=now),
            visual=60,
            emotion=75 if sentiment != "neutral" else 62,
            share=68,
            now=now,
            sourceUrl=str(article.get("url", ""))[:2048],
            platform="news",
            sentiment=sentiment,
        )

"""The bundled offline trend set (our own topics), used when no source is configured or reachable."""

from __future__ import annotations

import json
import random
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

from viral.content.schemas import TrendData
from viral.content.trend_sources import build_trend
from viral.vocabulary import CATEGORY_VALUES

DATA = Path(__file__).with_name("offline_trends.json")


@lru_cache(maxsize=1)
def offline_topics() -> tuple[dict[str, Any], ...]:
    document = json.loads(DATA.read_text(encoding="utf-8"))
    return tuple(document["topics"])


def offline_trends(*, now: datetime, per_category: int = 3, seed: int | None = None) -> list[TrendData]:
    """`per_category` topics of every category, a different pick each day (or per `seed`), best first."""
    rng = random.Random(seed if seed is not None else int(now.strftime("%Y%m%d")))
    by_category: dict[str, list[dict[str, Any]]] = {c: [] for c in CATEGORY_VALUES}
    for topic in offline_topics():
        by_category.setdefault(topic["category"], []).append(topic)
    picked: list[TrendData] = []
    for category in CATEGORY_VALUES:
        for topic in rng.sample(by_category[category], min(per_category, len(by_category[category]))):
            picked.append(
                build_trend(
                    source="Offline trend set",
                    source_api="offline",
                    key=topic["topic"],
                    topic=topic["topic"],
                    category=category,
                    recency=topic["recency"],
                    visual=topic["visual"],
                    emotion=topic["emotion"],
                    share=topic["share"],
                    now=now,
                    relatedKeywords=topic["keywords"],
                    sentiment=topic["sentiment"],
                    platform="general",
                )
            )
    return sorted(picked, key=lambda t: t.score, reverse=True)


class OfflineTrends:
    """The offline set as a TrendSource (always configured; never fails)."""

    name = "offline"
    share = 36

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def configured(self) -> bool:
        return True

    def fetch(self, client: httpx.Client, *, now: datetime) -> list[TrendData]:
        return offline_trends(now=now, seed=self.seed)

"""Trend sources: one adapter per vendor behind the TrendSource protocol, plus the bundled offline set."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal, Protocol

import httpx

from viral.content.schemas import TrendData

Recency = Literal["today", "yesterday", "older"]
RECENCY_MULTIPLIER: dict[str, float] = {"today": 1.5, "yesterday": 1.2, "older": 1.0}

# Words that place a headline in a category, checked in this order (first match wins).
CATEGORY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("finance", ("stock", "market", "crypto", "bitcoin", "invest", "bank", "economy", "inflation", "money", "price")),
    ("tech", ("ai", "robot", "app", "phone", "software", "tech", "chip", "gadget", "startup", "space", "science")),
    ("gaming", ("game", "gaming", "console", "esports", "playstation", "xbox", "nintendo", "speedrun")),
    ("music", ("song", "album", "music", "concert", "tour", "singer", "band", "rapper", "festival")),
    ("fitness", ("workout", "gym", "fitness", "run", "marathon", "sport", "athlete", "league", "match", "cup")),
    ("food", ("food", "recipe", "restaurant", "chef", "cook", "pizza", "coffee", "snack", "baking")),
    ("luxury", ("luxury", "yacht", "mansion", "supercar", "designer", "billionaire", "travel", "resort")),
    ("relationships", ("dating", "wedding", "couple", "marriage", "breakup", "friend", "family", "parent")),
    ("cartoon", ("anime", "cartoon", "animated", "movie", "film", "trailer", "series", "comic")),
    ("emotional", ("rescue", "dog", "cat", "pet", "reunion", "kindness", "hero", "surprise", "tribute")),
    ("absurd", ("weird", "bizarre", "prank", "fail", "meme", "viral", "unexpected", "oddly")),
)
_WORD = re.compile(r"[a-z0-9]+")


def category_from_text(text: str, default: str = "news") -> str:
    """The category a headline most likely belongs to, by keyword."""
    words = set(_WORD.findall(text.lower()))
    for category, keywords in CATEGORY_WORDS:
        if words.intersection(keywords):
            return category
    return default


def recency_of(published: datetime | None, *, now: datetime) -> Recency:
    if published is None:
        return "older"
    age_h = (now - published).total_seconds() / 3600
    return "today" if age_h < 24 else "yesterday" if age_h < 48 else "older"


def trend_id(source: str, key: str) -> str:
    return f"{source}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def build_trend(
    *,
    source: str,
    source_api: str,
    key: str,
    topic: str,
    category: str,
    recency: Recency,
    visual: float,
    emotion: float,
    share: float,
    now: datetime,
    **extra: object,
) -> TrendData:
    """A TrendData with the original's score: the mean of the three signals times the recency multiplier."""
    signals = [max(0.0, min(100.0, float(v))) for v in (visual, emotion, share)]
    score = round(sum(signals) / 3 * RECENCY_MULTIPLIER[recency], 1)
    return TrendData.model_validate(
        {
            "id": trend_id(source_api, key),
            "topic": topic[:500],
            "source": source,
            "score": score,
            "recency": recency,
            "visualPotential": round(signals[0]),
            "emotionalImpact": round(signals[1]),
            "shareability": round(signals[2]),
            "category": category,
            "sourceApi": source_api,
            "timestamp": now.astimezone(UTC).isoformat(),
            **extra,
        }
    )


def potential_label(score: float) -> str:
    """The original's trend labels."""
    if score >= 130:
        return "VIRAL POTENTIAL"
    if score >= 110:
        return "HIGH POTENTIAL"
    if score >= 90:
        return "GOOD POTENTIAL"
    return "MODERATE"


def engagement_bonus(count: float, *, scale: float) -> float:
    """Up to +25 points for engagement, growing with the logarithm of the count (no cliff, no overflow)."""
    import math

    return min(25.0, 25.0 * math.log10(1 + max(0.0, count)) / math.log10(1 + scale))


class TrendSource(Protocol):
    """One place trends come from."""

    name: str
    share: int  # how many of its best trends the mix takes

    def configured(self) -> bool:
        """Whether this source can run (keys present, or enabled)."""
        ...

    def fetch(self, client: httpx.Client, *, now: datetime) -> list[TrendData]:
        """Trends, best first; raises Retryable or Permanent on failure."""
        ...


def top(trends: Iterable[TrendData], n: int) -> list[TrendData]:
    return sorted(trends, key=lambda t: t.score, reverse=True)[:n]

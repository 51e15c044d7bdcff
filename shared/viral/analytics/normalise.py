"""A platform's metrics answer, normalised: the figures we compare over time and the definition they follow.

An empty answer (no figure at all) means the platform has not counted yet: it is "not yet", never zero. A figure
that is negative, not a number, or too large for its column is no figure (None), never a guess.

Methodology tags name the definition the figures follow, so a platform's change of definition is never read as a
spike: YouTube Shorts views count every play and replay since 2025-03-31; Instagram's `views` replaced `plays`
(and `impressions`, `video_views`) in 2025; TikTok's Display API v2 counts as its video object documents.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

FIGURES = ("views", "likes", "comments", "shares", "saves")
UNKNOWN_METHOD = "unspecified"
TIKTOK_METHOD = "tiktok:display-api-v2"
YOUTUBE_METHOD = "youtube:shorts-views-count-replays-2025-03-31"
INSTAGRAM_METHOD = "instagram:views-2025"
MAX_COUNT = 2**63 - 1  # BIGINT
MAX_WATCH_S = Decimal("999999999999.99")  # NUMERIC(14, 2)
MAX_DURATION_S = Decimal("99999999.99")  # NUMERIC(10, 2)


@dataclass(frozen=True)
class Figures:
    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    watch_time_s: Decimal | None = None
    avg_view_duration_s: Decimal | None = None
    completion_rate: Decimal | None = None
    methodology: str = UNKNOWN_METHOD

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in (*FIGURES, "watch_time_s", "avg_view_duration_s"))


def _number(value: Any) -> float | int | None:
    """A finite, non-negative number from a JSON number or a decimal string (YouTube sends uint64 strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            value = int(text)
        else:
            try:
                value = float(text)
            except ValueError:
                return None
    if not isinstance(value, int | float) or (isinstance(value, float) and not math.isfinite(value)) or value < 0:
        return None
    return value


def _count(value: Any) -> int | None:
    number = _number(value)
    if number is None:
        return None
    count = int(number)
    return count if count <= MAX_COUNT else None


def _amount(value: Any, scale: float = 1.0, limit: Decimal = MAX_WATCH_S) -> Decimal | None:
    number = _number(value)
    if number is None:
        return None
    amount = Decimal(str(round(number * scale, 2)))
    return amount if amount <= limit else None


def _times(a: Decimal | None, b: int | None) -> Decimal | None:
    if a is None or b is None:
        return None
    product = a * b
    return product if product <= MAX_WATCH_S else None


def _sandbox(raw: dict[str, Any]) -> Figures:
    counts = {name: _count(raw.get(name)) for name in FIGURES}
    average = _amount(raw.get("avg_watch_time_ms"), 0.001, MAX_DURATION_S)
    definition = raw.get("definition")
    method = f"sandbox:{definition}"[:120] if isinstance(definition, str) and definition else "sandbox"
    return Figures(
        views=counts["views"],
        likes=counts["likes"],
        comments=counts["comments"],
        shares=counts["shares"],
        saves=counts["saves"],
        watch_time_s=_times(average, counts["views"]),
        avg_view_duration_s=average,
        methodology=method,
    )


def _tiktok(raw: dict[str, Any]) -> Figures:
    """A Display API video object: view_count, like_count, comment_count, share_count (no saves, no watch time)."""
    return Figures(
        views=_count(raw.get("view_count")),
        likes=_count(raw.get("like_count")),
        comments=_count(raw.get("comment_count")),
        shares=_count(raw.get("share_count")),
        methodology=TIKTOK_METHOD,
    )


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    found = raw.get(name)
    return found if isinstance(found, dict) else {}


def _youtube(raw: dict[str, Any]) -> Figures:
    """videos.list `statistics` (uint64 strings; likeCount and commentCount are absent when hidden or disabled)
    and, when the Analytics API has caught up, its `analytics` row: estimatedMinutesWatched, averageViewDuration."""
    statistics, analytics = _section(raw, "statistics"), _section(raw, "analytics")
    return Figures(
        views=_count(statistics.get("viewCount")),
        likes=_count(statistics.get("likeCount")),
        comments=_count(statistics.get("commentCount")),
        watch_time_s=_amount(analytics.get("estimatedMinutesWatched"), 60.0),
        avg_view_duration_s=_amount(analytics.get("averageViewDuration"), 1.0, MAX_DURATION_S),
        methodology=YOUTUBE_METHOD,
    )


def insight_values(raw: dict[str, Any]) -> dict[str, Any]:
    """Instagram insights by name; a value sits in `values[0].value` or, in some versions, `total_value.value`."""
    values: dict[str, Any] = {}
    for entry in raw.get("data") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        listed = entry.get("values")
        total = entry.get("total_value")
        if isinstance(listed, list) and listed and isinstance(listed[0], dict) and "value" in listed[0]:
            values[entry["name"]] = listed[0]["value"]
        elif isinstance(total, dict) and "value" in total:
            values[entry["name"]] = total["value"]
    return values


def _instagram(raw: dict[str, Any]) -> Figures:
    """Reels insights: views (which replaced plays), likes, comments, shares, saved, and the watch times in ms."""
    values = insight_values(raw)
    return Figures(
        views=_count(values.get("views")),
        likes=_count(values.get("likes")),
        comments=_count(values.get("comments")),
        shares=_count(values.get("shares")),
        saves=_count(values.get("saved")),
        watch_time_s=_amount(values.get("ig_reels_video_view_total_time"), 0.001),
        avg_view_duration_s=_amount(values.get("ig_reels_avg_watch_time"), 0.001, MAX_DURATION_S),
        methodology=INSTAGRAM_METHOD,
    )


NORMALISERS: dict[str, Callable[[dict[str, Any]], Figures]] = {
    "sandbox": _sandbox,
    "tiktok": _tiktok,
    "youtube": _youtube,
    "instagram": _instagram,
}


def normalise(platform: str, raw: dict[str, Any]) -> Figures:
    """The figures of one answer of `platform` (None for anything it did not give)."""
    normaliser = NORMALISERS.get(platform)
    if normaliser is None:
        raise ValueError(f"no normaliser for {platform!r}")
    return normaliser(raw if isinstance(raw, dict) else {})

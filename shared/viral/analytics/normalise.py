"""A platform's metrics answer, normalised: the figures we compare over time and the definition they follow.

An empty answer (no figure at all) means the platform has not counted yet: it is "not yet", never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

FIGURES = ("views", "likes", "comments", "shares", "saves")
UNKNOWN_METHOD = "unspecified"


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


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return None
    return int(value)


def _amount(value: Any, scale: float = 1.0) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return None
    return Decimal(str(round(value * scale, 2)))


def normalise(platform: str, raw: dict[str, Any]) -> Figures:
    """The figures of one answer of `platform` (the sandbox's own names; None for anything it did not give)."""
    if platform == "sandbox":
        counts = {name: _count(raw.get(name)) for name in FIGURES}
        average = _amount(raw.get("avg_watch_time_ms"), 0.001)
        views = counts["views"]
        watch = average * views if average is not None and views is not None else None
        definition = raw.get("definition")
        method = f"sandbox:{definition}"[:120] if isinstance(definition, str) and definition else "sandbox"
        return Figures(
            views=views,
            likes=counts["likes"],
            comments=counts["comments"],
            shares=counts["shares"],
            saves=counts["saves"],
            watch_time_s=watch,
            avg_view_duration_s=average,
            methodology=method,
        )
    raise ValueError(f"no normaliser for {platform!r}")

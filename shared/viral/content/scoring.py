"""The viral score: per platform, from the trend's signals and the tenant's score model, explained factor by factor.

score = 100 * tanh(raw / 100), raw = signals * category weight * platform multiplier * recency * hook.
The tanh keeps scores spread out instead of clipping at 100 (the original's min(100, ...) saturated), so the
reflexion loop can learn from the whole range.
"""

from __future__ import annotations

import math
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from viral.content.schemas import TrendData
from viral.vocabulary import CATEGORY_VALUES

PLATFORMS = ("tiktok", "youtube-shorts", "instagram-reels")
PLATFORM_KEYS = {"tiktok": "tiktok", "youtube-shorts": "youtubeShorts", "instagram-reels": "instagramReels"}
HOOK_STYLES = ("pov", "question", "list", "challenge", "secret", "contrarian")
WEIGHT_BOUNDS = (0.5, 2.0)

_TIKTOK = dict(zip(CATEGORY_VALUES, (0.85, 1.2, 1.1, 1.15, 0.9, 1.1, 1.15, 1.2, 1.25, 0.8, 1.3, 1.2), strict=True))
_SHORTS = dict(zip(CATEGORY_VALUES, (1.1, 0.95, 1.0, 1.05, 1.15, 1.0, 1.25, 1.1, 1.15, 1.2, 1.1, 1.0), strict=True))
_REELS = dict(zip(CATEGORY_VALUES, (0.85, 1.0, 1.25, 1.1, 0.95, 0.95, 0.9, 1.2, 1.2, 0.9, 1.1, 1.15), strict=True))

DEFAULT_WEIGHTS: dict[str, Any] = {
    "categoryWeights": {"tiktok": _TIKTOK, "youtube-shorts": _SHORTS, "instagram-reels": _REELS},
    "hookEffectiveness": dict.fromkeys(HOOK_STYLES, 1.0),
    "platformMultipliers": dict.fromkeys(PLATFORMS, 1.0),
    "recencyBoost": {"today": 1.15, "yesterday": 1.05, "older": 0.95},
}


@dataclass(frozen=True)
class ScoreModel:
    """One version of a tenant's score model (version 1 is the defaults, never stored until it changes)."""

    version: int = 1
    weights: dict[str, Any] = field(default_factory=lambda: deepcopy(DEFAULT_WEIGHTS))

    def category_weight(self, category: str, platform: str) -> float:
        return float(self.weights["categoryWeights"][platform].get(category, 1.0))

    def hook(self, style: str) -> float:
        return float(self.weights["hookEffectiveness"].get(style, 1.0))

    def platform(self, platform: str) -> float:
        return float(self.weights["platformMultipliers"].get(platform, 1.0))

    def recency(self, recency: str) -> float:
        return float(self.weights["recencyBoost"].get(recency, 1.0))


def squash(raw: float) -> float:
    return 100.0 * math.tanh(max(0.0, raw) / 100.0)


def label(score: float) -> str:
    """The original's platform labels."""
    for threshold, name in (
        (90, "MEGA VIRAL"),
        (75, "VIRAL POTENTIAL"),
        (60, "HIGH REACH"),
        (45, "GOOD REACH"),
        (30, "MODERATE"),
    ):
        if score >= threshold:
            return name
    return "NICHE"


@dataclass(frozen=True)
class Factor:
    name: str
    multiplier: float
    points: float  # how many points of the final score this factor adds (negative: takes away)


def score_platform(
    trend: TrendData, *, category: str, platform: str, hook_style: str, model: ScoreModel
) -> dict[str, Any]:
    """One platform's score with its breakdown: each factor's multiplier and the points it is worth."""
    signals = (trend.visual_potential + trend.emotional_impact + trend.shareability) / 3
    multipliers = {
        "categoryWeight": model.category_weight(category, platform),
        "platformMultiplier": model.platform(platform),
        "recency": model.recency(trend.recency),
        "hook": model.hook(hook_style),
    }
    raw = signals * math.prod(multipliers.values())
    score = squash(raw)
    factors = [Factor("trendSignals", 1.0, round(squash(signals), 1))]
    for name, value in multipliers.items():
        without = squash(raw / value) if value else score
        factors.append(Factor(name, round(value, 4), round(score - without, 1)))
    rounded = round(score)
    return {
        "score": rounded,
        "label": label(rounded),
        "factors": [_describe(f, trend, hook_style) for f in factors],
        "breakdown": {
            "modelVersion": model.version,
            "signals": round(signals, 1),
            "raw": round(raw, 2),
            "factors": [{"name": f.name, "multiplier": f.multiplier, "points": f.points} for f in factors],
        },
    }


def _describe(factor: Factor, trend: TrendData, hook_style: str) -> str:
    if factor.name == "trendSignals":
        return (
            f"Trend signals {trend.visual_potential:g}/{trend.emotional_impact:g}/{trend.shareability:g} "
            f"(visual/emotion/share) = {factor.points:+g}"
        )
    detail = {"recency": f" ({trend.recency})", "hook": f" ({hook_style})"}.get(factor.name, "")
    return f"{factor.name}{detail} x{factor.multiplier:g} = {factor.points:+g}"


def platform_virality(
    trend: TrendData, *, category: str, hook_style: str, model: ScoreModel, platforms: tuple[str, ...] = PLATFORMS
) -> dict[str, Any]:
    """{tiktok, youtubeShorts, instagramReels}: the shape the dashboard reads, plus each score's breakdown."""
    return {
        PLATFORM_KEYS[p]: score_platform(trend, category=category, platform=p, hook_style=hook_style, model=model)
        for p in platforms
    }


def clamp_weight(value: float) -> float:
    low, high = WEIGHT_BOUNDS
    return min(high, max(low, value))

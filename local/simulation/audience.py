"""The simulated audience: how the sandbox's viewers really react to a concept, hidden from the product.

The truth is the product's own score formula with different category weights per platform (drawn once from the
seed: each default weight times 0.6-1.6, within the model's bounds), times a per-post noise. The sandbox asks
`SimulatedAudience.metrics` for a post's figures: views grow with the post's age along a saturating curve, and
engagement is the true score turned into an engagement rate by the product's documented mapping
(learning.reflexion.score_to_engagement), so a critic reading the figures back recovers the true score.

It also scores concepts the way the original app's learning rule would, fed the same feedback (`OriginalRule`),
so the run can compare both learners on the same audience.
"""

from __future__ import annotations

import hashlib
import math
import random
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from viral.content.scoring import DEFAULT_WEIGHTS, PLATFORM_KEYS, WEIGHT_BOUNDS, squash
from viral.learning.reflexion import engagement_to_score, score_to_engagement

NOISE = 0.08  # the spread of one post's result around the audience's expectation (log scale)
REACH = 20_000  # views a post reaches when its audience has seen it all
VIEW_HALF_LIFE_H = 18.0


def _bounded(value: float) -> float:
    return min(WEIGHT_BOUNDS[1], max(WEIGHT_BOUNDS[0], value))


def hidden_weights(seed: int) -> dict[str, dict[str, float]]:
    rng = random.Random(f"audience-{seed}")
    truth = deepcopy(DEFAULT_WEIGHTS["categoryWeights"])
    for platform in sorted(truth):
        for category in sorted(truth[platform]):
            truth[platform][category] = _bounded(truth[platform][category] * rng.uniform(0.6, 1.6))
    return truth


def breakdown_of(concept_data: dict[str, Any], platform: str) -> dict[str, Any] | None:
    score = (concept_data.get("platformVirality") or {}).get(PLATFORM_KEYS.get(platform, ""))
    return score.get("breakdown") if isinstance(score, dict) else None


def rescored(breakdown: dict[str, Any], category_weight: float) -> float:
    """The concept's score with another category weight (the other factors as the product computed them)."""
    factors = {f["name"]: f["multiplier"] for f in breakdown["factors"]}
    used = factors.get("categoryWeight") or 1.0
    return squash(float(breakdown["raw"]) / used * category_weight)


@dataclass
class SimulatedAudience:
    seed: int
    truth: dict[str, dict[str, float]] = field(init=False)

    def __post_init__(self) -> None:
        self.truth = hidden_weights(self.seed)

    def expected_score(self, breakdown: dict[str, Any], category: str, platform: str) -> float:
        """What this audience gives the concept on average (0-100)."""
        return min(99.0, max(10.0, rescored(breakdown, self.truth[platform][category])))

    def observed_score(self, post_ref: str, breakdown: dict[str, Any], category: str, platform: str) -> float:
        """One post's actual result: the expectation times the post's own luck (fixed per post)."""
        rng = random.Random(int(hashlib.sha256(f"{self.seed}:{post_ref}".encode()).hexdigest()[:12], 16))
        noisy = self.expected_score(breakdown, category, platform) * math.exp(rng.gauss(0.0, NOISE))
        return min(99.0, max(10.0, noisy))

    def figures(self, score: float, age_h: float) -> dict[str, Any]:
        """The sandbox's metrics answer for a post of this score at this age (empty before anyone saw it)."""
        views = int(REACH * (1 - math.exp(-max(0.0, age_h) / VIEW_HALF_LIFE_H)))
        if views <= 0:
            return {"definition": "sandbox-v1: views count every play"}
        engaged = views * score_to_engagement(score) / 100
        likes = round(engaged * 0.80)
        comments = round(engaged * 0.08)
        shares = round(engaged) - likes - comments
        return {
            "views": views,
            "likes": likes,
            "comments": comments,
            "shares": max(0, shares),
            "avg_watch_time_ms": int(3000 + 90 * score),
            "definition": "sandbox-v1: views count every play",
        }


@dataclass
class OriginalRule:
    """The original app's learning rule, in a shadow model fed the same feedback as ours.

    On every feedback whose gap is over 20 points, the category weight moves 10/15/20% by the gap's size in
    percent, towards the actual result, within [0.5, 2]. Its predictions are the product's formula with its
    weights, so both learners are compared on the same concepts and the same audience.
    """

    weights: dict[str, dict[str, float]] = field(default_factory=lambda: deepcopy(DEFAULT_WEIGHTS["categoryWeights"]))

    def predict(self, breakdown: dict[str, Any], category: str, platform: str) -> float:
        return rescored(breakdown, self.weights[platform][category])

    def learn(self, breakdown: dict[str, Any], category: str, platform: str, engagement_pct: float) -> None:
        predicted = self.predict(breakdown, category, platform)
        actual = engagement_to_score(engagement_pct)
        gap = actual - predicted
        if abs(gap) <= 20:
            return
        pct = abs(gap) / max(predicted, 1.0) * 100
        factor = 0.2 if pct > 40 else 0.15 if pct > 25 else 0.1 if pct > 15 else 0.0
        old = self.weights[platform][category]
        self.weights[platform][category] = _bounded(old * (1 + factor) if gap > 0 else old * (1 - factor))

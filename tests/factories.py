"""Small builders of valid domain payloads (camelCase dicts, as the dashboard sends them)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

_counter = itertools.count(1)


def concept(
    concept_id: str | None = None,
    *,
    title: str = "Cats that do taxes",
    category: str = "absurd",
    hashtags: tuple[str, ...] = ("#cats", "#taxes"),
    trend_source: str = "Tax season",
) -> dict[str, Any]:
    n = next(_counter)
    return {
        "id": concept_id or f"concept-{uuid.uuid4().hex[:12]}",
        "title": title,
        "script": [
            {"timeRange": "0-3s", "visual": "A cat at a desk", "onScreenText": "POV: April", "camera": "close-up"},
            {"timeRange": "3-8s", "visual": "Calculator chaos", "onScreenText": None, "camera": "handheld"},
        ],
        "soraPrompt": f"vertical video (9:16) of a cat doing taxes #{n}",
        "veoPrompt": "vertical video (9:16), warm light, a cat at a desk",
        "caption": f"{title} - caption {n}",
        "hashtags": list(hashtags),
        "postTime": {"utc": "2026-11-24T17:00:00Z", "est": "12:00 PM EST", "reason": "lunch scroll"},
        "whyItWorks": "Relatable pain with an absurd twist",
        "trendSource": trend_source,
        "category": category,
        "platformVirality": {
            "tiktok": {"score": 71, "label": "HIGH REACH", "factors": ["hook"]},
            "youtubeShorts": {"score": 64, "label": "HIGH REACH", "factors": []},
        },
    }


def trend(topic: str = "Tax season", category: str = "finance") -> dict[str, Any]:
    return {
        "id": f"trend-{uuid.uuid4().hex[:10]}",
        "topic": topic,
        "source": "Google Trends",
        "score": 120.5,
        "recency": "today",
        "visualPotential": 80,
        "emotionalImpact": 75,
        "shareability": 90,
        "category": category,
        "sourceApi": "google-trends",
    }


def generation(
    generation_id: str | None = None,
    *,
    concepts: list[dict[str, Any]] | None = None,
    trends: list[dict[str, Any]] | None = None,
    date: datetime | None = None,
    is_favorite: bool = False,
) -> dict[str, Any]:
    return {
        "id": generation_id or f"gen-{uuid.uuid4().hex[:12]}",
        "date": (date or datetime.now(UTC)).isoformat(),
        "concepts": concepts if concepts is not None else [concept(), concept(category="food", title="Soup ASMR")],
        "trends": trends if trends is not None else [trend()],
        "isFavorite": is_favorite,
    }


def feedback(
    concept_id: str, *, views: int = 1000, likes: int = 100, shares: int = 10, comments: int = 5
) -> dict[str, Any]:
    return {
        "conceptId": concept_id,
        "conceptTitle": "Cats that do taxes",
        "category": "absurd",
        "platform": "tiktok",
        "metrics": {"views": views, "likes": likes, "shares": shares, "comments": comments},
    }


def critique(
    concept_id: str, *, critique_id: str | None = None, confidence: str = "high", feedback_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": critique_id or f"crit-{uuid.uuid4().hex[:12]}",
        "conceptId": concept_id,
        "feedbackId": feedback_id,
        "performanceGap": {
            "conceptId": concept_id,
            "conceptTitle": "Cats that do taxes",
            "category": "absurd",
            "platform": "tiktok",
            "predictedVirality": 80,
            "actualEngagement": 2.5,
            "actualVirality": 45,
            "actualViralityScore": 45,
            "gap": 35,
            "gapPercentage": 44,
            "direction": "over-predicted",
        },
        "critique": "We over-rated the hook.",
        "hypothesizedReasons": ["weak first second"],
        "scoringIssues": ["category weight too high"],
        "adjustmentPlan": "Reduce absurd/tiktok weight by 10%",
        "confidenceLevel": confidence,
    }


def insight(pattern: str = "absurd-tiktok-over-predicted", *, evidence: int = 1) -> dict[str, Any]:
    return {
        "id": f"ins-{uuid.uuid4().hex[:12]}",
        "category": "absurd",
        "platform": "tiktok",
        "pattern": pattern,
        "evidenceCount": evidence,
        "impact": "negative",
        "recommendation": "Reduce weight",
        "appliedToScoring": False,
    }


def adjustment(critique_id: str, *, category: str = "absurd") -> dict[str, Any]:
    return {
        "id": f"adj-{uuid.uuid4().hex[:12]}",
        "category": category,
        "adjustmentType": "category-weight",
        "oldValue": 1.0,
        "newValue": 0.9,
        "reason": "over-predicted by 44%",
        "critiqueId": critique_id,
    }

"""The concept writer: trends become viral video concepts, field for field as the dashboard reads them.

Everything random draws from one `random.Random`, so a seeded call is fully deterministic (tests pin outputs).
Posting times are computed in America/New_York with zoneinfo (DST-correct; the original added 5 hours).
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from viral.content.schemas import TrendData, ViralConcept
from viral.content.scoring import PLATFORMS, ScoreModel, platform_virality

LIBRARY = Path(__file__).with_name("concept_library.json")
EASTERN = ZoneInfo("America/New_York")
MAX_PER_CATEGORY = 3
MAX_CONCEPTS = 36
DEFAULT_CONCEPTS = 6
"""Concepts a POST /api/generate without `count` makes: a small batch, so one try does not use up a month."""
TIME_RANGES = ("0:00-0:03", "0:03-0:08", "0:08-0:15", "0:15-0:20")

# Our posting schedule, in New York local time: (weekday 0=Monday, hour, minute, why).
POSTING_SLOTS: tuple[tuple[int, int, int, str], ...] = (
    (0, 12, 15, "Monday lunch break: people catch up on what they missed over the weekend"),
    (0, 19, 30, "Monday evening wind-down scroll"),
    (1, 9, 0, "Tuesday commute: the week's highest morning attention"),
    (1, 18, 45, "Tuesday after-work peak"),
    (2, 12, 0, "Midweek lunch: short, shareable content travels furthest"),
    (2, 20, 0, "Wednesday prime time"),
    (3, 11, 30, "Thursday late morning: pre-weekend planning mood"),
    (3, 19, 0, "Thursday evening, the strongest weekday for shares"),
    (4, 15, 0, "Friday afternoon: the week is over in people's heads"),
    (4, 21, 0, "Friday night: entertainment-first audience"),
    (5, 10, 30, "Saturday late breakfast: long, relaxed sessions"),
    (5, 20, 30, "Saturday night at home"),
    (6, 11, 0, "Sunday brunch scroll"),
    (6, 18, 30, "Sunday evening: planning and nostalgia content lands"),
)
SPONSOR_POINTS = {"low": 30, "medium": 50, "high": 70, "premium": 90}


@lru_cache(maxsize=1)
def library() -> dict[str, Any]:
    return json.loads(LIBRARY.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ConceptRequest:
    count: int = MAX_CONCEPTS
    categories: frozenset[str] | None = None
    platforms: tuple[str, ...] = PLATFORMS


def _fill(template: str, values: dict[str, str]) -> str:
    return template.format_map(values)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())[:30]


def post_time(rng: random.Random, *, now: datetime) -> dict[str, str]:
    """The next occurrence of a random slot of our schedule, in UTC and in Eastern time (EST or EDT)."""
    weekday, hour, minute, reason = rng.choice(POSTING_SLOTS)
    local_now = now.astimezone(EASTERN)
    days_ahead = (weekday - local_now.weekday()) % 7
    local = datetime.combine(local_now.date() + timedelta(days=days_ahead), datetime.min.time(), EASTERN).replace(
        hour=hour, minute=minute
    )
    if local <= local_now:
        local += timedelta(days=7)
        local = local.replace(tzinfo=EASTERN)  # re-resolve the offset after crossing a DST change
    utc = local.astimezone(ZoneInfo("UTC"))
    return {
        "utc": utc.strftime("%H:%M UTC"),
        "est": local.strftime("%I:%M %p %Z").lstrip("0"),
        "reason": reason,
        "at": utc.isoformat(),
    }


def _pick_hook(rng: random.Random, model: ScoreModel) -> dict[str, str]:
    hooks = library()["hooks"]
    weights = [model.hook(h["style"]) for h in hooks]
    return rng.choices(hooks, weights=weights, k=1)[0]


def _prompts(entry: dict[str, Any], title: str, script: list[dict[str, Any]], topic: str) -> tuple[str, str]:
    beats = " Then ".join(s["visual"].rstrip(".") + "." for s in script)
    style = entry["visualStyle"]
    sora = (
        f"Vertical video (9:16), 20 seconds, for short-form social media. Title: {title}. "
        f"Story beats: {beats} Style: {style}. No text artifacts, no logos, no real people's likeness."
    )
    veo = (
        f"9:16 vertical short about {topic}. {script[0]['visual']} Camera: {script[0]['camera']}. "
        f"Look and feel: {style}. Clean, high-detail, natural motion, 24 fps."
    )
    return sora, veo


def _monetization(entry: dict[str, Any], virality: dict[str, Any]) -> dict[str, Any]:
    money = entry["monetization"]
    average = sum(v["score"] for v in virality.values()) / len(virality)
    lift = average / 100 * 0.5 + 0.75  # better-performing videos earn better RPMs
    tiktok = round(sum(money["rpmTikTok"]) / 2 * lift, 3)
    shorts = round(sum(money["rpmShorts"]) / 2 * lift, 3)
    score = min(100, round((min(1.0, (tiktok + shorts) / 2) * 100 + SPONSOR_POINTS[money["sponsor"]]) / 2))
    return {
        "estimatedRPM": {"tiktok": tiktok, "youtubeShorts": shorts},
        "score": score,
        "label": "HIGH VALUE" if score >= 60 else "SOLID" if score >= 40 else "LOW",
        "sponsorPotential": money["sponsor"],
        "bestStrategy": money["strategy"],
    }


def write_concept(
    trend: TrendData, rng: random.Random, *, model: ScoreModel, now: datetime, platforms: Sequence[str] = PLATFORMS
) -> ViralConcept:
    """One concept from one trend."""
    entry = library()["categories"][trend.category]
    keyword = rng.choice(trend.related_keywords or [trend.category])
    topic = trend.topic.strip().rstrip(".!?")
    values = {"topic": topic[:1].lower() + topic[1:], "Topic": topic, "keyword": keyword, "hook": ""}
    hook = _pick_hook(rng, model)
    values["hook"] = _fill(hook["text"], values)
    title = _fill(rng.choice(entry["titles"]), values)
    script = [
        {
            "timeRange": TIME_RANGES[i],
            "visual": _fill(s["visual"], values),
            "onScreenText": None if s.get("onScreenText") is None else _fill(s["onScreenText"], values),
            "camera": s["camera"],
        }
        for i, s in enumerate(rng.choice(entry["scripts"]))
    ]
    sora, veo = _prompts(entry, title, script, values["topic"])
    tags = rng.sample(entry["hashtags"], k=min(5, len(entry["hashtags"])))
    if slug := _slug(keyword):
        tags.append(f"#{slug}")
    virality = platform_virality(
        trend, category=trend.category, hook_style=hook["style"], model=model, platforms=tuple(PLATFORMS)
    )
    captions = rng.sample(entry["captions"], k=3)
    titles = rng.sample(entry["titles"], k=2)
    variant_ids = [uuid.UUID(int=rng.getrandbits(128), version=4).hex[:12] for _ in range(3)]
    return ViralConcept.model_validate(
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "title": title[:500],
            "script": script,
            "soraPrompt": sora,
            "veoPrompt": veo,
            "caption": _fill(captions[0], values),
            "hashtags": list(dict.fromkeys(tags)),
            "postTime": post_time(rng, now=now),
            "whyItWorks": rng.choice(entry["whyItWorks"]),
            "trendSource": f"{trend.source}: {trend.topic}"[:500],
            "category": trend.category,
            "platformVirality": virality,
            "monetization": _monetization(entry, virality),
            "variants": [
                {
                    "id": f"var-{variant_ids[0]}",
                    "label": "A",
                    "title": title[:500],
                    "caption": _fill(captions[0], values),
                    "hookSource": "template",
                    "selected": True,
                },
                {
                    "id": f"var-{variant_ids[1]}",
                    "label": "B",
                    "title": values["hook"][:500],
                    "caption": _fill(captions[1], values),
                    "hookSource": "knowledge-base",
                },
                {
                    "id": f"var-{variant_ids[2]}",
                    "label": "C",
                    "title": _fill(titles[1], values)[:500],
                    "caption": _fill(captions[2], values),
                    "hookSource": "evolved",
                },
            ],
            "hookStyle": hook["style"],
            "trendId": trend.id,
        }
    )


def best_score(concept: ViralConcept, platforms: Sequence[str]) -> float:
    virality = concept.model_dump(by_alias=True)["platformVirality"]
    keys = {"tiktok": "tiktok", "youtube-shorts": "youtubeShorts", "instagram-reels": "instagramReels"}
    return max(float(virality[keys[p]]["score"]) for p in platforms if virality.get(keys[p]))


def write_concepts(
    trends: Sequence[TrendData], request: ConceptRequest, *, model: ScoreModel, rng: random.Random, now: datetime
) -> list[ViralConcept]:
    """One concept per trend, best trends first, at most three per category and `request.count` in all."""
    per_category: dict[str, int] = {}
    concepts: list[ViralConcept] = []
    for trend in sorted(trends, key=lambda t: (-t.score, t.id)):
        if request.categories is not None and trend.category not in request.categories:
            continue
        if per_category.get(trend.category, 0) >= MAX_PER_CATEGORY:
            continue
        per_category[trend.category] = per_category.get(trend.category, 0) + 1
        concepts.append(write_concept(trend, rng, model=model, now=now, platforms=request.platforms))
        if len(concepts) >= request.count:
            break
    return concepts

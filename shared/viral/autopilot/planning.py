"""The autopilot's choices, as pure functions: which concepts fill today's slots, which accounts a video goes to,
when, and with which privacy. No database, no clock: the service feeds them what it read."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from viral.vocabulary import PLATFORM_VALUES

# The social platform that posts each video platform's format; the sandbox stands for all three in local runs.
ACCOUNT_PLATFORM = {"tiktok": "tiktok", "youtube-shorts": "youtube", "instagram-reels": "instagram"}
VIRALITY_KEYS = {"tiktok": "tiktok", "youtube-shorts": "youtubeShorts", "instagram-reels": "instagramReels"}
AUTOMATIC_SHARE = 1 / 3
AUTOMATIC_FROM = 3  # picks a day from which exploration is on by default
# The most public option each platform offers: the autopilot posts to be seen (the tenant turned it on).
PUBLIC_PRIVACY = ("PUBLIC_TO_EVERYONE", "PUBLIC", "public")


@dataclass(frozen=True)
class Candidate:
    """A concept of today's generation that has no video yet, with its score per video platform."""

    concept_id: str
    category: str
    scores: Mapping[str, float]

    def best(self, platforms: Sequence[str]) -> tuple[str, float]:
        """The video platform (among `platforms`) this concept scores best on, and that score."""
        scored = [(self.scores.get(p, 0.0), -PLATFORM_VALUES.index(p), p) for p in platforms]
        score, _, platform = max(scored)
        return platform, score


@dataclass(frozen=True)
class Target:
    """A connected account the autopilot may post to."""

    id: uuid.UUID
    platform: str  # tiktok, youtube, instagram or sandbox

    def video_platforms(self) -> tuple[str, ...]:
        if self.platform == "sandbox":
            return PLATFORM_VALUES
        return tuple(p for p, account in ACCOUNT_PLATFORM.items() if account == self.platform)


@dataclass(frozen=True)
class Pick:
    slot: int
    concept_id: str
    category: str
    kind: str  # top | exploration
    platform: str
    score: float
    account_id: uuid.UUID | None


def candidate_of(concept_id: str, category: str, data: Mapping[str, Any]) -> Candidate:
    """A stored concept as a candidate: its predicted score per platform (0 where it has none)."""
    virality = data.get("platformVirality") or {}
    scores = {}
    for platform, key in VIRALITY_KEYS.items():
        entry = virality.get(key) if isinstance(virality, Mapping) else None
        score = entry.get("score") if isinstance(entry, Mapping) else None
        scores[platform] = float(score) if isinstance(score, int | float) else 0.0
    return Candidate(concept_id=concept_id, category=category, scores=scores)


def exploration_picks(videos_per_day: int, share: float | None) -> int:
    """How many of the day's picks explore: `share` of them (rounded down), or the automatic default."""
    if share is None:
        share = AUTOMATIC_SHARE if videos_per_day >= AUTOMATIC_FROM else 0.0
    return min(videos_per_day, math.floor(videos_per_day * share + 1e-9))


def slot_account(targets: Sequence[Target], day: date, slot: int, videos_per_day: int) -> Target | None:
    """Round robin over the accounts, continued from day to day (3 accounts, 2 videos a day: A B, C A, B C ...)."""
    if not targets:
        return None
    return targets[(day.toordinal() * videos_per_day + slot) % len(targets)]


def plan_picks(
    *,
    day: date,
    candidates: Sequence[Candidate],
    free_slots: Sequence[int],
    videos_per_day: int,
    exploration: int,
    tried: Mapping[tuple[str, str], int],
    targets: Sequence[Target],
    round_robin: bool,
) -> list[Pick]:
    """Fill the free slots: the first `videos_per_day - exploration` slots take the best-scored concepts, the last
    `exploration` slots the least-tried (category, platform) cell the slot's account can take, with that cell's
    best concept (counting today's picks as tries). The learner weighs each category per platform, so exploring
    cells, not only categories, lets it see what the score alone would never choose. Fewer candidates than slots
    leave slots empty.

    A round-robin slot makes the video for its account's platform (the sandbox takes the concept's best one); with
    every account, a video is made for the concept's best platform among the accounts'.
    """
    if not targets:
        return []
    every_platform = tuple(p for p in PLATFORM_VALUES if any(p in t.video_platforms() for t in targets))
    remaining = list(candidates)
    tried_now = dict(tried)
    picks: list[Pick] = []
    for slot in sorted(free_slots):
        if not remaining:
            break
        account = slot_account(targets, day, slot, videos_per_day) if round_robin else None
        platforms = account.video_platforms() if account is not None else every_platform
        explore = slot >= videos_per_day - exploration
        if explore:
            chosen, platform = _least_tried_cell(remaining, platforms, tried_now)
            score = chosen.scores.get(platform, 0.0)
        else:
            chosen = max(remaining, key=lambda c: (c.best(platforms)[1], c.concept_id))
            platform, score = chosen.best(platforms)
        remaining.remove(chosen)
        cell = (chosen.category, platform)
        tried_now[cell] = tried_now.get(cell, 0) + 1
        picks.append(
            Pick(
                slot=slot,
                concept_id=chosen.concept_id,
                category=chosen.category,
                kind="exploration" if explore else "top",
                platform=platform,
                score=round(score, 2),
                account_id=account.id if account is not None else None,
            )
        )
    return picks


def _least_tried_cell(
    candidates: Sequence[Candidate], platforms: Sequence[str], tried: Mapping[tuple[str, str], int]
) -> tuple[Candidate, str]:
    """The (concept, platform) of the least-tried cell, its best-scored concept; ties go to the higher score."""
    pairs = [(c, p) for c in candidates for p in platforms]
    fewest = min(tried.get((c.category, p), 0) for c, p in pairs)
    pool = [(c, p) for c, p in pairs if tried.get((c.category, p), 0) == fewest]
    return max(pool, key=lambda pair: (pair[0].scores.get(pair[1], 0.0), pair[0].concept_id, pair[1]))


def post_targets(
    *, targets: Sequence[Target], platform: str, assigned: uuid.UUID | None, slot: int, round_robin: bool
) -> list[Target]:
    """The accounts a video made for `platform` goes to: its assigned account (round robin) while that account
    still takes the format, else one matching account in turn; with every account, all that take the format."""
    matching = [t for t in targets if platform in t.video_platforms()]
    if not round_robin or not matching:
        return matching
    for target in matching:
        if target.id == assigned:
            return [target]
    return [matching[slot % len(matching)]]


def posting_time(posting: str, hours: Sequence[int], *, slot: int, now: datetime) -> datetime | None:
    """When a ready video is posted: now (None), or the next occurrence of its slot's hour (UTC) from `now`."""
    if posting != "hours" or not hours:
        return None
    ordered = sorted(set(hours))
    hour = ordered[slot % len(ordered)]
    at = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at >= now else at + timedelta(days=1)


def public_privacy(platform: str, options: Sequence[str]) -> str | None:
    """The most public privacy the account offers (Instagram has none per post)."""
    if platform == "instagram":
        return None
    if platform == "youtube":
        return "public"
    for choice in PUBLIC_PRIVACY:
        if choice in options:
            return choice
    return options[0] if options else "PUBLIC"

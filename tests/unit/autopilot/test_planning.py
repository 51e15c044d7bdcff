"""The autopilot's choices: top picks and exploration, round robin over accounts, posting times and privacy."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from viral.autopilot.planning import (
    Candidate,
    Target,
    candidate_of,
    exploration_picks,
    plan_picks,
    post_targets,
    posting_time,
    public_privacy,
)

DAY = date(2026, 12, 6)


def candidate(concept_id: str, category: str, tiktok: float, shorts: float = 0.0, reels: float = 0.0) -> Candidate:
    return Candidate(
        concept_id=concept_id,
        category=category,
        scores={"tiktok": tiktok, "youtube-shorts": shorts, "instagram-reels": reels},
    )


def target(platform: str, n: int) -> Target:
    return Target(id=uuid.UUID(int=n), platform=platform)


@pytest.mark.parametrize(
    ("videos", "share", "expected"),
    [(3, None, 1), (2, None, 0), (1, None, 0), (9, None, 3), (20, None, 6), (3, 0.0, 0), (4, 0.5, 2), (3, 1.0, 3)],
)
def test_exploration_picks_default_to_one_in_three_from_three_videos_a_day(
    videos: int, share: float | None, expected: int
) -> None:
    assert exploration_picks(videos, share) == expected


def test_top_slots_take_the_best_scores_and_the_exploration_slot_the_least_tried_cell() -> None:
    # Given four concepts where tech was never tried on TikTok and scores lowest
    candidates = [
        candidate("a1", "absurd", 90),
        candidate("f1", "food", 85),
        candidate("f2", "food", 80),
        candidate("t1", "tech", 40),
    ]
    # When three slots are filled, one of them exploring
    picks = plan_picks(
        day=DAY,
        candidates=candidates,
        free_slots=[0, 1, 2],
        videos_per_day=3,
        exploration=1,
        tried={("absurd", "tiktok"): 4, ("food", "tiktok"): 2},
        targets=[target("tiktok", 1)],
        round_robin=True,
    )
    # Then the two best go first, and the exploration slot tries tech
    assert [(p.slot, p.concept_id, p.kind) for p in picks] == [
        (0, "a1", "top"),
        (1, "f1", "top"),
        (2, "t1", "exploration"),
    ]
    assert [p.platform for p in picks] == ["tiktok", "tiktok", "tiktok"]


def test_on_the_sandbox_exploration_tries_a_platform_the_score_would_never_choose() -> None:
    # Given two concepts that score best on TikTok, and TikTok already tried for both categories
    candidates = [candidate("a1", "absurd", 90, shorts=30, reels=20), candidate("f1", "food", 80, shorts=60)]
    picks = plan_picks(
        day=DAY,
        candidates=candidates,
        free_slots=[0, 1],
        videos_per_day=2,
        exploration=1,
        tried={("absurd", "tiktok"): 3, ("food", "tiktok"): 3, ("food", "youtube-shorts"): 1},
        targets=[target("sandbox", 1)],
        round_robin=True,
    )
    # Then the top slot takes a1 on TikTok, and exploration makes food for a never-tried platform: Reels
    assert [(p.concept_id, p.platform, p.kind) for p in picks] == [
        ("a1", "tiktok", "top"),
        ("f1", "instagram-reels", "exploration"),
    ]


def test_exploration_counts_today_picks_as_tries() -> None:
    candidates = [candidate("a1", "absurd", 90), candidate("a2", "absurd", 80), candidate("f1", "food", 10)]
    picks = plan_picks(
        day=DAY,
        candidates=candidates,
        free_slots=[0, 1],
        videos_per_day=2,
        exploration=1,
        tried={},
        targets=[target("sandbox", 1)],
        round_robin=False,
    )
    # absurd was just picked, so food (never tried) is the least-tried category, whatever its score.
    assert [p.concept_id for p in picks] == ["a1", "f1"]


def test_only_free_slots_are_filled_and_fewer_candidates_leave_slots_empty() -> None:
    picks = plan_picks(
        day=DAY,
        candidates=[candidate("a1", "absurd", 50)],
        free_slots=[1, 2],
        videos_per_day=3,
        exploration=0,
        tried={},
        targets=[target("sandbox", 1)],
        round_robin=True,
    )
    assert [(p.slot, p.concept_id) for p in picks] == [(1, "a1")]


def test_no_account_means_no_pick() -> None:
    assert (
        plan_picks(
            day=DAY,
            candidates=[candidate("a1", "absurd", 50)],
            free_slots=[0],
            videos_per_day=1,
            exploration=0,
            tried={},
            targets=[],
            round_robin=True,
        )
        == []
    )


def test_round_robin_makes_each_slot_for_its_account_platform_and_turns_from_day_to_day() -> None:
    tiktok, youtube, sandbox = target("tiktok", 1), target("youtube", 2), target("sandbox", 3)
    candidates = [candidate(f"c{n}", "news", 50 + n, shorts=60 - n) for n in range(6)]
    first = plan_picks(
        day=DAY,
        candidates=candidates,
        free_slots=[0, 1, 2],
        videos_per_day=3,
        exploration=0,
        tried={},
        targets=[tiktok, youtube, sandbox],
        round_robin=True,
    )
    assert sorted(p.account_id for p in first if p.account_id) == sorted(t.id for t in (tiktok, youtube, sandbox))
    by_account = {p.account_id: p.platform for p in first}
    assert by_account[tiktok.id] == "tiktok" and by_account[youtube.id] == "youtube-shorts"
    # Two videos a day over three accounts: the next day starts where the last one stopped.
    two_a_day = [
        [
            p.account_id
            for p in plan_picks(
                day=date.fromordinal(DAY.toordinal() + offset),
                candidates=candidates,
                free_slots=[0, 1],
                videos_per_day=2,
                exploration=0,
                tried={},
                targets=[tiktok, youtube, sandbox],
                round_robin=True,
            )
        ]
        for offset in (0, 1, 2)
    ]
    flat = [a for day in two_a_day for a in day]
    assert all(flat.count(t.id) == 2 for t in (tiktok, youtube, sandbox))


def test_every_account_mode_makes_the_video_for_the_best_platform_any_account_takes() -> None:
    [pick] = plan_picks(
        day=DAY,
        candidates=[candidate("c1", "news", 40, shorts=70, reels=90)],
        free_slots=[0],
        videos_per_day=1,
        exploration=0,
        tried={},
        targets=[target("tiktok", 1), target("youtube", 2)],
        round_robin=False,
    )
    assert (pick.platform, pick.score, pick.account_id) == ("youtube-shorts", 70, None)


def test_post_targets_match_the_video_platform_and_the_sandbox_takes_any() -> None:
    tiktok, youtube, sandbox = target("tiktok", 1), target("youtube", 2), target("sandbox", 3)
    every = post_targets(
        targets=[tiktok, youtube, sandbox], platform="tiktok", assigned=None, slot=0, round_robin=False
    )
    assert every == [tiktok, sandbox]
    assigned = post_targets(
        targets=[tiktok, youtube, sandbox], platform="tiktok", assigned=sandbox.id, slot=0, round_robin=True
    )
    assert assigned == [sandbox]
    # The assigned account is gone: one matching account in turn instead.
    gone = post_targets(targets=[tiktok, sandbox], platform="tiktok", assigned=youtube.id, slot=1, round_robin=True)
    assert gone == [sandbox]
    assert post_targets(targets=[youtube], platform="tiktok", assigned=None, slot=0, round_robin=True) == []


def test_posting_time_is_now_or_the_next_occurrence_of_the_slot_hour() -> None:
    now = datetime(2026, 12, 6, 14, 30, tzinfo=UTC)
    assert posting_time("asap", [9], slot=0, now=now) is None
    assert posting_time("hours", [18, 9], slot=0, now=now) == datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert posting_time("hours", [18, 9], slot=1, now=now) == datetime(2026, 12, 6, 18, tzinfo=UTC)
    assert posting_time("hours", [18, 9], slot=2, now=now) == datetime(2026, 12, 7, 9, tzinfo=UTC)


def test_public_privacy_is_the_most_public_option_offered() -> None:
    assert public_privacy("tiktok", ["SELF_ONLY", "PUBLIC_TO_EVERYONE"]) == "PUBLIC_TO_EVERYONE"
    assert public_privacy("sandbox", ["PUBLIC", "FOLLOWERS", "PRIVATE"]) == "PUBLIC"
    assert public_privacy("tiktok", ["SELF_ONLY"]) == "SELF_ONLY"
    assert public_privacy("youtube", []) == "public"
    assert public_privacy("instagram", ["x"]) is None


def test_a_stored_concept_becomes_a_candidate_with_zero_where_it_has_no_score() -> None:
    found = candidate_of(
        "c1", "food", {"platformVirality": {"tiktok": {"score": 71}, "youtubeShorts": {"score": "high"}}}
    )
    assert found.scores == {"tiktok": 71.0, "youtube-shorts": 0.0, "instagram-reels": 0.0}
    assert candidate_of("c2", "food", {}).best(["tiktok", "youtube-shorts"]) == ("tiktok", 0.0)

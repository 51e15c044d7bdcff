"""The simulation's own parts: the audience the learner must discover, the original rule, the faults' plan, the
report and the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from viral.content.scoring import DEFAULT_WEIGHTS
from viral.learning.reflexion import engagement_to_score
from viral.learning.storage import engagement_rate

from local.simulation.audience import OriginalRule, SimulatedAudience, hidden_weights, rescored
from local.simulation.faults import PLAN, Faults
from local.simulation.report import write_report

REPO = Path(__file__).resolve().parents[3]
BREAKDOWN = {
    "raw": 60.0,
    "factors": [
        {"name": "trendSignals", "multiplier": 1.0, "points": 40.0},
        {"name": "categoryWeight", "multiplier": 1.2, "points": 5.0},
    ],
}


def test_the_hidden_weights_differ_from_the_defaults_stay_in_bounds_and_repeat_with_the_seed() -> None:
    truth = hidden_weights(3)
    assert truth == hidden_weights(3)
    assert truth != hidden_weights(4)
    cells = [(p, c) for p in truth for c in truth[p]]
    assert all(0.5 <= truth[p][c] <= 2.0 for p, c in cells)
    moved = [abs(truth[p][c] - DEFAULT_WEIGHTS["categoryWeights"][p][c]) for p, c in cells]
    assert sum(m > 0.05 for m in moved) > len(cells) / 2  # most cells are worth learning


def test_a_post_s_figures_read_back_through_the_product_s_mapping_give_its_true_score() -> None:
    audience = SimulatedAudience(seed=5)
    score = audience.observed_score("post-1", BREAKDOWN, "music", "tiktok")
    assert score == audience.observed_score("post-1", BREAKDOWN, "music", "tiktok")  # fixed per post
    figures = audience.figures(score, age_h=72)
    rate = engagement_rate(figures["views"], figures["likes"], figures["shares"], figures["comments"])
    assert engagement_to_score(rate) == pytest.approx(score, abs=1.0)
    assert audience.figures(score, age_h=6)["views"] < figures["views"]  # views grow with age


def test_a_post_nobody_saw_yet_has_no_figures() -> None:
    assert "views" not in SimulatedAudience(seed=5).figures(50.0, age_h=0)


def test_the_original_rule_moves_a_weight_towards_the_result_only_on_a_big_gap() -> None:
    rule = OriginalRule()
    before = rule.weights["tiktok"]["music"]
    predicted = rule.predict(BREAKDOWN, "music", "tiktok")
    rule.learn(BREAKDOWN, "music", "tiktok", engagement_pct=0.1)  # far below the prediction
    assert rule.weights["tiktok"]["music"] < before
    assert rule.predict(BREAKDOWN, "music", "tiktok") < predicted
    settled = rule.weights["tiktok"]["music"]
    close = rescored(BREAKDOWN, settled)
    from viral.learning.reflexion import score_to_engagement

    rule.learn(BREAKDOWN, "music", "tiktok", engagement_pct=score_to_engagement(close + 5))
    assert rule.weights["tiktok"]["music"] == settled  # a gap under 20 points changes nothing


def test_faults_are_due_once_each_from_their_hour_and_never_without_the_flag() -> None:
    assert Faults(enabled=False).due(day=30, hour=23) == []
    faults = Faults(enabled=True)
    first_name, first_day, first_hour = PLAN[0]
    assert faults.due(first_day, first_hour - 1) == []
    assert faults.due(first_day, first_hour) == [first_name]
    faults.record(first_name)
    assert first_name not in faults.due(30, 0)
    assert len(faults.due(30, 0)) == len(PLAN) - 1


def test_a_duplicate_delivery_repeats_one_batch_of_post_jobs_once() -> None:
    faults = Faults(enabled=True)
    batch = [{"MessageId": "m1"}]
    assert faults.delivery_hook("viral-sim-post-jobs", batch) is None  # not armed
    faults.arm_duplicate()
    assert faults.delivery_hook("viral-sim-video-jobs", batch) is None  # another queue
    assert faults.delivery_hook("viral-sim-post-jobs", batch) == batch
    assert faults.delivery_hook("viral-sim-post-jobs", batch) is None
    assert "duplicate-delivery" in faults.injected


def test_the_report_is_one_page_with_four_titled_charts(tmp_path: Path) -> None:
    days = [
        {
            "day": d,
            "predictionError": 10 - d,
            "originalRuleError": 10 - d / 2,
            "rankCorrelation": 0.5 + d / 20,
            "posted": 3,
            "failed": d % 2,
            "costUsd": 0.1 * d,
            "weights": {"tiktok/comedy": 1 + d / 10},
        }
        for d in range(1, 5)
    ]
    options = SimpleNamespace(name="unit", accounts=3, posts_per_day=3, seed=1, faults=True)
    page = write_report(tmp_path, days, options=options, faults={"platform-429": {"route": "POST /v1/uploads"}})
    text = page.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 4
    assert "platform-429" in text and "<td>4</td>" in text


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--days", "0"], "--days must be 1-365"),
        (["--days", "2", "--accounts", "11"], "--accounts must be 1-10"),
        ([], "the following arguments are required: --days"),
        (["--json", "--days", "x"], "argument --days: invalid int value"),
    ],
)
def test_the_command_refuses_bad_options_with_a_usage_error(arguments: list[str], complaint: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "viral.cli", "simulate", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert complaint in done.stderr
    assert "usage: viral simulate" in done.stderr


def test_the_command_s_help_lists_its_options_before_or_after_the_json_flag() -> None:
    for command in (["simulate", "--help"], ["--json", "simulate", "--help"]):
        done = subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "-m", "viral.cli", *command], cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert "--faults" in done.stdout and "--seed" in done.stdout

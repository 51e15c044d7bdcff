"""The closed loop, proven: 30 simulated days of the autonomous business with faults (`make bench-loop`).

3 sandbox accounts posting 3 videos a day each, the video vendor, the platform, the tokens, a worker and the
queue misbehaving once each (local.simulation). Targets (issue 16): the last week's prediction error at most
half the first day's, rank correlation at least 0.7 over the last week, lower error than the original app's
learning rule on the same audience, no double post, every fault recovered, the whole run under 5 minutes.
The run starts from nothing every time (its folder is cleared), and its HTML report is kept beside the results.
"""

from __future__ import annotations

import shutil
import time
from statistics import mean
from typing import Any

from bench.common import RESULTS_DIR, Figure, print_table, write_results
from local.simulation.measures import spearman

DAYS = 30
LAST_WEEK = 7


def _mean(values: list[Any]) -> float:
    known = [v for v in values if v is not None]
    return mean(known) if known else float("nan")


def run() -> bool:
    from local.simulation.run import SIMULATIONS, Options, Simulation

    options = Options(days=DAYS, tenant="bench loop", seed=2026, faults=True, accounts=3, posts_per_day=3)
    root = SIMULATIONS / "bench"
    shutil.rmtree(root / options.name, ignore_errors=True)
    started = time.perf_counter()
    result = Simulation(options, root=root).run()
    elapsed = time.perf_counter() - started
    days = result["days"]
    first = days[0]["predictionError"]
    last_week = days[-LAST_WEEK:]
    ours_tail = _mean([d["predictionError"] for d in last_week])
    original_tail = _mean(result["originalRule"][-LAST_WEEK:])
    injected, recovered = result["faultsInjected"], result["faultsRecovered"]
    week_pairs = [pair for day in result["pairs"][-LAST_WEEK:] for pair in day]
    week_rank = spearman([p[0] for p in week_pairs], [p[1] for p in week_pairs])
    figures = [
        Figure("last week's prediction error / day 1's", ours_tail / first, "x", "<=", 0.5),
        Figure("rank correlation, last week's posts", week_rank or 0.0, "", ">=", 0.7, {"posts": len(week_pairs)}),
        Figure("last week's error: ours / original rule", ours_tail / original_tail, "x", "<", 1.0),
        Figure("double posts", result["doublePosts"], "", "<=", 0),
        Figure("faults not recovered", len(injected) - len(recovered), "", "<=", 0, {"injected": injected}),
        Figure("faults injected", len(injected), "", ">=", 5),
        Figure("posts published", sum(d["posted"] for d in days), ""),
        Figure(
            "every concept's error, last week / day 1",
            _mean(result["conceptError"][-LAST_WEEK:]) / result["conceptError"][0],
            "x",
        ),
        Figure("whole run", elapsed, "s", "<", 300),
    ]
    report = RESULTS_DIR / "loop_report.html"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result["report"], report)
    write_results(
        "loop",
        figures,
        {"days": days, "originalRule": result["originalRule"], "report": report.name, "options": vars(options)},
    )
    print_table(f"Closed loop: {DAYS} simulated days with faults", figures)
    return all(f.passed is not False for f in figures)

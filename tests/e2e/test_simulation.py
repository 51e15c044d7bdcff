"""`viral simulate` end to end: a short run with faults, stopped hard in the middle and started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KILL_AT = datetime(2027, 1, 6, 11, tzinfo=UTC)  # day 3, after its 429 (08:00) and its posts
ARGS = ["--tenant", "e2e", "--seed", "3", "--faults", "--accounts", "2", "--posts-per-day", "1"]


def _simulate(workdir: Path, days: int) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "local.simulation", "--days", str(days), *ARGS, "--json", "--workdir", str(workdir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "shared"), str(REPO)])},
    )


def _finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0
    result: dict[str, Any] = json.loads(out)
    return result


def _state(workdir: Path) -> dict[str, Any] | None:
    found = list(workdir.glob("*/state.json"))
    return json.loads(found[0].read_text()) if found else None


def test_a_run_stopped_hard_goes_on_where_it_was_and_posts_nothing_twice(tmp_path: Path) -> None:
    # A first day and a half with the vendor's lost answer (day 2, 08:00)
    first = _finish(_simulate(tmp_path, 2))
    assert [d["day"] for d in first["days"]] == [1, 2]
    assert first["faultsInjected"] == ["vendor-5xx-after-accept"] == first["faultsRecovered"]
    assert first["doublePosts"] == 0
    assert sum(d["posted"] for d in first["days"]) == 4  # 2 accounts x 1 post a day

    # Then a longer run, killed (no clean shutdown) once day 3's 429 has been injected and the post is in flight
    process = _simulate(tmp_path, 4)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = _state(tmp_path)
        if state and datetime.fromisoformat(state["now"]) >= KILL_AT:
            break
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    stopped_at = _state(tmp_path)
    assert stopped_at is not None and len(stopped_at["days"]) == 2

    # Started again with the same arguments, it goes on from the last saved hour
    resumed = _finish(_simulate(tmp_path, 4))
    assert [d["day"] for d in resumed["days"]] == [1, 2, 3, 4]
    assert resumed["days"][:2] == first["days"]  # the days already measured are kept as they were
    assert resumed["runs"] == 3
    assert resumed["doublePosts"] == 0
    assert set(resumed["faultsInjected"]) == {"vendor-5xx-after-accept", "platform-429", "token-expired"}
    assert resumed["faultsRecovered"] == resumed["faultsInjected"]
    assert sum(d["posted"] for d in resumed["days"]) == 8
    assert all(d["failed"] == 0 for d in resumed["days"])
    report = Path(resumed["report"]).read_text(encoding="utf-8")
    assert report.count("data:image/png;base64,") == 4

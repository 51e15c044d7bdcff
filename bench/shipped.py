"""Cold start as shipped: the Api and Authorizer imported from `make build`'s artifacts with their bytecode and no
`__pycache__` written at run time (Lambda's /opt and /var/task are read-only), against a bare Powertools handler
(bench/baseline) built the same way; and the Api once more from the same artifacts without their bytecode.

The targets apply to the child's CPU time (user + system, from its start to its first answer): a cold import is
single-threaded and CPU-bound, and on a shared 2-core machine the wall time mostly measures the neighbours' load;
wall-time medians are reported beside. The artifacts are built by scripts/build.py for this machine's CPU (the
template's arm64 wheels do not load here) and imported by a python3.13, the runtime's version, laid out as Lambda
does: PYTHONPATH is the function's folder, then the layer's python/ folder. Without a python3.13 the figures are
skipped, not guessed.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import Figure
from bench.lambdas import ROOT

SHIPPED_DIR = ROOT / ".local" / "bench-shipped"
RUNS = 7
API_RATIO_TARGET, AUTHORIZER_RATIO_TARGET = 2.0, 1.3
KINDS = ("baseline", "api", "authorizer", "api_without_bytecode")

# argv = [function folder, event file]. Lambda imports the handler's module by name from its folder.
_CHILD = r"""
import time
started = time.perf_counter()
import importlib, json, os, sys

event_path = sys.argv[1]


class Context:
    function_name = "shipped"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:shipped"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self):
        return 15000


handler = importlib.import_module("app").lambda_handler
imported = time.perf_counter()
with open(event_path) as file:
    event = json.load(file)
result = handler(event, Context())
served = time.perf_counter()
ok = result.get("statusCode") == 200 or result.get("principalId") is not None
summary = {"import_ms": (imported - started) * 1000, "request_ms": (served - imported) * 1000, "ok": ok,
           "cpu_ms": time.process_time() * 1000}
sys.stdout.write("\nBENCH " + json.dumps(summary) + "\n")
sys.stdout.flush()
os._exit(0)
"""


@functools.cache
def _build_script() -> ModuleType:
    """scripts/build.py as a module: the benchmark builds and compiles exactly as `make build` does."""
    spec = importlib.util.spec_from_file_location("viral_build_script", ROOT / "scripts" / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _architecture() -> str:
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


def build_artifacts(python: str) -> dict[str, tuple[Path, Path]]:
    """kind -> (function folder, layer python/ folder), built with bytecode the way `make build` builds them."""
    build = _build_script()
    stack = SHIPPED_DIR / "stack"
    command = [sys.executable, str(ROOT / "scripts" / "build.py"), "--only", "ApiFunction,AuthorizerFunction"]
    command += ["--architecture", _architecture(), "--build-dir", str(stack)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env={"PYTHON313": python, **_path_env()})  # noqa: S603

    baseline = build.fresh_dir(SHIPPED_DIR / "baseline")
    target = build.Target("python3.13", _architecture())
    build.pip_install(ROOT / "bench" / "baseline" / "requirements.txt", baseline / "layer" / "python", target)
    (baseline / "function").mkdir()
    shutil.copy2(ROOT / "bench" / "baseline" / "app.py", baseline / "function" / "app.py")
    bytecode = build.Bytecode(python, "3.13")
    bytecode.compile("baseline-layer", baseline / "layer" / "python", build.LAYER_RUNTIME_PATH)
    bytecode.compile("baseline-function", baseline / "function", build.FUNCTION_RUNTIME_PATH)

    bare = SHIPPED_DIR / "without-bytecode"
    shutil.rmtree(bare, ignore_errors=True)
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(stack / "ApiFunction", bare / "ApiFunction", ignore=skip)
    shutil.copytree(stack / "SharedLayer" / "python", bare / "SharedLayer" / "python", ignore=skip)
    return {
        "baseline": (baseline / "function", baseline / "layer" / "python"),
        "api": (stack / "ApiFunction", stack / "SharedLayer" / "python"),
        "authorizer": (stack / "AuthorizerFunction", stack / "SharedLayer" / "python"),
        "api_without_bytecode": (bare / "ApiFunction", bare / "SharedLayer" / "python"),
    }


def _path_env() -> dict[str, str]:
    return {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}


def _spawn(
    python: str, folders: tuple[Path, Path], event: Path, environment: dict[str, str]
) -> tuple[float, dict[str, Any]]:
    """One cold process: its wall time (ms) and its own summary (import, request and CPU time)."""
    function, layer = folders
    env = {**environment, "PYTHONPATH": f"{function}:{layer}", "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    done = subprocess.run(  # noqa: S603 (our own interpreter and script, no shell)
        [python, "-s", "-c", _CHILD, str(event)],
        cwd=function,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall_ms = (time.perf_counter() - start) * 1000
    line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"shipped {function.name} failed ({done.returncode}): {done.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
    if not summary["ok"]:
        raise RuntimeError(f"shipped {function.name} answered with an error: {done.stdout[-2000:]}")
    return wall_ms, summary


def measure(events: dict[str, Path], environment: dict[str, str]) -> tuple[list[Figure], dict[str, Any]]:
    """The as-shipped figures (empty, with the reason, when no python3.13 is available)."""
    python = _build_script().find_python("3.13")
    if python is None:
        return [], {"skipped": "no python3.13 found (set PYTHON313): the shipped bytecode cannot be imported here"}
    folders = build_artifacts(python)
    event_of = {"baseline": events["baseline"], "api": events["api"], "authorizer": events["authorizer"]}
    event_of["api_without_bytecode"] = events["api"]
    for kind in KINDS:  # once each, unmeasured: files in the page cache
        _spawn(python, folders[kind], event_of[kind], environment)
    runs: dict[str, list[tuple[float, dict[str, Any]]]] = {kind: [] for kind in KINDS}
    for round_ in range(RUNS):
        order = KINDS[round_ % len(KINDS) :] + KINDS[: round_ % len(KINDS)]
        for kind in order:
            runs[kind].append(_spawn(python, folders[kind], event_of[kind], environment))

    def median(kind: str, key: str | None = None) -> float:
        return statistics.median(wall if key is None else summary[key] for wall, summary in runs[kind])

    detail = {
        kind: {
            "wall_ms": [round(wall, 1) for wall, _ in runs[kind]],
            "import_ms_median": round(median(kind, "import_ms"), 1),
            "request_ms_median": round(median(kind, "request_ms"), 1),
            "cpu_ms_median": round(median(kind, "cpu_ms"), 1),
        }
        for kind in KINDS
    }
    baseline, baseline_cpu = median("baseline"), median("baseline", "cpu_ms")
    figures = [
        Figure("shipped.baseline.p50", baseline, "ms", detail=detail["baseline"]),
        Figure("shipped.baseline.cpu_p50", baseline_cpu, "ms"),
    ]
    for kind, bound in (("api", API_RATIO_TARGET), ("authorizer", AUTHORIZER_RATIO_TARGET)):
        figures += [
            Figure(f"shipped.{kind}.p50", median(kind), "ms", detail=detail[kind]),
            Figure(f"shipped.{kind}.wall_ratio_vs_baseline", median(kind) / baseline, "x"),
            Figure(f"shipped.{kind}.cpu_p50", median(kind, "cpu_ms"), "ms"),
            Figure(f"shipped.{kind}.cpu_ratio_vs_baseline", median(kind, "cpu_ms") / baseline_cpu, "x", "<=", bound),
        ]
    without = "api_without_bytecode"
    figures += [
        Figure(f"shipped.{without}.p50", median(without), "ms", detail=detail[without]),
        Figure(f"shipped.{without}.cpu_p50", median(without, "cpu_ms"), "ms"),
        Figure(
            "shipped.api.import_speedup_from_bytecode", median(without, "import_ms") / median("api", "import_ms"), "x"
        ),
    ]
    return figures, {"python": python, "architecture": _architecture(), "runs": detail}

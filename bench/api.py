"""The HTTP functions: cold start of the Api and Authorizer functions against a bare Powertools baseline, and a
warm GET /api/user/usage through the authorizer and the Api handler, with the statements each sends.

Cold: every run is a fresh `python -c` process with the repo's environment (PYTHONPATH=shared:.,
POWERTOOLS_TRACE_DISABLED=1, DATABASE_URL of this run's throwaway database) that loads the handler by path (as
tests/events.py load_handler does) and serves one request; the baseline imports only Powertools' Logger, Tracer,
Metrics and APIGatewayRestResolver and serves one trivial route. Runs are interleaved (a different order each
round); the figure is the median wall time from spawn to answer. `python -X importtime` of each handler tells
which imports dominate and which module pulls each one in.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import URL

from bench import shipped
from bench.common import (
    Figure,
    StatementCounter,
    machine_info,
    measure,
    owner_connection,
    print_table,
    throwaway_database,
    write_results,
)
from bench.lambdas import (
    ROOT,
    Caller,
    Request,
    allowed_context,
    flush_usage_rows,
    lambda_context,
    make_caller,
    request,
    statement_figures,
)

NAME = "api"
COLD_RUNS = 7
WARM_REPEAT, WARM_STATEMENT_SAMPLES = 200, 60
API_RATIO_TARGET, AUTHORIZER_RATIO_TARGET = 2.0, 1.5
WARM_P50_TARGET_MS, STATEMENTS_TARGET = 5.0, 3
KINDS = ("baseline", "api", "authorizer")
# Packages worth naming in the import breakdown (the rest is summed as "other").
HEAVY = (
    "sqlalchemy",
    "pg8000",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "aws_lambda_powertools",
    "boto3",
    "botocore",
    "jwt",
    "cryptography",
    "httpx",
    "stripe",
    "yaml",
    "aws_xray_sdk",
    "urllib3",
    "jmespath",
    "dateutil",
    "scramp",
    "asn1crypto",
)

# The process each cold run starts: argv = [kind, event file]. It loads the handler, serves one request, prints
# what it measured on a BENCH line and leaves without interpreter teardown (Lambda freezes, it does not exit).
_CHILD = r"""
import time
started = time.perf_counter()
import importlib.util, json, os, sys

kind, event_path = sys.argv[1], sys.argv[2]


class Context:
    function_name = kind
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + kind
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self):
        return 15000


if kind == "baseline":
    from aws_lambda_powertools import Logger, Metrics, Tracer
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    logger, tracer = Logger(service="baseline"), Tracer(service="baseline")
    metrics = Metrics(service="baseline", namespace="Baseline")
    app = APIGatewayRestResolver()

    @app.get("/api/user/usage")
    def usage():
        return {"ok": True}

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    @tracer.capture_lambda_handler(capture_response=False)
    def handler(event, context):
        return app.resolve(event, context)
else:
    spec = importlib.util.spec_from_file_location("functions_" + kind + "_app", f"functions/{kind}/app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    handler = module.lambda_handler
imported = time.perf_counter()
with open(event_path) as file:
    event = json.load(file)
result = handler(event, Context())
served = time.perf_counter()
ok = result.get("statusCode") == 200 if kind != "authorizer" else result.get("principalId") is not None
summary = {"import_ms": (imported - started) * 1000, "request_ms": (served - imported) * 1000, "ok": ok}
sys.stdout.write("\nBENCH " + json.dumps(summary) + "\n")
sys.stdout.flush()
os._exit(0)
"""

NOTES = {
    "cold": "median wall time of a fresh process from spawn to the first answer (interpreter start included, "
    "teardown excluded); import_ms and request_ms are the child's own split of it",
    "warm": "GET /api/user/usage: the authorizer handler (its principal memo warm, as in a warm environment) then "
    "the Api handler, called in this process with API Gateway's events",
    "statements": "statements each function sends per request (before_cursor_execute on the runtime engine); the "
    "driver's implicit BEGIN/COMMIT and the pool's liveness ping are not counted",
    "shipped": "as shipped: the Api and Authorizer imported from `make build`'s artifacts (built for this CPU) by "
    "python3.13 with their bytecode and no __pycache__ written, against a bare Powertools handler built the same way "
    "(bench/baseline); fresh processes, interleaved runs: median wall time from spawn to the first answer and the "
    "child's CPU time (the targets: CPU, since wall time on a shared machine measures its load); "
    "api_without_bytecode is the same Api artifacts with their bytecode removed",
    "imports": "python -X importtime of each handler's module: self time summed per top-level package, and the "
    "chain of modules that first pulls each heavy package in",
}


def run() -> bool:
    """Measure, write bench/results/api.json and print the table; True when every target is met."""
    started = time.perf_counter()
    with throwaway_database() as url, tempfile.TemporaryDirectory(prefix="viral-bench-api-") as scratch:
        owner = owner_connection(url)
        try:
            machine = machine_info(owner)
        finally:
            owner.close()
        caller = make_caller(url, "bench api")
        usage = request("GET", "/api/user/usage", headers=caller.headers)
        events = _event_files(Path(scratch), usage, caller)
        environment = _child_environment(url)
        cold_figures, cold_detail = _cold(events, environment)
        shipped_figures, shipped_detail = shipped.measure(events, environment)
        imports = {kind: _import_breakdown(kind, events[kind], environment) for kind in ("api", "authorizer")}
        imports["baseline"] = _import_breakdown("baseline", events["baseline"], environment)
        warm_figures = _warm(usage)
    figures = cold_figures + shipped_figures + warm_figures
    extra = {
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine,
        "notes": NOTES,
        "cold_runs": cold_detail,
        "shipped": shipped_detail,
        "imports": imports,
    }
    path = write_results(NAME, figures, extra)
    print_table(f"api ({path.relative_to(path.parents[2])})", figures)
    return all(f.passed is not False for f in figures)


# --- cold start ------------------------------------------------------------------------------------------


def _event_files(scratch: Path, usage: Request, caller: Caller) -> dict[str, Path]:
    """The event each kind of process serves: the proxy event (with the authorizer's context) or the REQUEST."""
    events = {
        "baseline": usage.proxy_with(caller.context),
        "api": usage.proxy_with(caller.context),
        "authorizer": usage.authorizer,
    }
    paths = {}
    for kind, event in events.items():
        paths[kind] = scratch / f"{kind}.json"
        paths[kind].write_text(json.dumps(event))
    return paths


def _child_environment(url: URL) -> dict[str, str]:
    """The repo's environment for a function process, and nothing else of this one's."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return {
        **keep,
        "PYTHONPATH": "shared:.",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "DATABASE_URL": url.render_as_string(hide_password=False),
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _spawn(kind: str, event: Path, environment: dict[str, str]) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    done = subprocess.run(  # noqa: S603 (our own interpreter and script, no shell)
        [sys.executable, "-c", _CHILD, kind, str(event)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall_ms = (time.perf_counter() - start) * 1000
    line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"{kind} process failed ({done.returncode}): {done.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
    if not summary["ok"]:
        raise RuntimeError(f"{kind} process answered with an error: {done.stdout[-2000:]}")
    return wall_ms, summary


def _cold(events: dict[str, Path], environment: dict[str, str]) -> tuple[list[Figure], dict[str, Any]]:
    for kind in KINDS:  # once each, unmeasured: byte-code caches written, files in the page cache
        _spawn(kind, events[kind], environment)
    runs: dict[str, list[tuple[float, dict[str, Any]]]] = {kind: [] for kind in KINDS}
    for round_ in range(COLD_RUNS):
        order = KINDS[round_ % 3 :] + KINDS[: round_ % 3]
        for kind in order:
            runs[kind].append(_spawn(kind, events[kind], environment))

    def median(kind: str, key: str | None = None) -> float:
        return statistics.median(wall if key is None else summary[key] for wall, summary in runs[kind])

    detail = {
        kind: {
            "wall_ms": [round(wall, 1) for wall, _ in runs[kind]],
            "import_ms_median": round(median(kind, "import_ms"), 1),
            "request_ms_median": round(median(kind, "request_ms"), 1),
        }
        for kind in KINDS
    }
    baseline = median("baseline")
    figures = [Figure("cold.baseline.p50", baseline, "ms", detail=detail["baseline"])]
    for kind, bound in (("api", API_RATIO_TARGET), ("authorizer", AUTHORIZER_RATIO_TARGET)):
        figures.append(Figure(f"cold.{kind}.p50", median(kind), "ms", detail=detail[kind]))
        figures.append(Figure(f"cold.{kind}.ratio_vs_baseline", median(kind) / baseline, "x", "<=", bound))
    return figures, detail


def _import_breakdown(kind: str, event: Path, environment: dict[str, str]) -> dict[str, Any]:
    """`python -X importtime` of a cold run (imports and the first request): per-package self time, and which
    modules pull each heavy package in."""
    done = subprocess.run(  # noqa: S603 (our own interpreter and script, no shell)
        [sys.executable, "-X", "importtime", "-c", _CHILD, kind, str(event)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    entries = _parse_importtime(done.stderr)
    by_package: dict[str, float] = {}
    for name, self_us, _cumulative, _chain in entries:
        root = name.split(".")[0]
        key = root if root in HEAVY or root in ("viral", "local") or root.startswith("functions_") else "other"
        by_package[key] = by_package.get(key, 0.0) + self_us / 1000
    pulled_in: dict[str, dict[str, Any]] = {}
    for name, _self, cumulative_us, chain in entries:
        root = name.split(".")[0]
        if root in HEAVY and root not in pulled_in and "." not in name:
            importers = [m for m in chain if m.split(".")[0] in ("viral", "aws_lambda_powertools") or "app" in m]
            pulled_in[root] = {"cumulative_ms": round(cumulative_us / 1000, 1), "first_imported_by": importers}
    ranked = dict(sorted(((k, round(v, 1)) for k, v in by_package.items()), key=lambda kv: -kv[1]))
    return {"total_self_ms": round(sum(by_package.values()), 1), "self_ms_by_package": ranked, "pulled_in": pulled_in}


def _parse_importtime(stderr: str) -> list[tuple[str, int, int, list[str]]]:
    """(module, self µs, cumulative µs, its importers innermost first) for each line of -X importtime output.

    Python prints a module when its import finishes, after the modules it imported (indented deeper), so a
    module's importers are the next shallower lines below it.
    """
    lines: list[tuple[str, int, int, int]] = []
    for raw in stderr.splitlines():
        if not raw.startswith("import time:") or "self [us]" in raw:
            continue
        self_field, cumulative_field, name = raw.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        lines.append((name.strip(), int(self_field), int(cumulative_field), depth))
    result: list[tuple[str, int, int, list[str]]] = []
    for index, (name, self_us, cumulative_us, depth) in enumerate(lines):
        chain: list[str] = []
        level = depth
        for later_name, _, _, later_depth in lines[index + 1 :]:
            if later_depth < level:
                chain.append(later_name)
                level = later_depth
        result.append((name, self_us, cumulative_us, chain))
    return result


# --- warm ------------------------------------------------------------------------------------------------


class DriverStatementCounter:
    """Counts statements sent with pg8000's own API (execute_simple / execute_unnamed) while active."""

    def __init__(self) -> None:
        self.count = 0
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> DriverStatementCounter:
        from pg8000.core import CoreConnection

        for name in ("execute_simple", "execute_unnamed"):
            original = getattr(CoreConnection, name)
            self._saved[name] = original

            def counting(connection: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.count += 1
                return _original(connection, *args, **kwargs)

            setattr(CoreConnection, name, counting)
        return self

    def __exit__(self, *_: object) -> None:
        from pg8000.core import CoreConnection

        for name, original in self._saved.items():
            setattr(CoreConnection, name, original)


def _warm(usage: Request) -> list[Figure]:
    """GET /api/user/usage through both handlers in this process, its p50, and the statements of each."""
    from viral.db.engine import get_engine

    from tests.events import load_handler

    authorizer, api = load_handler("authorizer"), load_handler("api")
    context = lambda_context("bench")

    def authorize() -> dict[str, Any]:
        return allowed_context(authorizer.lambda_handler(dict(usage.authorizer), context), usage.method_arn)

    def serve(caller_context: dict[str, Any]) -> None:
        response = api.lambda_handler(usage.proxy_with(caller_context), context)
        if response["statusCode"] != 200:
            raise RuntimeError(f"GET /api/user/usage answered {response['statusCode']}: {response.get('body')}")

    def full_request() -> None:
        serve(authorize())

    def uncached_authorize() -> None:
        authorizer.principals._entries.clear()
        authorize()

    statements: dict[str, list[int]] = {"authorizer": [], "api": [], "authorizer_uncached": []}
    engine = get_engine()
    full_request()
    for _ in range(WARM_STATEMENT_SAMPLES):
        with StatementCounter(engine) as counter:
            caller_context = authorize()
        statements["authorizer"].append(counter.count)
        with StatementCounter(engine) as counter:
            serve(caller_context)
        statements["api"].append(counter.count)
        with StatementCounter(engine) as counter, DriverStatementCounter() as driver:
            uncached_authorize()
        # The key lookup runs on pg8000 directly (no SQLAlchemy in the authorizer): count it at the driver.
        statements["authorizer_uncached"].append(max(counter.count, driver.count))
    authorize()  # the memo warm again
    timing = measure(full_request, repeat=WARM_REPEAT, warmup=10, budget_s=10.0)
    uncached = measure(uncached_authorize, repeat=WARM_REPEAT, warmup=5, budget_s=5.0)
    flush_usage_rows()
    figures = [
        Figure("warm.usage.p50", timing.p50, "ms", "<", WARM_P50_TARGET_MS, timing.summary()),
        Figure("warm.usage.p95", timing.p95, "ms"),
        Figure("warm.authorizer_uncached.p50", uncached.p50, "ms", detail=uncached.summary()),
    ]
    for function, counts in statements.items():
        figures += statement_figures(f"warm.statements.{function}", counts, STATEMENTS_TARGET)
    return figures

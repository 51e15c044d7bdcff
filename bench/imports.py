"""Dexie imports: a 5 MB and a 50 MB export (about 2,000 and 20,000 generations) into a fresh tenant each.

Figures: rows per second of each import (and of importing the 50 MB file again, which changes nothing), the
peak resident memory of the importing process and its growth from 5 MB to 50 MB, and the peak of the Python heap
(tracemalloc, in a separate run since tracing slows the import down). Each import runs in a fresh process, so each
peak is that import's own. The files are written by tests/dexie_files.py (the same builder the tests use).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, machine_info, owner_connection, print_table, throwaway_database, write_results

NAME = "imports"
ROOT = Path(__file__).resolve().parents[1]
SIZES = {"5mb": 2_000, "50mb": 20_000}  # generations; two concepts and a trend each, about 2.5 KB per generation
PADDING = 20
PEAK_RSS_TARGET_MB, GROWTH_TARGET = 300.0, 2.0
NOTES = {
    "rows": "every row of the file: generations (each with two concepts) plus a few critiques, insights, adjustments",
    "peak_rss": "the importing process's resident-set high-water mark (VmHWM) during the import, reset just before "
    "it (Linux clear_refs); interpreter, libraries and the open connection included",
    "baseline_rss": "the same process's resident set (VmRSS) just before the import, after imports and a first query",
    "heap_peak": "tracemalloc's peak of Python allocations during the import (a second run, in its own process)",
    "reimport": "the 50 MB file imported again into the same tenant: every row unchanged, nothing rewritten",
}


def run() -> bool:
    """Write the files, import each in its own process, write bench/results/imports.json and print the table."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="viral-bench-imports-") as folder:
        files = {label: _write_file(Path(folder) / f"{label}.json", n) for label, n in SIZES.items()}
        with throwaway_database() as url:
            owner = owner_connection(url)
            try:
                machine = machine_info(owner)
            finally:
                owner.close()
            database_url = url.render_as_string(hide_password=False)
            runs = {label: _measure(database_url, path) for label, path in files.items()}
            heaps = {label: _measure(database_url, path, trace=True) for label, path in files.items()}
            again = _measure(database_url, files["50mb"], tenant=runs["50mb"]["tenant"])
    figures = _figures(runs, heaps, again)
    extra = {
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine,
        "dataset": {label: {"generations": SIZES[label], "bytes": runs[label]["bytes"]} for label in SIZES},
        "runs": {label: {k: v for k, v in r.items() if k != "tenant"} for label, r in runs.items()},
        "notes": NOTES,
    }
    path = write_results(NAME, figures, extra)
    print_table(f"imports ({path.relative_to(path.parents[2])})", figures)
    return all(f.passed is not False for f in figures)


def _write_file(path: Path, generations: int) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests import dexie_files as dx

    data = dx.dashboard_data(generations=generations, padding=PADDING)
    dx.write_export(path, dx.tables(data))
    print(f"wrote {path.name}: {path.stat().st_size / 1e6:.1f} MB, {generations:,} generations", flush=True)
    return path


def _measure(database_url: str, path: Path, *, trace: bool = False, tenant: str | None = None) -> dict[str, Any]:
    """Import `path` in a fresh process (into a new tenant unless one is given); what that process measured."""
    command = [sys.executable, "-m", "bench.imports", str(path), tenant or "new"] + (["--trace"] if trace else [])
    env = {**os.environ, "DATABASE_URL": database_url, "POWERTOOLS_LOG_LEVEL": "WARNING", "LOG_LEVEL": "WARNING"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"import of {path.name} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"imported {path.name}{' (traced)' if trace else ''}: {result['seconds']:.1f} s", flush=True)
    return result


def _figures(runs: dict[str, dict[str, Any]], heaps: dict[str, dict[str, Any]], again: dict[str, Any]) -> list[Figure]:
    small, large = runs["5mb"], runs["50mb"]
    figures = [
        Figure(f"import.{label}.rows_per_s", r["rows"] / r["seconds"], "rows/s", detail=_detail(r))
        for label, r in runs.items()
    ]
    figures.append(
        Figure("reimport.50mb.rows_per_s", again["rows"] / again["seconds"], "rows/s", detail=_detail(again))
    )
    figures += [
        Figure("import.5mb.peak_rss", small["peak_rss_mb"], "MB", "<", PEAK_RSS_TARGET_MB),
        Figure("import.50mb.peak_rss", large["peak_rss_mb"], "MB", "<", PEAK_RSS_TARGET_MB),
        Figure(
            "import.peak_rss_growth_5mb_to_50mb", large["peak_rss_mb"] / small["peak_rss_mb"], "x", "<", GROWTH_TARGET
        ),
        Figure(
            "import.50mb.rss_added",
            large["peak_rss_mb"] - large["baseline_rss_mb"],
            "MB",
            detail={"5mb": round(small["peak_rss_mb"] - small["baseline_rss_mb"], 1)},
        ),
        Figure("import.5mb.heap_peak", heaps["5mb"]["heap_peak_mb"], "MB"),
        Figure("import.50mb.heap_peak", heaps["50mb"]["heap_peak_mb"], "MB"),
        Figure(
            "import.heap_peak_growth_5mb_to_50mb",
            heaps["50mb"]["heap_peak_mb"] / heaps["5mb"]["heap_peak_mb"],
            "x",
            "<",
            GROWTH_TARGET,
        ),
    ]
    return figures


def _detail(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("seconds", "rows", "generations_per_s", "bytes", "status", "inserted", "unchanged", "passes")
    return {k: result[k] for k in keys}


def _child(path: Path, tenant: str, trace: bool) -> dict[str, Any]:
    """In the measuring process: import the file and report time and memory."""
    import tracemalloc

    from viral.identity.tenants import create_tenant
    from viral.imports.service import import_local_file
    from viral.operations.health import check_health
    from viral.tenancy import tenant_scope

    check_health()  # engine, connection and the modules a request loads, before the baseline
    tenant_id = create_tenant("bench imports").id if tenant == "new" else tenant
    baseline = _reset_peak_rss()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    with tenant_scope(tenant_id):
        report = import_local_file(path)
    seconds = time.perf_counter() - start
    heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    totals = report.totals()
    generations = report.table("generations")
    return {
        "tenant": str(tenant_id),
        "status": report.status,
        "bytes": report.file.size_bytes,
        "seconds": round(seconds, 3),
        "rows": totals["rows_in_file"],
        "inserted": totals["inserted"],
        "unchanged": totals["unchanged"],
        "generations_per_s": round((generations.rows_in_file if generations else 0) / seconds, 1),
        "passes": report.passes,
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "heap_peak_mb": round(heap_peak, 1) if heap_peak is not None else None,
    }


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def _reset_peak_rss() -> float:
    """Reset the resident-set high-water mark (so the peak is this import's own); the resident set now, in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def _peak_rss_mb() -> float:
    return max(_status_mb("VmHWM"), _status_mb("VmRSS"))


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]
    print(json.dumps(_child(Path(sys.argv[1]), sys.argv[2], "--trace" in sys.argv[3:])))

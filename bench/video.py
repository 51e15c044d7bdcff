"""The video worker (functions/video_worker): its own cost per message, the storyboard render, and its size.

* overhead: the worker handler in this process, one SQS record per call, against a fake Runway server on a local
  socket that answers at once (its jobs never finish, so no download or upload is timed): the submit step of
  new videos and the poll steps that follow. SQS and S3 are moto in process; the database is the throwaway one.
* render: a 15 s 720x1280 storyboard rendered and checked as the worker does (StoryboardProvider.download into
  the worker's spooled temp file, then the quality probe), in a fresh process pinned to one CPU (Lambda gives
  1769 MB one vCPU) with the worker's modules loaded; its wall time and its resident-set peak against
  VideoWorkerFunction's MemorySize in template.yaml.
* size: the built worker plus its layers, unzipped (from `make build`), against Lambda's 250 MB.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import (
    Figure,
    StatementCounter,
    Timing,
    machine_info,
    owner_connection,
    print_table,
    throwaway_database,
    write_results,
)

NAME = "video"
ROOT = Path(__file__).resolve().parents[1]
FUNCTION = "VideoWorkerFunction"
VIDEOS, WARMUP, POLLS, STATEMENT_SAMPLES = 24, 4, 150, 20
STEP_P50_TARGET_MS, SIZE_TARGET_MB = 50.0, 250.0
SCRIPT = (  # four timed lines: a 15 s storyboard
    ("0:00-0:03", "A cat sits at a desk covered in tax forms, glasses on", "POV: it's April 14th"),
    ("0:03-0:07", "The calculator explodes in confetti", None),
    ("0:07-0:11", "The cat signs the form with a paw print", "Filed. Somehow."),
    ("0:11-0:15", "Zoom out: an entire office of cats", "Follow for part 2"),
)

NOTES = {
    "overhead": "the VideoWorkerFunction handler (Powertools BatchProcessor, one record per call) with a fake "
    "Runway on 127.0.0.1 that answers at once and never finishes a job; submit = claim, vendor submit, job id "
    "committed, poll scheduled (message re-sent); poll = claim, vendor poll, next poll scheduled. No upload.",
    "render": "a fresh process pinned to one CPU renders the 15 s 720x1280 storyboard at the deployed frame rate "
    "into the worker's spooled temp file and probes it; peak = that process's VmHWM (interpreter, the worker's "
    "modules, PyAV and Pillow included), also cross-checked with getrusage(RUSAGE_CHILDREN)",
    "size": "the worker's built folder plus its layers' (Globals' SharedLayer and MediaLayer), unzipped, from "
    ".aws-sam/build (make build); reported as not built when that build is missing",
}


def run() -> bool:
    """Measure, write bench/results/video.json and print the table; True when every target is met."""
    started = time.perf_counter()
    render = _render_in_child()
    size = _built_size()
    with throwaway_database() as url:
        owner = owner_connection(url)
        try:
            machine = machine_info(owner)
            overhead, statements = _measure_overhead(owner)
        finally:
            owner.close()
    figures = [*overhead, *_render_figures(render)]
    if size["status"] == "measured":
        figures.append(Figure("worker.unzipped_size", size["total_mb"], "MB", "<", SIZE_TARGET_MB, size))
    extra = {
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine,
        "notes": NOTES,
        "render": render,
        "size": size,
        "statements_of_one_poll": statements,
    }
    path = write_results(NAME, figures, extra)
    print_table(f"video ({path.relative_to(path.parents[2])})", figures)
    if size["status"] != "measured":
        print(f"worker.unzipped_size: {size['status']} ({size['reason']})")
    return all(f.passed is not False for f in figures)


# --- overhead per message --------------------------------------------------------------------------------


def _measure_overhead(owner: Any) -> tuple[list[Figure], list[str]]:
    import pytest

    from tests.events import LambdaContext, load_handler
    from tests.fakes.video_vendors import KEY, FakeRunway, video_aws

    worker = load_handler("video_worker").lambda_handler
    context = LambdaContext(function_name=FUNCTION, memory_limit_in_mb=_memory_mb())
    runway = FakeRunway(polls_until_done=10**9)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
        with (
            runway.running(),
            video_aws(patch, RUNWAY_API_KEY=KEY, RUNWAY_BASE_URL=runway.url) as aws,
            _quiet_output(),
        ):
            _request_videos(owner, VIDEOS)
            samples: dict[str, list[float]] = {"submit": [], "poll": []}
            handled = 0
            while len(samples["poll"]) < POLLS:
                records = aws.receive()
                if not records:
                    raise RuntimeError("the video queue ran dry: every video should keep polling")
                for record in records:
                    step = "submit" if json.loads(record["body"])["step"] == 0 else "poll"
                    start = time.perf_counter()
                    answer = worker({"Records": [record]}, context)
                    elapsed = (time.perf_counter() - start) * 1000
                    if answer != {"batchItemFailures": []}:
                        raise RuntimeError(f"the worker failed a {step} message: {answer}")
                    aws.delete([record])
                    handled += 1
                    if handled > WARMUP:
                        samples[step].append(elapsed)
            counts, summary = _poll_statements(aws, worker, context)
            submissions, requests = runway.submissions, len(runway.server.requests)
    if submissions != VIDEOS:
        raise RuntimeError(f"the fake vendor accepted {submissions} jobs for {VIDEOS} videos")
    submit, poll = Timing(tuple(samples["submit"])), Timing(tuple(samples["poll"]))
    detail = {"mean": round(statistics.fmean(counts), 2), "per_message": {str(n): counts.count(n) for n in set(counts)}}
    figures = [
        Figure("worker.submit.p50", submit.p50, "ms", "<", STEP_P50_TARGET_MS, submit.summary()),
        Figure("worker.submit.p95", submit.p95, "ms"),
        Figure("worker.poll.p50", poll.p50, "ms", "<", STEP_P50_TARGET_MS, poll.summary()),
        Figure("worker.poll.p95", poll.p95, "ms", detail={"vendor_requests": requests}),
        Figure("worker.poll.statements", max(counts), "", detail=detail),
    ]
    return figures, summary


def _request_videos(owner: Any, count: int) -> None:
    """A tenant with room for `count` videos, and a video requested for each of `count` new concepts."""
    from viral.content import storage
    from viral.identity.tenants import create_tenant
    from viral.tenancy import tenant_scope
    from viral.video.service import request_video

    from tests import factories

    tenant = create_tenant("bench video").id
    owner.run("update tenants set monthly_video_quota = :n where id = :t::uuid", n=count, t=str(tenant))
    for _ in range(count):
        concept = factories.concept(category="tech")
        with tenant_scope(tenant):
            storage.save_generation(factories.generation(concepts=[concept]))  # type: ignore[arg-type]
            request_video(str(concept["id"]))


def _poll_statements(aws: Any, worker: Any, context: Any) -> tuple[list[int], list[str]]:
    """Statements each poll message sends (a separate pass: the listener is not in the timed calls)."""
    from viral.db.engine import get_engine

    counts: list[int] = []
    summary: list[str] = []
    while len(counts) < STATEMENT_SAMPLES:
        for record in aws.receive():
            with StatementCounter(get_engine()) as counter:
                worker({"Records": [record]}, context)
            aws.delete([record])
            counts.append(counter.count)
            summary = counter.summary()
    return counts, summary


@contextlib.contextmanager
def _quiet_output() -> Iterator[None]:
    """The worker's log lines and metrics are written as in Lambda (their cost is real), into a buffer."""
    from viral.observability import logger

    handler = logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer) if hasattr(handler, "setStream") else None
    try:
        with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            yield
    finally:
        if previous is not None:
            handler.setStream(previous)  # type: ignore[attr-defined]


# --- the storyboard render -------------------------------------------------------------------------------


def _render_in_child() -> dict[str, Any]:
    """Render in a fresh process (so its peak is the render's own); what it measured."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    env = {**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "bench.video", "render"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"the storyboard render failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["children_maxrss_mb"] = round(after, 1) if after > before else None
    result["configured_memory_mb"] = _memory_mb()
    return result


def _render_figures(render: dict[str, Any]) -> list[Figure]:
    return [
        Figure("render.15s.wall", render["render_s"], "s", detail={k: render[k] for k in ("fps", "frames", "cpus")}),
        Figure("render.15s.check", render["check_s"], "s", detail={"passed": render["passed"]}),
        Figure(
            "render.15s.peak_rss",
            render["peak_rss_mb"],
            "MB",
            "<",
            render["configured_memory_mb"],
            {"baseline_rss_mb": render["baseline_rss_mb"], "children_maxrss_mb": render["children_maxrss_mb"]},
        ),
    ]


def _render_child() -> dict[str, Any]:
    """In the measuring process: load the worker, then render and check a 15 s storyboard as it would."""
    cpus = sorted(os.sched_getaffinity(0))[:1]
    os.sched_setaffinity(0, cpus)
    from viral.settings import get_settings
    from viral.video.providers import JobState, JobStatus, RenderRequest, ScriptLine
    from viral.video.providers.storyboard import StoryboardProvider
    from viral.video.quality import Requirements, inspect
    from viral.video.service import SPOOL_BYTES

    from tests.events import load_handler

    load_handler("video_worker")  # the worker's modules, as in the Lambda process
    import av  # noqa: F401  (the media layer, loaded before the baseline as the render would)
    import PIL.Image  # noqa: F401

    settings = get_settings()
    provider = StoryboardProvider(fps=settings.video_storyboard_fps)
    request = RenderRequest(
        video_id="bench",
        title="Cats that do taxes",
        prompt="",
        category="absurd",
        script=tuple(ScriptLine(span, visual, text) for span, visual, text in SCRIPT),
        hashtags=("cats", "taxes"),
        duration_s=15,
    )
    baseline = _reset_peak_rss()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as sink:
        start = time.perf_counter()
        size = provider.download(JobStatus(state=JobState.SUCCEEDED), sink, request)
        rendered = time.perf_counter()
        report = inspect(sink, size, Requirements.from_settings(settings))
        checked = time.perf_counter()
    return {
        "render_s": round(rendered - start, 2),
        "check_s": round(checked - rendered, 3),
        "passed": report.passed,
        "report": report.wire(),
        "fps": provider.fps,
        "frames": round(15 * provider.fps),
        "size_bytes": size,
        "cpus": len(cpus),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(max(_status_mb("VmHWM"), _status_mb("VmRSS")), 1),
    }


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def _reset_peak_rss() -> float:
    """Reset the resident-set high-water mark (so the peak is the render's); the resident set now, in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


# --- the template and the build --------------------------------------------------------------------------


def _memory_mb() -> int:
    from local.template import SamTemplate

    return SamTemplate.load(ROOT / "template.yaml").functions()[FUNCTION].memory_mb


def _built_size() -> dict[str, Any]:
    """The worker plus its layers, unzipped: from .aws-sam/build/sizes.json, else measured in the build folders
    with scripts/build.py's own functions (its --check-only, without rewriting sizes.json), else not built."""
    import importlib.util

    build_dir = ROOT / ".aws-sam" / "build"
    sizes = build_dir / "sizes.json"
    if sizes.exists():
        rows = {row["function"]: row for row in json.loads(sizes.read_text())["functions"]}
        if FUNCTION in rows:
            return {"status": "measured", "source": str(sizes.relative_to(ROOT)), **rows[FUNCTION]}
    spec = importlib.util.spec_from_file_location("viral_build_script", ROOT / "scripts" / "build.py")
    if spec is None or spec.loader is None:
        return {"status": "not built", "reason": "scripts/build.py cannot be loaded"}
    build = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = build  # its dataclasses look their module up while it loads
    spec.loader.exec_module(build)
    template = build.load_template(ROOT / "template.yaml")
    properties = build.function_properties(template, template["Resources"][FUNCTION])
    layers = build.layer_refs(properties)
    missing = [name for name in (FUNCTION, *layers) if not (build_dir / name).is_dir()]
    if missing:
        return {"status": "not built", "reason": f"no build of {', '.join(missing)} in .aws-sam/build (make build)"}
    own = build.dir_size(build_dir / FUNCTION) / build.MB
    layered = sum(build.dir_size(build_dir / name) for name in layers) / build.MB
    return {
        "status": "measured",
        "source": ".aws-sam/build (scripts/build.py sizes)",
        "own_mb": round(own, 2),
        "layers_mb": round(layered, 2),
        "total_mb": round(own + layered, 2),
        "layers": layers,
    }


if __name__ == "__main__":
    sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]
    if sys.argv[1:] != ["render"]:
        sys.exit("usage: python -m bench.video render")
    print(json.dumps(_render_child()))

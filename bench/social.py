"""Social publishing: the post worker's own cost per message, the DuePosts query at scale, and batched enqueueing.

* overhead: the PostWorkerFunction handler in this process, one SQS record per call, against the sandbox platform
  with no processing delay (in process over an httpx transport: a zero-latency platform), so the time is ours:
  the whole publish of one post in one message (claim, begin, upload id committed, media read from S3 and sent,
  check, published), and separately a "still processing" check message. S3 and SQS are moto in process.
* due query: 1,000,000 scheduled posts over 10,000 tenants (spread over the next ~1,000 minutes, about 1,000 due
  each minute), seeded as the owner; the schedule's one statement (find and stamp a minute's due posts, as the
  system role) timed inside a transaction rolled back after each run, so every run finds the same posts.
* enqueue: those 1,000 due posts sent to post-jobs in batches of ten (SendMessageBatch) against one send per
  post, both to moto in process, interleaved.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    Figure,
    Timing,
    machine_info,
    measure_interleaved,
    owner_connection,
    print_table,
    throwaway_database,
    write_results,
)

NAME = "social"
FUNCTION = "PostWorkerFunction"
POSTS, WARMUP, CHECKS = 60, 5, 60
TENANTS, SCHEDULED, DUE = 10_000, 1_000_000, 1_000
STEP_P50_TARGET_MS, DUE_P50_TARGET_MS, ENQUEUE_TARGET_S = 50.0, 50.0, 2.0
VIDEO_BYTES = 256 * 1024
ENQUEUE_RUNS = 5
SQS_LATENCIES_MS = (0, 10)  # a zero-latency SQS, and about what an in-region SendMessage takes

NOTES = {
    "overhead": "the PostWorkerFunction handler (Powertools BatchProcessor, one record per call) against the "
    "sandbox platform in process with no processing delay; publish = the whole publish of a post in one message "
    "(5 transactions: claim, upload id, accepted, published; token opened; 256 KiB read from S3 and sent); "
    "check = a message for a post the platform still processes (claim, status read, next check scheduled).",
    "due_query": "1,000,000 scheduled posts over 10,000 tenants, about 1,000 due per minute; the DuePosts "
    "statement (partial index on scheduled_for where status = 'scheduled', FOR UPDATE SKIP LOCKED, stamp) as the "
    "system role, rolled back after each run",
    "enqueue": "the DuePosts run end to end (claim the minute's 1,000 due posts and stamp them, then SendMessageBatch "
    "of 10) against claiming then one SendMessage per post, to a fake SQS on 127.0.0.1 speaking SQS's JSON protocol "
    "that answers at once or after 10 ms (about an in-region call); moto's in-process SQS is not used for timing: "
    "it recounts the queue on every message",
}


def run() -> bool:
    """Measure, write bench/results/social.json and print the table; True when every target is met."""
    started = time.perf_counter()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # moto in process needs a region
    with throwaway_database() as url:
        owner = owner_connection(url)
        try:
            machine = machine_info(owner)
            figures = _overhead(owner)
            figures += _due_and_enqueue(owner)
        finally:
            owner.close()
    extra = {"duration_s": round(time.perf_counter() - started, 1), "machine": machine, "notes": NOTES}
    path = write_results(NAME, figures, extra)
    print_table(f"social ({path.relative_to(path.parents[2])})", figures)
    return all(f.passed is not False for f in figures)


@contextlib.contextmanager
def _quiet_output() -> Iterator[None]:
    """The worker's log lines are written as in Lambda (their cost is real), into a buffer."""
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


# --- the worker's overhead -------------------------------------------------------------------------------


def _overhead(owner: Any) -> list[Figure]:
    import pytest
    from viral.identity.tenants import create_tenant
    from viral.social import posts
    from viral.social.platforms.sandbox import sandbox_network
    from viral.tenancy import tenant_scope

    from tests.events import LambdaContext, load_handler
    from tests.fakes.social_platforms import connect_sandbox, social_aws

    worker = load_handler("post_worker").lambda_handler
    context = LambdaContext(function_name=FUNCTION, memory_limit_in_mb=1024)
    samples: dict[str, list[float]] = {"publish": [], "check": []}
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as keys:
        patch.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
        with social_aws(patch, Path(keys)) as aws, _quiet_output():
            tenant = create_tenant("bench social").id
            owner.run("update tenants set subscription_tier = 'AGENCY' where id = :t::uuid", t=str(tenant))
            account = connect_sandbox(tenant)
            uncapped = "update social_accounts set capabilities = capabilities || :cap::jsonb where id = :a::uuid"
            owner.run(uncapped, cap='{"dailyCap": 100000}', a=str(account))
            video = aws.put_video(tenant, size=VIDEO_BYTES)
            for phase, count in (("publish", POSTS), ("check", CHECKS)):
                sandbox_network().processing_s = 0.0 if phase == "publish" else 3600.0
                for n in range(count + WARMUP):
                    with tenant_scope(tenant):
                        [post] = posts.create_posts(
                            posts.PostRequest(video_id=video, account_ids=(account,), privacy="PUBLIC", caption=f"{n}")
                        )
                    records = aws.receive()
                    if phase == "check":  # the publish message leaves the post processing: time its next check
                        aws.deliver(worker, records)
                        records = [aws.synthetic(aws.sent_posts[-1][0])]
                    started = time.perf_counter()
                    answer = worker({"Records": records}, context)
                    elapsed = (time.perf_counter() - started) * 1000
                    if answer != {"batchItemFailures": []}:
                        raise RuntimeError(f"the worker failed a {phase} message: {answer}")
                    if phase == "publish":
                        aws.delete(records)
                        if sandbox_network().publish_count(str(post.id)) != 1:
                            raise RuntimeError("a post was not published exactly once")
                    if n >= WARMUP:
                        samples[phase].append(elapsed)
    publish, check = Timing(tuple(samples["publish"])), Timing(tuple(samples["check"]))
    return [
        Figure("worker.publish.p50", publish.p50, "ms", "<", STEP_P50_TARGET_MS, publish.summary()),
        Figure("worker.publish.p95", publish.p95, "ms"),
        Figure("worker.check.p50", check.p50, "ms", "<", STEP_P50_TARGET_MS, check.summary()),
        Figure("worker.check.p95", check.p95, "ms"),
    ]


# --- the due-post query and enqueueing -------------------------------------------------------------------

_SEED = [
    "delete from social_posts",  # the overhead run's posts: the seeded ones alone are measured
    "create temporary table bench_tenants as "
    "select n, gen_random_uuid() as tenant_id, gen_random_uuid() as video_id, gen_random_uuid() as account_id "
    "from generate_series(0, :tenants - 1) n",
    "insert into tenants (id, name) select tenant_id, 'bench ' || n from bench_tenants",
    "insert into videos (id, tenant_id, platform, provider, status, s3_key) "
    "select video_id, tenant_id, 'tiktok', 'storyboard', 'ready', 'videos/x.mp4' from bench_tenants",
    "insert into social_accounts (id, tenant_id, platform, username, platform_account_id, access_token) "
    "select account_id, tenant_id, 'sandbox', 'creator-' || n, 'sbx-' || n, 'v1.x.y' from bench_tenants",
    # Spread over the next ~1,000 minutes: about 1,000 posts become due each minute.
    "insert into social_posts (tenant_id, video_id, account_id, platform, status, scheduled_for) "
    "select t.tenant_id, t.video_id, t.account_id, 'sandbox', 'scheduled', "
    "       now() + make_interval(secs => 60 + (g % 1000) * 60 + (g / 1000 % 60)) "
    "  from generate_series(0, :posts - 1) g join bench_tenants t on t.n = g % :tenants",
    "update social_posts set scheduled_for = now() - interval '30 seconds' where id in "
    "(select id from social_posts where status = 'scheduled' order by scheduled_for limit :due)",
    "analyze social_posts",
]


def _due_and_enqueue(owner: Any) -> list[Figure]:
    started = time.perf_counter()
    for statement in _SEED:
        owner.run(statement, tenants=TENANTS, posts=SCHEDULED, due=DUE) if ":" in statement else owner.run(statement)
    seeded_s = time.perf_counter() - started
    due = _time_due_query()
    enqueue = _time_enqueue(owner)
    detail = {"scheduled": SCHEDULED, "tenants": TENANTS, "due": DUE, "seed_s": round(seeded_s, 1)}
    timing = due["timing"]
    return [
        Figure(
            "due_query.p50",
            timing.p50,
            "ms",
            "<",
            DUE_P50_TARGET_MS,
            {**timing.summary(), **detail, "found": due["found"], "plan": due["plan"]},
        ),
        Figure("due_query.p95", timing.p95, "ms"),
        *_enqueue_figures(enqueue),
    ]


def _enqueue_figures(enqueue: dict[str, dict[str, Timing]]) -> list[Figure]:
    figures = []
    for latency, timings in enqueue.items():
        batched, single = timings["batched"], timings["single"]
        targeted = latency == f"{SQS_LATENCIES_MS[-1]}ms"
        figures += [
            Figure(
                f"enqueue_1000.sqs_{latency}.batched.p50",
                batched.p50 / 1000,
                "s",
                "<" if targeted else None,
                ENQUEUE_TARGET_S if targeted else None,
                batched.summary(),
            ),
            Figure(f"enqueue_1000.sqs_{latency}.one_by_one.p50", single.p50 / 1000, "s", detail=single.summary()),
        ]
    return figures


def _time_due_query() -> dict[str, Any]:
    from sqlalchemy import text
    from viral.db.engine import get_sessionmaker
    from viral.settings import get_settings
    from viral.social.repository import _DUE, DuePostSystemRepository

    found: list[int] = []
    role = text(f"SET LOCAL ROLE {get_settings().db_system_role}")
    until = datetime.now(UTC)

    def claim() -> None:
        with get_sessionmaker()() as session:
            session.begin()
            session.execute(role)
            found.append(len(DuePostSystemRepository(session).claim_due(until=until, limit=DUE, redispatch_s=600)))
            session.rollback()

    timing = measure_interleaved({"due": claim}, repeat=30, warmup=3, budget_s=20)["due"]
    with get_sessionmaker()() as session:
        session.begin()
        session.execute(role)
        params = {"until": until, "limit": DUE, "redispatch": 600}
        plan = [str(r[0]) for r in session.execute(text(f"explain {_DUE.text}"), params)]
        session.rollback()
    if set(found) != {DUE}:
        raise RuntimeError(f"the due query found {sorted(set(found))} posts, not {DUE}")
    return {"timing": timing, "found": DUE, "plan": plan}


class _FakeSqs:
    """SQS's JSON protocol on 127.0.0.1 with a fixed delay per call (moto's in-process SQS recounts the whole queue
    on every message, so its time would be moto's, not ours)."""

    def __init__(self, latency_s: float) -> None:
        from local.fakes.http_server import FakeServer

        self.latency_s = latency_s
        self.server = FakeServer()
        self.server.route("POST", "/", self._answer)

    def _answer(self, request: Any) -> Any:
        import hashlib

        from local.fakes.http_server import Reply

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (SQS's own checksum)

        body = json.loads(request.body)
        if request.headers.get("x-amz-target", "").endswith("SendMessageBatch"):
            successful = [
                {"Id": e["Id"], "MessageId": str(uuid.uuid4()), "MD5OfMessageBody": md5(e["MessageBody"])}
                for e in body["Entries"]
            ]
            answer: dict[str, Any] = {"Successful": successful, "Failed": []}
        else:
            answer = {"MessageId": str(uuid.uuid4()), "MD5OfMessageBody": md5(body["MessageBody"])}
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        return Reply(200, json.dumps(answer), headers, delay_s=self.latency_s)


def _time_enqueue(owner: Any) -> dict[str, dict[str, Timing]]:
    """The DuePosts run end to end (claim a minute's 1,000 due posts, send them) against one send per post."""
    from viral.aws import reset_clients
    from viral.aws.sqs import send
    from viral.db.uow import system_unit_of_work
    from viral.settings import get_settings
    from viral.social.dispatch import dispatch_due_posts
    from viral.social.messages import PostJobMessage
    from viral.social.repository import DuePostSystemRepository

    reset = "update social_posts set dispatched_at = null where dispatched_at is not null"
    names = ("AWS_ENDPOINT_URL_SQS", "POST_QUEUE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    saved = {name: os.environ.get(name) for name in names}
    results: dict[str, dict[str, Timing]] = {}

    def batched() -> None:
        report = dispatch_due_posts(limit=DUE)
        owner.run(reset)
        if report.sent != DUE:
            raise RuntimeError(f"sent {report.sent} of {DUE}")

    def single() -> None:
        with system_unit_of_work() as system:
            due = DuePostSystemRepository(system.session).claim_due(
                until=datetime.now(UTC), limit=DUE, redispatch_s=600
            )
        queue = get_settings().post_queue_url
        for d in due:
            send(queue, PostJobMessage(tenant_id=d.tenant_id, post_id=d.post_id, step=d.step))
        owner.run(reset)

    try:
        for latency_ms in SQS_LATENCIES_MS:
            fake = _FakeSqs(latency_ms / 1000)
            with fake.server.running():
                os.environ.update(
                    AWS_ENDPOINT_URL_SQS=fake.server.url,
                    POST_QUEUE_URL=f"{fake.server.url}/123456789012/post-jobs",
                    AWS_ACCESS_KEY_ID="bench",
                    AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 (a fake's)
                )
                get_settings.cache_clear()
                reset_clients()
                operations: dict[str, Callable[[], object]] = {"batched": batched, "single": single}
                results[f"{latency_ms}ms"] = measure_interleaved(
                    operations, repeat=ENQUEUE_RUNS, warmup=1, budget_s=90, min_repeat=3
                )
                fake.server.requests.clear()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        reset_clients()
    return results

"""Analytics at scale: choosing the posts due for a snapshot, writing snapshots, and GET /api/metrics.

* seed: 1,000,000 published posts over 10,000 tenants (100 each), published over the last 36 days (the oldest fall
  out of the collector's 35-day window), bulk-loaded with generate_series as the owner; 80% of the posts already
  have the snapshot of the age bucket they are in, so about one in five is due.
* due: what the hourly schedule runs: `DueSnapshotSystemRepository.due(now)`, one statement as the system role over
  every tenant (each age bucket's window of published posts, migration 0016's partial index, without that bucket's
  snapshot), and `tenants_due(now)`, the tenants it enqueues; against the same statement on raw pg8000 as the owner,
  and beside the rule it replaced (every post of 35 days, one statement) and one tenant's own `due()` (the worker).
* write: 10,000 snapshots through the collector's write step (`_record_batch`: normalise, one transaction per
  platform call's batch with `add_many`, the `metrics.collected` events and the feedback-age concept check), in
  batches of up to 20 of one tenant (TikTok's `video/query` size; YouTube's 50 only makes fewer transactions),
  against the same rows and events inserted on raw pg8000 as the owner, one transaction and two multi-row inserts per
  batch.
* metrics: GET /api/metrics (Prometheus text and JSON) through the Authorizer and Api handlers in this process for
  a tenant with 10,000 posts (500 videos of the last day, 2,000 critiques, 10,000 snapshots), against GET
  /api/user/usage on the same path (the same authorizer, middleware and transaction, one small query).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
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

NAME = "analytics"
TENANTS, POSTS = 10_000, 1_000_000
WRITES = 10_000
BIG_POSTS, BIG_VIDEOS, BIG_CRITIQUES = 10_000, 500, 2_000
DUE_TOTAL_TARGET_S, WRITE_TOTAL_TARGET_S, METRICS_P50_TARGET_MS = 1.0, 5.0, 100.0
METRICS_REPEAT = 60

NOTES = {
    "due": "the hourly schedule's choice: DueSnapshotSystemRepository.due(now) in a system unit of work (one statement "
    "over every tenant: each bucket's window of published posts without that bucket's snapshot); tenants = "
    "tenants_due(now), what it enqueues; raw = the same statement on one pg8000 connection as the owner; "
    "old_rule = the replaced rule as one statement (every published post of 35 days); per_tenant = one tenant's "
    "SnapshotRepository.due(now) in its unit of work (the worker's own choice, under row-level security)",
    "write": "10,000 snapshots through collector._record_batch with the platform answering at once, in batches of up "
    "to 20 posts of one tenant (TikTok's video/query size): normalise, one transaction per batch with add_many, "
    "the metrics.collected events in one insert and the feedback-age concept lookup; raw = the same rows and events "
    "on pg8000 as the owner, one transaction and two multi-row inserts per batch",
    "metrics": "GET /api/metrics through the Authorizer and Api handlers in this process (authorizer memo warm) for "
    "a tenant with 10,000 posts, 500 videos of the last day, 2,000 critiques and 10,000 snapshots; the baseline is "
    "GET /api/user/usage on the same path",
}

# Buckets as SQL, the same ages and late limit as viral.analytics.repository.BUCKET_AGES and LATE_LIMIT.
_BUCKET_OF_AGE = """case
  when {age} >= interval '30 days' then '30d' when {age} >= interval '7 days' then '7d'
  when {age} >= interval '72 hours' then '72h' when {age} >= interval '24 hours' then '24h'
  when {age} >= interval '6 hours' then '6h' when {age} >= interval '1 hour' then '1h' end"""

_SEED = [
    "create temporary table bench_tenants as "
    "select n, gen_random_uuid() as tenant_id, gen_random_uuid() as video_id, gen_random_uuid() as account_id "
    "from generate_series(0, :tenants - 1) n",
    "insert into tenants (id, name) select tenant_id, 'bench ' || n from bench_tenants",
    "insert into videos (id, tenant_id, platform, provider, status, s3_key) "
    "select video_id, tenant_id, 'tiktok', 'storyboard', 'ready', 'videos/x.mp4' from bench_tenants",
    "insert into social_accounts (id, tenant_id, platform, username, platform_account_id, access_token) "
    "select account_id, tenant_id, 'sandbox', 'creator-' || n, 'sbx-' || n, 'v1.x.y' from bench_tenants",
    # Published over the last 36 days, at minutes scattered so that every tenant has posts of every age.
    "insert into social_posts (tenant_id, video_id, account_id, platform, status, platform_post_id, posted_at, "
    "scheduled_for) "
    "select t.tenant_id, t.video_id, t.account_id, 'sandbox', 'published', 'sbx-post-' || g, "
    "       now() - make_interval(mins => (g::bigint * 7919 % (36 * 24 * 60))::int), now() - interval '40 days' "
    "  from generate_series(0, :posts - 1) g join bench_tenants t on t.n = g % :tenants",
    # Four posts in five already have the snapshot of the bucket they are in.
    "insert into analytics_snapshots (tenant_id, post_id, platform, bucket, raw, views, methodology) "
    "select tenant_id, id, platform, "
    + _BUCKET_OF_AGE.format(age="now() - posted_at")
    + ", '{}'::jsonb, 100, 'sandbox' from social_posts "
    "where posted_at <= now() - interval '1 hour' and posted_at >= now() - interval '35 days' "
    "  and hashtext(id::text) % 5 <> 0",
    "analyze",
]

# The big tenant behind the metrics figure: 10,000 posts, recent videos, critiques with gaps and snapshots.
_SEED_BIG = [
    "insert into social_accounts (id, tenant_id, platform, username, platform_account_id, access_token) "
    "values (:account, :t, 'sandbox', 'big', 'sbx-big', 'v1.x.y')",
    "insert into videos (id, tenant_id, platform, provider, status, s3_key, generation_cost, created_at) "
    "select case when g = 0 then :video else gen_random_uuid() end, :t, 'tiktok', "
    "       (array['veo', 'runway', 'luma', 'storyboard'])[g % 4 + 1], "
    "       case when g % 13 = 0 then 'failed' else 'ready' end, 'videos/x.mp4', "
    "       case when g % 4 = 3 then 0 else 1 + g % 7 end, now() - make_interval(mins => g) "
    "  from generate_series(0, :videos - 1) g",
    "insert into social_posts (tenant_id, video_id, account_id, platform, status, platform_post_id, posted_at, "
    "scheduled_for) "
    "select :t, :video, :account, 'sandbox', (array['published', 'published', 'published', 'failed', 'scheduled'])"
    "[g % 5 + 1], 'sbx-big-' || g, now() - make_interval(mins => g * 5), now() - make_interval(mins => g * 5) "
    "  from generate_series(0, :posts - 1) g",
    "insert into analytics_snapshots (tenant_id, post_id, platform, bucket, raw, views, methodology) "
    "select tenant_id, id, platform, '1h', '{}'::jsonb, 100, 'sandbox' from social_posts where tenant_id = :t",
    "insert into generations (tenant_id, id) values (:t, 'bench-generation')",
    "insert into concepts (tenant_id, id, generation_id, position, title, category, trend_source, data, search_text) "
    "select :t, 'bench-concept-' || g, 'bench-generation', g, 'Concept ' || g, 'absurd', 'bench', '{}'::jsonb, '' "
    "  from generate_series(0, :critiques - 1) g",
    "insert into self_critiques (tenant_id, id, concept_id, performance_gap, critique, hypothesized_reasons, "
    "scoring_issues, adjustment_plan, confidence_level) "
    "select :t, 'bench-critique-' || g, 'bench-concept-' || g, jsonb_build_object('platform', 'tiktok', "
    "       'category', 'absurd', 'predictedVirality', 40 + g % 50, 'actualViralityScore', 30 + (g * 7) % 60), "
    "       'c', '[]'::jsonb, '[]'::jsonb, 'p', 'high' "
    "  from generate_series(0, :critiques - 1) g",
    "analyze",
]

_SET_BASED_DUE = (
    """
select p.tenant_id, p.id, p.platform, b.bucket, p.platform_post_id
  from social_posts p
  cross join lateral (select """
    + _BUCKET_OF_AGE.format(age="now() - p.posted_at")
    + """ as bucket) b
 where p.status = 'published' and p.platform_post_id is not null
   and p.posted_at >= now() - interval '35 days' and p.posted_at <= now() - interval '1 hour'
   and not exists (select 1 from analytics_snapshots s
                    where s.tenant_id = p.tenant_id and s.post_id = p.id and s.bucket = b.bucket)
"""
)


def run() -> bool:
    """Measure, write bench/results/analytics.json and print the table; True when every target is met."""
    started = time.perf_counter()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with throwaway_database() as url:
        owner = owner_connection(url)
        try:
            machine = machine_info(owner)
            seeded = time.perf_counter()
            for statement in _SEED:
                owner.run(statement, tenants=TENANTS, posts=POSTS) if ":" in statement else owner.run(statement)
            seed_s = time.perf_counter() - seeded
            tenants = [uuid.UUID(str(row[0])) for row in owner.run("select tenant_id from bench_tenants order by n")]
            due_figures = _due(owner, tenants)
            write_figures = _write(owner)
            metrics_figures = _metrics(url, owner)
        finally:
            owner.close()
    figures = due_figures + write_figures + metrics_figures
    extra = {
        "duration_s": round(time.perf_counter() - started, 1),
        "seed_s": round(seed_s, 1),
        "machine": machine,
        "notes": NOTES,
    }
    path = write_results(NAME, figures, extra)
    print_table(f"analytics ({path.relative_to(path.parents[2])})", figures)
    return all(f.passed is not False for f in figures)


# --- choosing the due posts --------------------------------------------------------------------------------


def _due(owner: Any, tenants: list[uuid.UUID]) -> list[Figure]:
    from viral.analytics.repository import (
        _DUE_ALL_TENANTS,
        DueSnapshotSystemRepository,
        SnapshotRepository,
        _due_params,
    )
    from viral.db.uow import system_unit_of_work, unit_of_work

    now = datetime.now(UTC)
    found: dict[str, int] = {}

    def system_path() -> None:
        with system_unit_of_work() as system:
            found["posts"] = len(DueSnapshotSystemRepository(system.session).due(now))

    def tenants_due() -> None:
        with system_unit_of_work() as system:
            found["tenants"] = len(DueSnapshotSystemRepository(system.session).tenants_due(now))

    raw_sql, raw_params = str(_DUE_ALL_TENANTS), _due_params(now)

    def raw() -> None:
        found["raw"] = len(owner.run(raw_sql, **raw_params))

    def old_rule() -> None:
        owner.run(_SET_BASED_DUE)

    samples: list[float] = []

    def per_tenant() -> None:
        for tenant in tenants[:200]:
            began = time.perf_counter()
            with unit_of_work(tenant) as uow:
                uow.repository(SnapshotRepository).due(now)
            samples.append((time.perf_counter() - began) * 1000)

    owner.run("vacuum analyze social_posts")
    owner.run("vacuum analyze analytics_snapshots")
    timings = measure_interleaved(
        {"ours": system_path, "tenants": tenants_due, "raw": raw, "old_rule": old_rule, "per_tenant": per_tenant},
        repeat=7,
        warmup=1,
        budget_s=60,
    )
    if found["posts"] != found["raw"]:
        raise RuntimeError(f"the system path found {found['posts']} due posts, the raw statement {found['raw']}")
    plan = [str(row[0]) for row in owner.run("explain " + raw_sql, **raw_params)]
    worker = Timing(tuple(samples))
    ours_s, raw_s = timings["ours"].p50 / 1000, timings["raw"].p50 / 1000
    detail = {"tenants": len(tenants), "posts": POSTS, "due": found["posts"], "tenants_due": found["tenants"]}
    return [
        Figure(
            "due.set_based.system_path",
            ours_s,
            "s",
            "<",
            DUE_TOTAL_TARGET_S,
            {**detail, **timings["ours"].summary(), "plan": plan},
        ),
        Figure(
            "due.set_based.tenants_due",
            timings["tenants"].p50 / 1000,
            "s",
            "<",
            DUE_TOTAL_TARGET_S,
            timings["tenants"].summary(),
        ),
        Figure("due.set_based.raw_pg8000", raw_s, "s", detail=timings["raw"].summary()),
        Figure("due.set_based.ours_vs_raw", ours_s / raw_s, "x"),
        Figure("due.old_rule.one_statement", timings["old_rule"].p50 / 1000, "s", detail=timings["old_rule"].summary()),
        Figure("due.per_tenant_worker.p50", worker.p50, "ms", detail=worker.summary()),
    ]


# --- writing snapshots ------------------------------------------------------------------------------------

BATCH = 20  # TikTok's video/query: the smallest multi-id platform batch, so the most transactions


def _write(owner: Any) -> list[Figure]:
    from viral.analytics.repository import DueSnapshot

    # Rows to write: posts whose current bucket has no snapshot (the old rule's choice gives ~19 a tenant, enough to
    # fill batches; the write step does not care how they were chosen).
    rows = owner.run(_SET_BASED_DUE + " order by p.tenant_id, p.id")
    items = [
        (uuid.UUID(str(t)), DueSnapshot(uuid.UUID(str(p)), platform, bucket, None, ppid))
        for t, p, platform, bucket, ppid in rows
    ]
    if len(items) < 2 * WRITES:
        raise RuntimeError(f"only {len(items)} posts to write: the seed must leave at least {2 * WRITES}")
    ours_batches, raw_batches = _batches(items[:WRITES]), _batches(items[WRITES : 2 * WRITES])
    ours_s = _collector_writes(ours_batches)
    raw_s = _raw_writes(owner, raw_batches)
    events = owner.run("select count(*) from outbound_events where type = 'metrics.collected'")[0][0]
    if events != 2 * WRITES:
        raise RuntimeError(f"{events} metrics.collected events, not {2 * WRITES}")
    detail = {"snapshots": WRITES, "transactions": len(ours_batches), "events": WRITES, "batch": BATCH}
    return [
        Figure("write.10000_snapshots.collector", ours_s, "s", "<", WRITE_TOTAL_TARGET_S, detail),
        Figure("write.10000_snapshots.per_snapshot", ours_s / WRITES * 1000, "ms"),
        Figure("write.10000_snapshots.raw_pg8000", raw_s, "s", detail={"transactions": len(raw_batches)}),
        Figure("write.collector_vs_raw", ours_s / raw_s, "x"),
    ]


def _batches(items: list[tuple[uuid.UUID, Any]]) -> list[tuple[uuid.UUID, list[Any]]]:
    """Each tenant's items in platform-call batches of up to BATCH."""
    grouped: dict[uuid.UUID, list[Any]] = {}
    for tenant, item in items:
        grouped.setdefault(tenant, []).append(item)
    return [(t, listed[i : i + BATCH]) for t, listed in grouped.items() for i in range(0, len(listed), BATCH)]


def _answer(item: Any) -> dict[str, Any]:
    return {"postId": str(item.post_id), "views": 1200, "likes": 90, "comments": 7, "shares": 5, "saves": 3}


def _collector_writes(batches: list[tuple[uuid.UUID, list[Any]]]) -> float:
    """Seconds to write the batches through the collector's write step, the platform having answered at once."""
    from viral.analytics import collector
    from viral.settings import get_settings
    from viral.tenancy import tenant_scope

    settings = get_settings()
    answers = [{item.platform_post_id: _answer(item) for item in batch} for _, batch in batches]
    result = collector.CollectionResult()
    began = time.perf_counter()
    for (tenant, batch), answered in zip(batches, answers, strict=True):
        with tenant_scope(tenant):
            collector._record_batch(batch, answered, result, settings)
    elapsed = time.perf_counter() - began
    written = sum(len(batch) for _, batch in batches)
    if result.collected != written:
        raise RuntimeError(f"wrote {result.collected} snapshots, not {written}")
    return elapsed


def _raw_writes(owner: Any, batches: list[tuple[uuid.UUID, list[Any]]]) -> float:
    """Seconds to insert the same rows and events on pg8000 as the owner: per batch, one transaction, two inserts."""
    began = time.perf_counter()
    for tenant, batch in batches:
        owner.run("begin")
        snapshot_values = ", ".join(
            f"(:t, :p{i}, :platform{i}, :bucket{i}, cast(:raw{i} as jsonb), 1200, 90, 7, 5, 3, 'sandbox')"
            for i in range(len(batch))
        )
        params: dict[str, Any] = {"t": tenant}
        for i, item in enumerate(batch):
            params |= {
                f"p{i}": item.post_id,
                f"platform{i}": item.platform,
                f"bucket{i}": item.bucket,
                f"raw{i}": json.dumps(_answer(item)),
            }
        written = owner.run(
            "insert into analytics_snapshots (tenant_id, post_id, platform, bucket, raw, views, likes, comments, "
            "shares, saves, methodology) values " + snapshot_values + " on conflict on constraint "
            "uq_snapshots_post_bucket do nothing returning id, post_id, bucket",
            **params,
        )
        event_values = ", ".join(
            f"(gen_random_uuid(), :t, 'metrics.collected', cast(:d{i} as jsonb))" for i in range(len(written))
        )
        owner.run(
            "insert into outbound_events (id, tenant_id, type, data) values " + event_values,
            t=tenant,
            **{
                f"d{i}": json.dumps({"snapshotId": str(row[0]), "postId": str(row[1]), "bucket": row[2]})
                for i, row in enumerate(written)
            },
        )
        owner.run("commit")
    return time.perf_counter() - began


# --- GET /api/metrics -----------------------------------------------------------------------------------


def _metrics(url: Any, owner: Any) -> list[Figure]:
    from bench.lambdas import allowed_context, flush_usage_rows, lambda_context, make_caller, request
    from tests.events import load_handler

    caller = make_caller(url, "bench analytics big")
    account, video = uuid.uuid4(), uuid.uuid4()
    for statement in _SEED_BIG:
        owner.run(
            statement,
            t=caller.tenant_id,
            account=account,
            video=video,
            videos=BIG_VIDEOS,
            posts=BIG_POSTS,
            critiques=BIG_CRITIQUES,
        ) if ":" in statement else owner.run(statement)
    authorizer, api = load_handler("authorizer"), load_handler("api")
    context = lambda_context("bench")
    requests = {
        "prometheus": request("GET", "/api/metrics", headers=caller.headers),
        "json": request("GET", "/api/metrics?format=json", headers=caller.headers),
        "alerts": request("GET", "/api/metrics?format=alerts", headers=caller.headers),
        "usage": request("GET", "/api/user/usage", headers=caller.headers),
    }

    def respond(name: str) -> dict[str, Any]:
        wanted = requests[name]
        policy = authorizer.lambda_handler(dict(wanted.authorizer), context)
        response: dict[str, Any] = api.lambda_handler(
            wanted.proxy_with(allowed_context(policy, wanted.method_arn)), context
        )
        if response["statusCode"] != 200:
            raise RuntimeError(f"{name} answered {response['statusCode']}: {response.get('body')}")
        return response

    def serve(name: str) -> Callable[[], object]:
        return lambda: respond(name)

    body = respond("prometheus")["body"]
    posted = sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith("posting_total{"))
    if posted != BIG_POSTS:
        raise RuntimeError(f"posting_total sums to {posted}, not {BIG_POSTS}")
    timings = measure_interleaved(
        {name: serve(name) for name in requests}, repeat=METRICS_REPEAT, warmup=5, budget_s=30
    )
    flush_usage_rows()
    prometheus, usage = timings["prometheus"], timings["usage"]
    detail = {"posts": BIG_POSTS, "videos": BIG_VIDEOS, "critiques": BIG_CRITIQUES, "snapshots": BIG_POSTS}
    return [
        Figure(
            "metrics.prometheus.p50",
            prometheus.p50,
            "ms",
            "<",
            METRICS_P50_TARGET_MS,
            {**detail, **prometheus.summary()},
        ),
        Figure("metrics.json.p50", timings["json"].p50, "ms", "<", METRICS_P50_TARGET_MS, timings["json"].summary()),
        Figure("metrics.alerts.p50", timings["alerts"].p50, "ms", detail=timings["alerts"].summary()),
        Figure("metrics.usage_baseline.p50", usage.p50, "ms", detail=usage.summary()),
        Figure("metrics.prometheus_vs_usage", prometheus.p50 / usage.p50, "x"),
    ]

"""Analytics at scale: choosing the posts due for a snapshot, writing snapshots, and GET /api/metrics.

* seed: 1,000,000 published posts over 10,000 tenants (100 each), published over the last 36 days (the oldest fall
  out of the collector's 35-day window), bulk-loaded with generate_series as the owner; 80% of the posts already
  have the snapshot of the age bucket they are in, so about one in five is due.
* due: what the hourly fan-out causes: every tenant's AnalyticsWorker run asks `SnapshotRepository.due(now)` in
  its own unit of work (transaction, tenant bound, two statements). The figure is the total of those 10,000
  calls made one after another (in production they run in parallel, one worker per tenant message), against the
  same two statements per tenant on one raw pg8000 connection as the owner (no ORM, no transaction setup), and
  beside one set-based statement that finds every tenant's due posts at once (what a system-role fan-out could run).
* write: 10,000 due snapshots written through the collector's own write step (`_collect_one` with the platform
  call answered at once with a sandbox-shaped answer: normalise, one transaction with `add_once` and the
  `metrics.collected` event, the feedback check at 72 h and later), as it runs today (one transaction per
  snapshot) and with each tenant's snapshots in one transaction, against the same rows inserted in one
  transaction per tenant on raw pg8000.
* metrics: GET /api/metrics (Prometheus text and JSON) through the Authorizer and Api handlers in this process for
  a tenant with 10,000 posts (500 videos of the last day, 2,000 critiques, 10,000 snapshots), against GET
  /api/user/usage on the same path (the same authorizer, middleware and transaction, one small query).
"""

from __future__ import annotations

import contextlib
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
    "due": "the total of 10,000 per-tenant SnapshotRepository.due(now) calls, one unit of work each (as each "
    "tenant's AnalyticsWorker run does), made one after another; raw = the same two statements per tenant on one "
    "pg8000 connection as the owner; set_based = one statement finding every tenant's due posts and buckets",
    "write": "10,000 snapshots through the collector's write step (collector._collect_one with the platform answering "
    "at once: normalise, one transaction with add_once and the metrics.collected event, the feedback check at 72 h "
    "and later); raw = the same rows inserted on pg8000 in one transaction per tenant",
    "proposal": "not what runs today: one statement as a system path would run it, choosing each bucket's posts in "
    "a 6-hour window after the bucket's age (so a missed hour is caught on the next runs) that have no snapshot of "
    "it, served by a partial index on social_posts (posted_at) INCLUDE (tenant_id, id, platform) WHERE status = "
    "'published' AND platform_post_id IS NOT NULL, created here in the throwaway database (no migration adds it)",
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
select p.tenant_id, p.id, p.platform, b.bucket
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

# The proposal: each bucket's posts within 6 hours after its age, without that bucket's snapshot, all tenants at once.
_WINDOWED_DUE = """
select p.tenant_id, p.id, p.platform, b.bucket
  from (values ('1h', interval '1 hour', interval '6 hours'), ('6h', interval '6 hours', interval '24 hours'),
               ('24h', interval '24 hours', interval '72 hours'), ('72h', interval '72 hours', interval '7 days'),
               ('7d', interval '7 days', interval '30 days'), ('30d', interval '30 days', interval '35 days'))
       as b(bucket, age, next_age)
  join social_posts p on p.status = 'published' and p.platform_post_id is not null
   and p.posted_at <= now() - b.age and p.posted_at > greatest(now() - b.next_age, now() - b.age - interval '6 hours')
 where not exists (select 1 from analytics_snapshots s
                    where s.tenant_id = p.tenant_id and s.post_id = p.id and s.bucket = b.bucket)
"""
_PROPOSED_INDEX = (
    "create index ix_social_posts_published_posted on social_posts (posted_at) include (tenant_id, id, platform) "
    "where status = 'published' and platform_post_id is not null"
)

_RAW_POSTS = (
    "select id, platform, posted_at from social_posts where tenant_id = :t and status = 'published' "
    "and platform_post_id is not null and posted_at is not null "
    "and posted_at >= now() - interval '35 days' and posted_at <= now() - interval '1 hour'"
)
_RAW_TAKEN = "select post_id, bucket from analytics_snapshots where tenant_id = :t and post_id = any(:ids)"


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
            due_figures, due = _due(owner, tenants)
            write_figures = _write(owner, due)
            metrics_figures = _metrics(url, owner)
            metrics_figures += _proposal(owner)
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


def _due(owner: Any, tenants: list[uuid.UUID]) -> tuple[list[Figure], dict[uuid.UUID, list[Any]]]:
    from viral.analytics.repository import SnapshotRepository
    from viral.db.uow import unit_of_work

    now = datetime.now(UTC)
    found: dict[uuid.UUID, list[Any]] = {}
    samples: list[float] = []

    def ours() -> None:
        for tenant in tenants:
            began = time.perf_counter()
            with unit_of_work(tenant) as uow:
                found[tenant] = uow.repository(SnapshotRepository).due(now)
            samples.append((time.perf_counter() - began) * 1000)

    raw_found = 0

    def raw() -> None:
        nonlocal raw_found
        raw_found = 0
        for tenant in tenants:
            posts = owner.run(_RAW_POSTS, t=tenant)
            owner.run(_RAW_TAKEN, t=tenant, ids=[row[0] for row in posts])
            raw_found += len(posts)

    def set_based() -> None:
        owner.run(_SET_BASED_DUE)

    ours()  # a first pass warms the caches and the engine; the timed passes follow
    samples.clear()
    timings = measure_interleaved(
        {"ours": ours, "raw": raw, "set_based": set_based}, repeat=3, warmup=0, budget_s=0, min_repeat=2
    )
    per_tenant = Timing(tuple(samples))
    due_total = sum(len(items) for items in found.values())
    set_count = len(owner.run(_SET_BASED_DUE))
    plan = [str(row[0]) for row in owner.run("explain " + _RAW_POSTS.replace(":t", f"'{tenants[0]}'::uuid"))]
    ours_s, raw_s = timings["ours"].p50 / 1000, timings["raw"].p50 / 1000
    detail = {"tenants": len(tenants), "posts": POSTS, "due": due_total, "set_based_due": set_count}
    return [
        Figure("due.all_tenants.total", ours_s, "s", "<", DUE_TOTAL_TARGET_S, {**detail, **timings["ours"].summary()}),
        Figure("due.all_tenants.raw_pg8000_total", raw_s, "s", detail=timings["raw"].summary()),
        Figure("due.all_tenants.ours_vs_raw", ours_s / raw_s, "x"),
        Figure("due.per_tenant.p50", per_tenant.p50, "ms", detail={**per_tenant.summary(), "plan": plan}),
        Figure("due.per_tenant.p95", per_tenant.p95, "ms"),
        Figure("due.set_based.one_statement", timings["set_based"].p50 / 1000, "s", "<", DUE_TOTAL_TARGET_S),
    ], found


# --- writing snapshots ------------------------------------------------------------------------------------


def _write(owner: Any, due: dict[uuid.UUID, list[Any]]) -> list[Figure]:
    items = [(tenant, item) for tenant, listed in due.items() for item in listed]
    if len(items) < 3 * WRITES:
        raise RuntimeError(f"only {len(items)} due posts: the seed must leave at least {3 * WRITES} due")
    ours_items, raw_items, batched_items = items[:WRITES], items[WRITES : 2 * WRITES], items[2 * WRITES : 3 * WRITES]
    ours_s = _collector_writes(ours_items, per_tenant_transaction=False)
    # The same write step with each tenant's posts in one transaction (the collector's units of work join an outer
    # one): what writing the answers of one batched platform call (20 TikTok ids, 50 YouTube ids) at once costs.
    batched_s = _collector_writes(batched_items, per_tenant_transaction=True)
    raw_s = _raw_writes(owner, raw_items)
    events = owner.run("select count(*) from outbound_events where type = 'metrics.collected'")[0][0]
    transactions = len({tenant for tenant, _ in batched_items})
    detail = {"snapshots": WRITES, "tenants": len({tenant for tenant, _ in ours_items}), "events": events}
    return [
        Figure("write.10000_snapshots.collector", ours_s, "s", "<", WRITE_TOTAL_TARGET_S, detail),
        Figure("write.10000_snapshots.per_snapshot", ours_s / WRITES * 1000, "ms"),
        Figure(
            "write.10000_snapshots.collector_one_transaction_per_tenant",
            batched_s,
            "s",
            "<",
            WRITE_TOTAL_TARGET_S,
            {"transactions": transactions},
        ),
        Figure("write.10000_snapshots.raw_pg8000", raw_s, "s", detail={"transactions": transactions}),
        Figure("write.collector_vs_raw", ours_s / raw_s, "x"),
        Figure("write.collector_per_tenant_transaction_vs_raw", batched_s / raw_s, "x"),
    ]


def _grouped(items: list[tuple[uuid.UUID, Any]]) -> dict[uuid.UUID, list[Any]]:
    grouped: dict[uuid.UUID, list[Any]] = {}
    for tenant, item in items:
        grouped.setdefault(tenant, []).append(item)
    return grouped


def _collector_writes(items: list[tuple[uuid.UUID, Any]], *, per_tenant_transaction: bool) -> float:
    """Seconds to write the items' snapshots through the collector's write step, the platform answering at once."""
    from viral.analytics import collector
    from viral.db.uow import unit_of_work
    from viral.tenancy import tenant_scope

    def answer(post_id: uuid.UUID) -> dict[str, Any]:
        return {"postId": str(post_id), "views": 1200, "likes": 90, "comments": 7, "shares": 5, "saves": 3}

    result = collector.CollectionResult()
    original = collector.fetch_post_metrics
    collector.fetch_post_metrics = answer
    try:
        began = time.perf_counter()
        for tenant, listed in _grouped(items).items():
            with tenant_scope(tenant), unit_of_work() if per_tenant_transaction else contextlib.nullcontext():
                for item in listed:
                    collector._collect_one(item, result)
        elapsed = time.perf_counter() - began
    finally:
        collector.fetch_post_metrics = original
    if result.collected != len(items):
        raise RuntimeError(f"wrote {result.collected} snapshots, not {len(items)}")
    return elapsed


def _raw_writes(owner: Any, items: list[tuple[uuid.UUID, Any]]) -> float:
    """Seconds to insert the same rows on pg8000 as the owner, one transaction per tenant."""
    began = time.perf_counter()
    for tenant, listed in _grouped(items).items():
        owner.run("begin")
        for item in listed:
            owner.run(
                "insert into analytics_snapshots (tenant_id, post_id, platform, bucket, raw, views, likes, comments, "
                "shares, saves, methodology) values (:t, :p, :platform, :bucket, cast(:raw as jsonb), 1200, 90, 7, 5, "
                "3, 'sandbox') on conflict on constraint uq_snapshots_post_bucket do nothing",
                t=tenant,
                p=item.post_id,
                platform=item.platform,
                bucket=item.bucket,
                raw='{"views": 1200}',
            )
        owner.run("commit")
    return time.perf_counter() - began


# --- the proposal ----------------------------------------------------------------------------------------


def _proposal(owner: Any) -> list[Figure]:
    """The windowed set-based choice, served by the proposed partial index (created in this throwaway database)."""
    owner.run(_PROPOSED_INDEX)
    owner.run("vacuum analyze social_posts")
    owner.run("vacuum analyze analytics_snapshots")
    timing = measure_interleaved({"windowed": lambda: owner.run(_WINDOWED_DUE)}, repeat=7, warmup=1, budget_s=30)
    found = len(owner.run(_WINDOWED_DUE))
    plan = [str(row[0]) for row in owner.run("explain " + _WINDOWED_DUE)]
    detail = {**timing["windowed"].summary(), "found": found, "plan": plan}
    return [
        Figure(
            "due.proposal.windowed_set_based_with_index",
            timing["windowed"].p50 / 1000,
            "s",
            "<",
            DUE_TOTAL_TARGET_S,
            detail,
        )
    ]


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

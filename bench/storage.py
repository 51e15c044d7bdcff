"""The storage API on tenants of 10k and 100k generations (ten concepts each), against raw pg8000 baselines.

Figures: get_generations and save_generation as ratios to a raw pg8000 query or insert of the same rows (measured
in turns, in the same run), and what re-validating the listed rows with pydantic would add; search_generations
p50/p95 and its growth from 10k to 100k; get_analytics_data p50; and the statements each storage function sends.
"""

from __future__ import annotations

import inspect
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pg8000.native
from sqlalchemy import URL

from bench import corpus, seed
from bench.common import (
    Figure,
    StatementCounter,
    Timing,
    explain,
    machine_info,
    measure,
    measure_interleaved,
    owner_connection,
    print_table,
    throwaway_database,
    write_results,
)

NAME = "storage"
SIZES = {"10k": 10_000, "100k": 100_000}
SPAN_DAYS = {"10k": 365, "100k": 730}
TOPICS = 3_000
REPEAT, WARMUP = 40, 3
PAGE = 50
RATIO_TARGET, SEARCH_P50_TARGET_MS, GROWTH_TARGET = 2.0, 50.0, 3.0
ANALYTICS_P50_TARGET_MS, STATEMENTS_TARGET = 250.0, 3
# Functions of viral.content.storage that never touch the database.
PURE_FUNCTIONS = {"engagement_rate"}

_RAW_LATEST = """
select g.id, g.date, g.trends, g.is_favorite,
       coalesce((select jsonb_agg(c.data order by c.position) from concepts c
                  where c.tenant_id = g.tenant_id and c.generation_id = g.id), '[]'::jsonb) as concepts
  from generations g
 where g.tenant_id = :tenant::uuid
 order by g.date desc, g.id
 limit :page::int
"""
_SEEDED_DOCS = _RAW_LATEST.replace(" as concepts\n", " as concepts, g.search_doc, g.trend_topics\n")
_MATCHES = """
select count(*) from generations g
 where g.tenant_id = :tenant::uuid
   and (g.trend_text like :pattern
        or exists (select 1 from concepts c
                    where c.tenant_id = g.tenant_id and c.generation_id = g.id and c.search_text like :pattern))
"""
# The two phases of search_generation_ids (migration 0008), for their plans as the search role sees them.
_SEARCH_PHASES = {
    "recent_window": """
with w as (select g.id, g.date, g.search_doc from public.generations g
            where g.tenant_id = %s::uuid order by g.date desc, g.id limit 2000)
select count(*), (array_agg(w.id::text order by w.date desc, w.id) filter (where w.search_doc like %s))[1:50] from w""",
    "indexed": """
select g.id::text from public.generations g where g.tenant_id = %s::uuid and g.search_doc like %s
 order by g.date desc, g.id limit 50""",
}


@dataclass(frozen=True)
class SeededTenant:
    """A seeded tenant and its size label."""

    label: str
    id: uuid.UUID
    generations: int


NOTES = {
    "statements": "statements SQLAlchemy sends per call, the tenant bind included; the driver's implicit BEGIN and "
    "COMMIT and the pool's liveness ping are not statements of the call",
    "baselines": "raw pg8000 as the owner on one open connection: the same SQL shape and rows, no ORM, no pydantic, "
    "no unit of work; taken in turns with the app call so that noise hits both",
    "plans": "EXPLAIN (ANALYZE, BUFFERS) of each call's main statement, run as the runtime role in the tenant's scope; "
    "search.*.phase_* are the two queries inside search_generation_ids, run as its owner role viral_search",
    "revalidate": "get_generations.*.revalidated_p50: the same call plus pydantic validation of every row it returns "
    "(what reads cost before they trusted rows validated on write), taken in turns with the plain call",
}


def run() -> bool:
    """Seed, measure, write bench/results/storage.json and print the table; True when every target is met."""
    started = time.perf_counter()
    plans: dict[str, list[str]] = {}
    with throwaway_database() as url:
        topics = corpus.make_topics(TOPICS)
        tenants, dataset = _seed(url, topics)
        owner = owner_connection(url)
        try:
            machine = machine_info(owner)
            _check_seed(owner, tenants)
            terms = _search_terms(topics)
            dataset |= {"search_terms": terms, "generations_matching_term": _selectivity(owner, tenants, terms)}
            figures = _figures(owner, tenants, topics, terms, plans)
        finally:
            owner.close()
    extra = {
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine,
        "dataset": dataset,
        "notes": NOTES,
        "plans": plans,
    }
    path = write_results(NAME, figures, extra)
    print_table(f"storage ({path.relative_to(path.parents[2])})", figures)
    return all(f.passed is not False for f in figures)


def _figures(
    owner: pg8000.native.Connection,
    tenants: list[SeededTenant],
    topics: list[corpus.Topic],
    terms: dict[str, str],
    plans: dict[str, list[str]],
) -> list[Figure]:
    """Every figure, in an order where the writes come last (they would change what the reads see)."""
    figures: list[Figure] = []
    for tenant in tenants:
        figures += _listing(owner, tenant)
    figures += _search(tenants, terms, plans)
    figures += _analytics(tenants, plans)
    for tenant in tenants:
        figures += _saving(owner, tenant, topics)
    figures += _statements(topics)
    return figures


# --- seeding ---------------------------------------------------------------------------------------------


def _seed(url: URL, topics: list[corpus.Topic]) -> tuple[list[SeededTenant], dict[str, Any]]:
    """Both tenants, bulk-loaded without the secondary indexes, which are then rebuilt; then VACUUM ANALYZE."""
    from viral.identity.tenants import create_tenant

    tenants = [SeededTenant(label, create_tenant(f"bench {label}").id, n) for label, n in SIZES.items()]
    timings: dict[str, float] = {}
    start = time.perf_counter()
    seed.load_topics(url, topics)
    indexes = seed.drop_content_indexes(url)
    for tenant in tenants:
        seed.seed_tenant(
            url, tenant.id, count=tenant.generations, topics=len(topics), span_days=SPAN_DAYS[tenant.label]
        )
    timings["insert_s"] = time.perf_counter() - start
    seed.create_indexes(url, indexes)
    seed.drop_topics(url)
    timings["indexes_s"] = time.perf_counter() - start - timings["insert_s"]
    seed.vacuum_analyze(url)
    timings["total_s"] = time.perf_counter() - start
    print(f"seeded {sum(t.generations for t in tenants):,} generations in {timings['total_s']:.0f} s", flush=True)
    return tenants, {
        "tenants": {t.label: {"generations": t.generations, "concepts": t.generations * 10} for t in tenants},
        "topics": len(topics),
        "seed": {k: round(v, 1) for k, v in timings.items()},
    }


def _check_seed(owner: pg8000.native.Connection, tenants: list[SeededTenant]) -> None:
    """Seeded rows must be valid concepts whose search columns match what the app itself would write."""
    from viral.content.repository import concept_search_text, search_doc
    from viral.content.schemas import Generation, ViralConcept

    for tenant in tenants:  # the first rows of each tenant, as the rows are all built by the same SQL
        concepts = owner.run(
            "select data, search_text from concepts where tenant_id = :t::uuid limit 200", t=str(tenant.id)
        )
        for data, search_text in concepts:
            if concept_search_text(ViralConcept.model_validate(data)) != search_text:
                raise RuntimeError(f"seeded search_text differs from the app's: {search_text!r}")
        rows = owner.run(
            "select trends, trend_text from generations where tenant_id = :t::uuid limit 200", t=str(tenant.id)
        )
        for trends, trend_text in rows:
            if " ".join(t["topic"] for t in trends).lower() != trend_text:
                raise RuntimeError(f"seeded trend_text differs from the app's: {trend_text!r}")
        for gid, date, trends, favorite, concepts_json, doc, topics in owner.run(
            _SEEDED_DOCS, tenant=str(tenant.id), page=200
        ):
            model = Generation.model_validate(
                {"id": gid, "date": date, "trends": trends, "isFavorite": favorite, "concepts": concepts_json}
            )
            if search_doc(model) != doc or [t.topic for t in model.trends] != topics:
                raise RuntimeError(f"seeded search_doc or trend_topics of {gid} differ from the app's")
        (count,) = owner.run("select count(*) from generations where tenant_id = :t::uuid", t=str(tenant.id))[0]
        if count != tenant.generations:
            raise RuntimeError(f"tenant {tenant.label} has {count} generations, not {tenant.generations}")


def _search_terms(topics: list[corpus.Topic]) -> dict[str, str]:
    """A rare topic word (from the popularity tail, in no other topic's name), a common hashtag, a title word."""
    names = [t.name for t in topics]
    rare = next(t.name for t in reversed(topics) if sum(t.name in other for other in names) == 1)
    return {"rare_topic": rare, "common_hashtag": "#foodtok", "title_word": "sourdough"}


def _selectivity(
    owner: pg8000.native.Connection, tenants: list[SeededTenant], terms: dict[str, str]
) -> dict[str, dict[str, int]]:
    """How many generations of each tenant match each term (what search has to find)."""
    return {
        tenant.label: {
            key: int(owner.run(_MATCHES, tenant=str(tenant.id), pattern=f"%{term.lower()}%")[0][0])
            for key, term in terms.items()
        }
        for tenant in tenants
    }


# --- reads -----------------------------------------------------------------------------------------------


def _listing(owner: pg8000.native.Connection, tenant: SeededTenant) -> list[Figure]:
    """get_generations(limit=50) against the raw query returning the same rows."""
    from viral.content import storage
    from viral.tenancy import tenant_scope

    def raw() -> list[list[Any]]:
        rows: list[list[Any]] = owner.run(_RAW_LATEST, tenant=str(tenant.id), page=PAGE)
        return rows

    def revalidated() -> list[object]:
        return [g.validated() for g in storage.get_generations(limit=PAGE)]

    with tenant_scope(tenant.id):
        if [g.id for g in storage.get_generations(limit=PAGE)] != [row[0] for row in raw()]:
            raise RuntimeError("get_generations and the raw query disagree on the newest generations")
        timings = measure_interleaved(
            {"app": lambda: storage.get_generations(limit=PAGE), "raw": raw, "revalidated": revalidated}
        )
    name = f"get_generations.{tenant.label}"
    revalidated_timing = timings["revalidated"]
    return [
        *_ratio_figures(name, timings),
        Figure(f"{name}.revalidated_p50", revalidated_timing.p50, "ms", detail=revalidated_timing.summary()),
    ]


def _search(tenants: list[SeededTenant], terms: dict[str, str], plans: dict[str, list[str]]) -> list[Figure]:
    """search_generations per term at both sizes: p50, p95 and the growth of p50 from the smallest to the largest."""
    from viral.content import storage

    figures: list[Figure] = []
    for key, term in terms.items():
        by_size: dict[str, Timing] = {}
        search = partial(storage.search_generations, term)
        for tenant in tenants:
            by_size[tenant.label] = _timed_in_scope(tenant, search)
            plans[f"search.{key}.{tenant.label}"] = _plan(tenant, search)
            for phase, sql in _SEARCH_PHASES.items():
                plans[f"search.{key}.{tenant.label}.phase_{phase}"] = _search_phase_plan(tenant, term, sql)
        small, big = by_size[tenants[0].label], by_size[tenants[-1].label]
        for tenant in tenants:
            timing = by_size[tenant.label]
            big_one = tenant is tenants[-1]
            op, bound = ("<", SEARCH_P50_TARGET_MS) if big_one else (None, None)
            name = f"search.{key}.{tenant.label}"
            figures.append(Figure(f"{name}.p50", timing.p50, "ms", op, bound, {"term": term, **timing.summary()}))
            figures.append(Figure(f"{name}.p95", timing.p95, "ms"))
        growth = big.p50 / small.p50
        figures.append(Figure(f"search.{key}.growth_p50", growth, "x", "<", GROWTH_TARGET, {"term": term}))
    return figures


def _analytics(tenants: list[SeededTenant], plans: dict[str, list[str]]) -> list[Figure]:
    from viral.content import storage

    figures: list[Figure] = []
    for tenant in tenants:
        timing = _timed_in_scope(tenant, storage.get_analytics_data, repeat=20)
        big_one = tenant is tenants[-1]
        op, bound = ("<", ANALYTICS_P50_TARGET_MS) if big_one else (None, None)
        name = f"get_analytics_data.{tenant.label}"
        figures.append(Figure(f"{name}.p50", timing.p50, "ms", op, bound, timing.summary()))
        plans[name] = _plan(tenant, storage.get_analytics_data)
    return figures


def _search_phase_plan(tenant: SeededTenant, term: str, sql: str) -> list[str]:
    """The plan of one query inside search_generation_ids, as its owner role runs it (policy USING (true))."""
    from viral.db.engine import get_engine

    parameters = (str(tenant.id), f"%{term.lower()}%")
    with get_engine().connect() as connection, connection.begin():
        connection.exec_driver_sql("reset role")
        connection.exec_driver_sql("set local role viral_search")
        rows = connection.exec_driver_sql(f"explain (analyze, buffers) {sql}", parameters)
        return [str(row[0]) for row in rows]


def _timed_in_scope(tenant: SeededTenant, operation: Callable[[], object], *, repeat: int = REPEAT) -> Timing:
    from viral.tenancy import tenant_scope

    with tenant_scope(tenant.id):
        return measure(operation, repeat=repeat, warmup=WARMUP)


def _plan(tenant: SeededTenant, operation: Callable[[], object]) -> list[str]:
    """The plan of the call's main (last) statement, as the app runs it."""
    from viral.db.engine import get_engine
    from viral.tenancy import tenant_scope

    with tenant_scope(tenant.id), StatementCounter(get_engine()) as counter:
        operation()
    statement, parameters = counter.executed[-1]
    return explain(get_engine(), tenant.id, statement, parameters)


# --- writes ----------------------------------------------------------------------------------------------


def _saving(owner: pg8000.native.Connection, tenant: SeededTenant, topics: list[corpus.Topic]) -> list[Figure]:
    """save_generation of a new ten-concept generation against a raw insert of the same rows."""
    from viral.content import storage
    from viral.tenancy import tenant_scope

    rng = random.Random(tenant.generations)
    now = datetime.now(UTC)

    def payloads(prefix: str) -> list[dict[str, Any]]:
        dates = (now + timedelta(seconds=i) for i in range(REPEAT + WARMUP))
        return [
            corpus.generation_payload(rng, f"bench-{prefix}-{tenant.label}-{i}", topics, date=d.isoformat())
            for i, d in enumerate(dates)
        ]

    app_payloads, raw_payloads = iter(payloads("app")), iter(payloads("raw"))
    with tenant_scope(tenant.id):
        timings = measure_interleaved(
            {
                "app": lambda: storage.save_generation(next(app_payloads)),
                "raw": lambda: _raw_save(owner, tenant.id, next(raw_payloads)),
            },
            repeat=REPEAT,
            warmup=WARMUP,
        )
    return _ratio_figures(f"save_generation.{tenant.label}", timings)


def _raw_save(owner: pg8000.native.Connection, tenant: uuid.UUID, payload: dict[str, Any]) -> None:
    """The same rows save_generation writes, as plain inserts in one transaction."""
    concepts = payload["concepts"]
    search_texts = [" ".join([c["title"], c["caption"], *c["hashtags"], c["trendSource"]]).lower() for c in concepts]
    params: dict[str, Any] = {"t": str(tenant), "gid": payload["id"]}
    rows = []
    for i, (c, search_text) in enumerate(zip(concepts, search_texts, strict=True)):
        params |= {f"id{i}": c["id"], f"ti{i}": c["title"], f"ca{i}": c["category"], f"ts{i}": c["trendSource"]}
        params |= {f"da{i}": json.dumps(c), f"st{i}": search_text}
        rows.append(f"(:t::uuid, :id{i}, :gid, {i}, :ti{i}, :ca{i}, :ts{i}, :da{i}::jsonb, :st{i})")
    trend_text = " ".join(t["topic"] for t in payload["trends"]).lower()
    owner.run("begin")
    owner.run(
        "insert into generations (tenant_id, id, date, trends, is_favorite, trend_text, trend_topics, search_doc) "
        "values (:t::uuid, :gid, :date::timestamptz, :trends::jsonb, false, :trend_text, :topics, :doc)",
        t=str(tenant),
        gid=payload["id"],
        date=payload["date"],
        trends=json.dumps(payload["trends"]),
        trend_text=trend_text,
        topics=[t["topic"] for t in payload["trends"]],
        doc="\x1f".join([trend_text, *search_texts]),
    )
    owner.run(
        "insert into concepts (tenant_id, id, generation_id, position, title, category, trend_source, data, "
        f"search_text) values {', '.join(rows)}",
        **params,
    )
    owner.run("commit")


def _ratio_figures(name: str, timings: dict[str, Timing]) -> list[Figure]:
    app, raw = timings["app"], timings["raw"]
    return [
        Figure(f"{name}.p50", app.p50, "ms", detail=app.summary()),
        Figure(f"{name}.raw_p50", raw.p50, "ms", detail=raw.summary()),
        Figure(f"{name}.ratio_vs_raw", app.p50 / raw.p50, "x", "<=", RATIO_TARGET),
    ]


# --- statements per call ---------------------------------------------------------------------------------


def _storage_functions() -> list[str]:
    """The storage API's public functions that reach the database."""
    from viral.content import storage

    return sorted(
        name
        for name, fn in inspect.getmembers(storage, inspect.isfunction)
        if fn.__module__ == storage.__name__ and not name.startswith("_") and name not in PURE_FUNCTIONS
    )


def _storage_calls(generation: dict[str, Any]) -> dict[str, Callable[[], object]]:
    """One call of each storage function, in an order where each finds what it needs (delete comes last)."""
    from viral.content import storage
    from viral.learning import storage as learning_storage

    from tests import factories

    gid, concept_id = generation["id"], generation["concepts"][0]["id"]
    feedback = {"id": "bench-feedback", **factories.feedback(concept_id)}
    critique = factories.critique(concept_id, critique_id="bench-critique", feedback_id="bench-feedback")
    now = datetime.now(UTC)
    return {
        "save_generation": lambda: storage.save_generation(generation),
        "get_generations": lambda: storage.get_generations(limit=PAGE),
        "count_generations": storage.count_generations,
        "get_generation": lambda: storage.get_generation(gid),
        "toggle_favorite": lambda: storage.toggle_favorite(gid),
        "get_favorites": storage.get_favorites,
        "search_generations": lambda: storage.search_generations("sourdough"),
        "get_generations_by_date_range": lambda: storage.get_generations_by_date_range(now - timedelta(days=7), now),
        "get_analytics_data": storage.get_analytics_data,
        "save_performance_feedback": lambda: learning_storage.save_performance_feedback(feedback),
        "get_performance_feedback": learning_storage.get_performance_feedback,
        "save_critique": lambda: learning_storage.save_critique(critique),
        "get_critiques": learning_storage.get_critiques,
        "get_critiques_by_concept": lambda: learning_storage.get_critiques_by_concept(concept_id),
        "get_unapplied_critiques": learning_storage.get_unapplied_critiques,
        "save_insight": lambda: learning_storage.save_insight(factories.insight()),
        "get_insights": learning_storage.get_insights,
        "get_insights_by_pattern": lambda: learning_storage.get_insights_by_pattern("absurd-tiktok-over-predicted"),
        "save_adjustment": lambda: learning_storage.save_adjustment(factories.adjustment("bench-critique")),
        "get_adjustments": learning_storage.get_adjustments,
        "get_adjustments_by_category": lambda: learning_storage.get_adjustments_by_category("absurd"),
        "get_reflexion_stats": learning_storage.get_reflexion_stats,
        "delete_generation": lambda: storage.delete_generation(gid),
    }


def _statements(topics: list[corpus.Topic]) -> list[Figure]:
    """Statements per call of every storage function, on a tenant of its own."""
    from viral.db.engine import get_engine
    from viral.identity.tenants import create_tenant
    from viral.tenancy import tenant_scope

    generation = corpus.generation_payload(
        random.Random(1), "bench-statements", topics, date=datetime.now(UTC).isoformat()
    )
    calls = _storage_calls(generation)
    figures: list[Figure] = []
    with tenant_scope(create_tenant("bench statements").id):
        for name, call in calls.items():
            with StatementCounter(get_engine()) as counter:
                call()
            detail = {"statements": counter.summary()}
            figures.append(Figure(f"statements.{name}", counter.count, "", "<=", STATEMENTS_TARGET, detail))
    uncovered = sorted(set(_storage_functions()) - set(calls))
    figures.append(Figure("statements.functions_not_covered", len(uncovered), "", "<=", 0, {"functions": uncovered}))
    return figures

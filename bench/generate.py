"""POST /api/generate through the Api handler in this process, with the offline trend set (no vendor keys): its
p50 with a warm trend cache, and the statements each call sends (the rate-limit hit included)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL

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
    Caller,
    allowed_context,
    flush_usage_rows,
    lambda_context,
    make_caller,
    request,
    statement_figures,
)

NAME = "generate"
REPEAT, WARMUP, STATEMENT_SAMPLES = 40, 3, 30
P50_TARGET_MS, STATEMENTS_TARGET = 150.0, 5
# Vendor trend sources stay off: the concept engine then reads the bundled offline trend set only.
VENDOR_SETTINGS = (
    "YOUTUBE_API_KEY",
    "REDDIT_CLIENT_ID",
    "REDDIT_CLIENT_SECRET",
    "GNEWS_API_KEY",
    "GOOGLE_TRENDS_ENABLED",
    "LLM_API_KEY",
)

NOTES = {
    "call": "the Api handler with API Gateway's proxy event for POST /api/generate (no body: up to 36 concepts "
    "across every category) and the authorizer context of an API key; the tenant is on AGENCY with a quota that "
    "never runs out, and its rate-limit window is cleared between phases (not between timed calls)",
    "statements": "statements per call on the runtime engine (before_cursor_execute), the rate-limit hit "
    "included; the driver's implicit BEGIN/COMMIT and the pool's liveness ping are not counted",
}


def run() -> bool:
    """Measure, write bench/results/generate.json and print the table; True when every target is met."""
    started = time.perf_counter()
    with _offline_trends(), throwaway_database() as url:
        owner = owner_connection(url)
        try:
            machine = machine_info(owner)
        finally:
            owner.close()
        caller = make_caller(url, "bench generate", tier="AGENCY", monthly_quota=1_000_000_000)
        figures, statements = _measure(url, caller)
    extra = {
        "duration_s": round(time.perf_counter() - started, 1),
        "machine": machine,
        "notes": NOTES,
        "statements_of_one_call": statements,
    }
    path = write_results(NAME, figures, extra)
    print_table(f"generate ({path.relative_to(path.parents[2])})", figures)
    return all(f.passed is not False for f in figures)


@contextmanager
def _offline_trends() -> Iterator[None]:
    from viral.settings import get_settings

    saved = {name: os.environ.pop(name, None) for name in VENDOR_SETTINGS}
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is not None:
                os.environ[name] = value
        get_settings.cache_clear()


def _measure(url: URL, caller: Caller) -> tuple[list[Figure], list[str]]:
    from viral.db.engine import get_engine

    from tests.events import load_handler

    api = load_handler("api")
    context = lambda_context("bench")
    generate = request("POST", "/api/generate", headers=caller.headers)
    # The authorizer's answer for this caller (its context does not depend on the route).
    caller_context = allowed_context(
        {
            "principalId": caller.context["principalId"],
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": generate.method_arn}],
            },
            "context": {k: v for k, v in caller.context.items() if k != "principalId"},
        },
        generate.method_arn,
    )

    def call() -> dict[str, Any]:
        response = api.lambda_handler(generate.proxy_with(caller_context), context)
        if response["statusCode"] != 200:
            raise RuntimeError(f"POST /api/generate answered {response['statusCode']}: {response.get('body')}")
        answer: dict[str, Any] = json.loads(response["body"])
        return answer

    first = call()  # gathers the offline trends into the cache (the cold path)
    if not first["concepts"] or first["quota"]["limited"]:
        raise RuntimeError(f"the first generation wrote no concepts: {first['quota']}")
    _clear_rate_limits(url, caller)
    counts: list[int] = []
    summary: list[str] = []
    for _ in range(STATEMENT_SAMPLES):
        with StatementCounter(get_engine()) as counter:
            call()
        counts.append(counter.count)
        summary = counter.summary()
    _clear_rate_limits(url, caller)
    timing = measure(call, repeat=REPEAT, warmup=WARMUP, budget_s=9.0)
    figures = [
        Figure(
            "generate.p50",
            timing.p50,
            "ms",
            "<",
            P50_TARGET_MS,
            {**timing.summary(), "concepts": len(first["concepts"])},
        ),
        Figure("generate.p95", timing.p95, "ms"),
        *statement_figures("generate.statements", counts, STATEMENTS_TARGET),
    ]
    flush_usage_rows()
    return figures, summary


def _clear_rate_limits(url: URL, caller: Caller) -> None:
    """A fresh rate-limit window for the caller, so a phase never runs into the plan's per-window limit."""
    owner = owner_connection(url)
    try:
        owner.run("delete from rate_limits where tenant_id = :t::uuid", t=str(caller.tenant_id))
    finally:
        owner.close()

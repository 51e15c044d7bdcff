"""python -m local.simulation --days N [--tenant T] [--seed S] [--faults] [--json]: a simulated run."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="viral simulate", description=__doc__)
    parser.add_argument("--days", type=int, required=True, help="simulated days to run (1-365)")
    parser.add_argument("--tenant", default="Simulated creator", help="the simulated tenant's name")
    parser.add_argument(
        "--seed",
        type=int,
        default=7,
        help="the seed of the audience's hidden weights (the same seed, the same audience; each post's luck follows"
        " its id)",
    )
    parser.add_argument("--faults", action="store_true", help="inject production's faults and check each recovers")
    parser.add_argument("--accounts", type=int, default=3, help="sandbox accounts to connect (1-10)")
    parser.add_argument("--posts-per-day", type=int, default=3, help="posts a day per account (1-6)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where runs keep their state (default: .local/simulations/)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.days <= 365:
        parser.error("--days must be 1-365")
    if not 1 <= args.accounts <= 10:
        parser.error("--accounts must be 1-10")
    if not 1 <= args.posts_per_day <= 6:
        parser.error("--posts-per-day must be 1-6")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Quiet functions: a run makes thousands of invocations (read before the first logger or metrics exist).
    for name, value in (
        ("POWERTOOLS_LOG_LEVEL", "WARNING"),
        ("LOG_LEVEL", "WARNING"),
        ("POWERTOOLS_METRICS_DISABLED", "true"),
        ("POWERTOOLS_TRACE_DISABLED", "1"),
    ):
        os.environ.setdefault(name, value)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from local.simulation.run import SIMULATIONS, Options, Simulation

    options = Options(
        days=args.days,
        tenant=args.tenant,
        seed=args.seed,
        faults=args.faults,
        accounts=args.accounts,
        posts_per_day=args.posts_per_day,
    )
    # Functions log and print their metrics (EMF) to stdout, as in Lambda: here that is the console, and --json
    # owns it. The service logger's handler holds stdout itself, so it is pointed at stderr too.
    from viral.observability import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)
    with contextlib.redirect_stdout(sys.stderr):
        result = Simulation(options, root=args.workdir or SIMULATIONS).run()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for day in result["days"]:
            print(
                f"day {day['day']:>3}  error {day['predictionError']}  rank {day['rankCorrelation']}  "
                f"posted {day['posted']}  failed {day['failed']}  cost ${day['costUsd']}"
            )
        print(f"double posts {result['doublePosts']}; faults {result['faultsRecovered']} of {result['faultsInjected']}")
        print(f"report {result['report']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

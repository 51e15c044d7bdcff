"""`python -m bench [name ...]`: run every benchmark, or only those named."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

# name -> module with a `run()` that measures, writes bench/results/<name>.json and prints its table.
# Modules are imported only when their benchmark runs, so one benchmark's imports never slow another.
MODULES: dict[str, str] = {
    "storage": "bench.storage",
    "learning": "bench.learning",
    "api": "bench.api",
    "generate": "bench.generate",
    "imports": "bench.imports",
    "billing": "bench.billing",
    "video": "bench.video",
    "fanout": "bench.fanout",
    "webhooks": "bench.webhooks",
    "social": "bench.social",
    "analytics": "bench.analytics",
    "loop": "bench.loop",
}


def _runner(module: str) -> Callable[[], bool]:
    def run() -> bool:
        result: bool = importlib.import_module(module).run()
        return result

    return run


BENCHMARKS: dict[str, Callable[[], bool]] = {name: _runner(module) for name, module in MODULES.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; with --strict, exit 1 when a target is missed (results are written anyway)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"one of: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    met = [BENCHMARKS[name]() for name in args.names or BENCHMARKS]
    return 1 if args.strict and not all(met) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fire a schedule of the running `make run` now, and print what its function answered.

    python -m local.fire DailyGenerateFunction      (or the event name, Function.Event, the schedule's name)
    python -m local.fire                            (lists the schedules)
    make fire NAME=DailyGenerateFunction

It talks to the runtime's local-only endpoint `POST /_local/schedules/<name>/fire`, on the instance that `make run`
started on the same data folder (it writes its address next to the data), whatever its port.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

DEFAULT_URL = "http://127.0.0.1:3000"
TIMEOUT_S = 960.0  # longer than any Lambda function may run (900 s)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.fire", description=__doc__.split("\n", 1)[0])
    parser.add_argument("name", nargs="?", help="function logical id, event name or Function.Event (none: list)")
    parser.add_argument(
        "--url",
        default=os.environ.get("VIRAL_LOCAL_URL") or _running_url() or DEFAULT_URL,
        help="the running local runtime (default: $VIRAL_LOCAL_URL, else the running `make run`'s address)",
    )
    return parser.parse_args(argv)


def _running_url() -> str | None:
    """The address the `make run` on this data folder wrote on start (it removes it when it stops)."""
    from viral.settings import get_settings

    from local.run import URL_FILE

    url_file = get_settings().embedded_pg_data.parent / URL_FILE
    return url_file.read_text(encoding="utf-8").strip() or None if url_file.is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    base = args.url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        print(f"--url must be the runtime's http:// address, not {args.url!r}", file=sys.stderr)
        return 2
    if not args.name:
        status, answer = _call("GET", f"{base}/_local/schedules")
        if status == 200:
            for schedule in answer.get("schedules", []):
                when = schedule.get("nextFire") or schedule.get("problem") or "no timed run"
                print(f"{schedule['name']:<40} {schedule['expression']} {schedule['timezone']}  (next: {when})")
            return 0
    else:
        status, answer = _call("POST", f"{base}/_local/schedules/{quote(args.name, safe='')}/fire")
        if status == 200:
            print(json.dumps(answer, indent=2))
            return 0
    print(json.dumps(answer, indent=2), file=sys.stderr)
    return 1


def _call(method: str, url: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 (http to a local URL)
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"null")
        except ValueError:
            return error.code, {"error": f"HTTP {error.code}"}
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return 0, {"error": f"cannot reach the local runtime at {url}: {reason} (is `make run` running?)"}


if __name__ == "__main__":
    sys.exit(main())

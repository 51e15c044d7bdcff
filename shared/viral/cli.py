"""The operator CLI (`.venv/bin/viral`): migrations, tenants and plans, API keys, imports, the OpenAPI document.

`--json` (before or after the subcommand) prints one JSON document on stdout and nothing else: camelCase keys,
ISO 8601 timestamps; logs go to stderr. A user's mistake prints one `error: ...` line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

from viral.errors import DomainError

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump) and exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _plain(value: Any) -> Any:
    """One JSON style for every command: dataclass fields in camelCase, ISO 8601 timestamps, ids as strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_camel(f.name): _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _print(value: Any, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_plain(value), ensure_ascii=False))
    elif isinstance(value, list):
        for item in value:
            print("\t".join(_human(v) for v in _plain(item).values()))
    elif isinstance(value, dict):
        for key, item in _plain(value).items():
            print(f"{key}: {_human(item)}")
    else:
        print(value)


def _human(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _tenant_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a tenant id (a UUID): {value!r}") from None


def _key_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an API key id (a UUID): {value!r}") from None


def _known_tenant(tenant_id: uuid.UUID) -> uuid.UUID:
    """The tenant id once it is known to exist (NotFound naming it otherwise)."""
    from viral.identity.tenants import get_tenant

    return get_tenant(tenant_id).id


def _tenant_wire(tenant: Any) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "tier": tenant.subscription_tier,
        "status": tenant.subscription_status,
        "usedQuota": tenant.used_quota,
        "monthlyQuota": tenant.monthly_quota,
        "quotaResetAt": tenant.quota_reset_at,
        "createdAt": tenant.created_at,
    }


def _plan_wire(state: Any) -> dict[str, Any]:
    return {
        "id": state.tenant_id,
        "name": state.name,
        "tier": state.tier,
        "status": state.status,
        "usedQuota": state.used_quota,
        "monthlyQuota": state.monthly_quota,
        "usedVideoQuota": state.used_video_quota,
        "quotaResetAt": state.quota_reset_at,
    }


def _key_wire(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "name": key.name,
        "scopes": key.scopes,
        "createdAt": key.created_at,
        "lastUsedAt": key.last_used_at,
        "revokedAt": key.revoked_at,
    }


# --- commands -------------------------------------------------------------------------------------------------


def _migrate(args: argparse.Namespace) -> Any:
    from viral.db.engine import database_url
    from viral.db.migrate import upgrade
    from viral.settings import get_settings

    settings = get_settings()
    return {"revision": upgrade(database_url(settings), settings)}


def _tenant_create(args: argparse.Namespace) -> Any:
    from viral.identity.tenants import create_tenant

    tenant = create_tenant(args.name)
    return _tenant_wire(tenant) if args.json else tenant.id


def _tenant_list(args: argparse.Namespace) -> Any:
    from viral.identity.tenants import list_tenants

    return [_tenant_wire(t) for t in list_tenants()]


def _tenant_set_plan(args: argparse.Namespace) -> Any:
    from viral.billing.service import set_plan
    from viral.tenancy import tenant_scope

    with tenant_scope(_known_tenant(args.tenant)):
        return _plan_wire(set_plan(args.plan))


def _tenant_reset_quota(args: argparse.Namespace) -> Any:
    from viral.billing.service import reset_quota
    from viral.tenancy import tenant_scope

    with tenant_scope(_known_tenant(args.tenant)):
        return _plan_wire(reset_quota())


def _api_key_create(args: argparse.Namespace) -> Any:
    from viral.identity.auth import create_api_key
    from viral.tenancy import tenant_scope

    scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
    with tenant_scope(_known_tenant(args.tenant)):
        created = create_api_key(name=args.name, scopes=scopes)
    if not args.json:
        return created.secret
    return {"key": created.secret, **_key_wire(created.record)}


def _api_key_list(args: argparse.Namespace) -> Any:
    from viral.identity.auth import list_api_keys
    from viral.tenancy import tenant_scope

    with tenant_scope(_known_tenant(args.tenant)):
        return [_key_wire(k) for k in list_api_keys()]


def _api_key_revoke(args: argparse.Namespace) -> Any:
    from viral.identity.auth import revoke_api_keys
    from viral.tenancy import tenant_scope

    # argparse demands exactly one of --id, --prefix, --all: every key goes only when asked by name.
    with tenant_scope(_known_tenant(args.tenant)):
        revoked = revoke_api_keys(key_id=args.id, prefix=args.prefix)
    return [_key_wire(k) for k in revoked]


def _export_openapi(args: argparse.Namespace) -> Any:
    from viral.api.app import build_app, openapi_document

    document = openapi_document(build_app())
    if args.output is None:
        sys.stdout.write(document + "\n")
        return None
    output = Path(args.output)
    try:
        output.write_text(document + "\n", encoding="utf-8")
    except OSError as error:
        raise _UsageError(f"cannot write {output}: {error.strerror or error}") from None
    return {"written": str(output)}


def _import_dexie(args: argparse.Namespace) -> Any:
    from viral.errors import InvalidInput
    from viral.imports.service import import_local_file, report_lines
    from viral.tenancy import tenant_scope

    with tenant_scope(_known_tenant(args.tenant)):
        report = import_local_file(Path(args.file), dry_run=args.dry_run)
    shown = report.wire() if args.json else "\n".join(report_lines(report))
    if report.problem is not None:
        _print(shown, as_json=args.json)  # the report, then a non-zero exit
        raise InvalidInput(f"import refused: {report.problem.message}")
    return shown


class _UsageError(Exception):
    """A mistake in the command line the parser cannot see (a file that cannot be written)."""


# --- the command tree -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The command tree; each leaf sets `run` to the function that does the work."""
    # `--json` is accepted on the root and on every leaf; a leaf's copy only sets it when given.
    json_flag = _Parser(add_help=False)
    json_flag.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")

    parser = _Parser(prog="viral", description="Viral Dashboard operator CLI")
    parser.add_argument("--json", action="store_true", help="machine-readable output (one JSON document on stdout)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def leaf(
        group: Any, name: str, run: Callable[[argparse.Namespace], Any], help_text: str
    ) -> argparse.ArgumentParser:
        command: argparse.ArgumentParser = group.add_parser(name, help=help_text, parents=[json_flag])
        command.set_defaults(run=run)
        return command

    leaf(commands, "migrate", _migrate, "upgrade the database to the newest migration")

    tenant = commands.add_parser("tenant", help="tenants and their plans").add_subparsers(
        dest="tenant_command", required=True, parser_class=_Parser
    )
    create = leaf(tenant, "create", _tenant_create, "create a tenant on the FREE plan; prints its id")
    create.add_argument("--name", required=True)
    leaf(tenant, "list", _tenant_list, "list every tenant")
    from viral.billing.plans import PLANS

    set_plan = leaf(tenant, "set-plan", _tenant_set_plan, "put a tenant on a plan (its monthly quota follows)")
    set_plan.add_argument("--tenant", required=True, type=_tenant_id)
    set_plan.add_argument("--plan", required=True, choices=sorted(PLANS, key=list(PLANS).index), type=str.upper)
    reset = leaf(tenant, "reset-quota", _tenant_reset_quota, "set the tenant's used quota of this period to 0")
    reset.add_argument("--tenant", required=True, type=_tenant_id)

    api_key = commands.add_parser("api-key", help="API keys").add_subparsers(
        dest="key_command", required=True, parser_class=_Parser
    )
    create_key = leaf(api_key, "create", _api_key_create, "create a key; prints the secret once")
    create_key.add_argument("--tenant", required=True, type=_tenant_id)
    create_key.add_argument("--name", default="cli")
    create_key.add_argument(
        "--scopes", default="read,write,generate", help="comma-separated: read,write,generate,admin"
    )
    list_keys = leaf(api_key, "list", _api_key_list, "the tenant's active keys (never a secret)")
    list_keys.add_argument("--tenant", required=True, type=_tenant_id)
    revoke_key = leaf(api_key, "revoke", _api_key_revoke, "revoke a key by --id or --prefix, or every key with --all")
    revoke_key.add_argument("--tenant", required=True, type=_tenant_id)
    which = revoke_key.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=_key_id)
    which.add_argument("--prefix")
    which.add_argument("--all", action="store_true", help="revoke every key of the tenant")

    openapi = leaf(commands, "openapi", _export_openapi, "print the OpenAPI document of the HTTP API")
    openapi.add_argument("--output", help="write the document to this file instead (e.g. docs/openapi.json)")

    dexie = leaf(
        commands,
        "import-dexie",
        _import_dexie,
        "import a Dexie export of the original dashboard (all or nothing); prints the report",
    )
    dexie.add_argument("file", help="the dexie-export-import JSON file")
    dexie.add_argument("--tenant", required=True, type=_tenant_id)
    dexie.add_argument("--dry-run", action="store_true", help="check and count, then roll back (nothing written)")

    # The simulation drives the whole local stack (local.simulation, beside the code in a checkout) and reads its
    # own options: `main` hands it everything after `simulate` (argparse cannot pass options through untouched).
    commands.add_parser(
        "simulate",
        help="run the autonomous business for N simulated days: viral simulate --days N [--faults] [--json]",
        add_help=False,
    )
    return parser


def _simulate(options: list[str]) -> int:
    from viral.settings import REPO_ROOT

    if (REPO_ROOT / "local").is_dir() and str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))  # the console script's own folder is on the path, not the checkout
    try:
        from local.simulation.__main__ import main as simulate
    except ImportError:
        print("error: viral simulate runs from a checkout of the repository (the local/ tools)", file=sys.stderr)
        return USAGE_ERROR
    return simulate(options)


def _simulation_options(argv: Sequence[str]) -> list[str] | None:
    """The options of `viral [--json] simulate ...` (None for any other command)."""
    if argv[:1] == ["simulate"]:
        return list(argv[1:])
    if argv[:2] == ["--json", "simulate"]:
        return [*argv[2:], *([] if "--json" in argv[2:] else ["--json"])]
    return None


class _StandardError:
    """Writes to whatever sys.stderr is at the time (so a swapped stderr, as in tests, is honoured)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """Keep stdout for the command's answer: the service logger writes to stderr while a command runs."""
    from viral.observability import logger

    handler = logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):
        yield
        return
    previous = handler.stream
    handler.stream = _StandardError()
    try:
        yield
    finally:
        handler.stream = previous


def main(argv: Sequence[str] | None = None) -> int:
    simulation = _simulation_options(list(sys.argv[1:] if argv is None else argv))
    if simulation is not None:
        return _simulate(simulation)
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], Any] = args.run
    try:
        with _logs_to_stderr():
            result = run(args)
        if result is not None:
            _print(result, as_json=args.json)
    except (DomainError, _UsageError) as error:
        message = error.message if isinstance(error, DomainError) else str(error)
        print(f"error: {message}", file=sys.stderr)
        return USAGE_ERROR
    except Exception as error:
        from sqlalchemy.exc import DBAPIError

        if not isinstance(error, DBAPIError):
            raise
        # Reachable but not ready (no schema, no runtime role): say so in one line, without the SQL.
        from viral.db.sqlstate import sqlstate

        state = sqlstate(error) or type(error.orig).__name__
        print(f"error: the database is not ready ({state}); run `viral migrate` first", file=sys.stderr)
        return USAGE_ERROR
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

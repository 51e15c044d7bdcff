"""The operator CLI (`.venv/bin/viral`): migrations and tenants; `--json` for scripts."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from viral.errors import DomainError


def _print(value: Any, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(value, default=str, indent=None))
    elif isinstance(value, list):
        for item in value:
            print("\t".join(str(v) for v in item.values()))
    elif isinstance(value, dict):
        for key, item in value.items():
            print(f"{key}: {item}")
    else:
        print(value)


def _migrate(args: argparse.Namespace) -> Any:
    from viral.db.engine import database_url
    from viral.db.migrate import upgrade
    from viral.settings import get_settings

    settings = get_settings()
    return {"revision": upgrade(database_url(settings), settings)}


def _tenant_create(args: argparse.Namespace) -> Any:
    from viral.identity.tenants import create_tenant

    tenant = create_tenant(args.name)
    return tenant.id if not args.json else dataclasses.asdict(tenant)


def _tenant_list(args: argparse.Namespace) -> Any:
    from viral.identity.tenants import list_tenants

    return [
        {
            "id": t.id,
            "name": t.name,
            "tier": t.subscription_tier,
            "usedQuota": t.used_quota,
            "monthlyQuota": t.monthly_quota,
        }
        for t in list_tenants()
    ]


def _api_key_create(args: argparse.Namespace) -> Any:
    from viral.identity.auth import create_api_key
    from viral.tenancy import tenant_scope

    with tenant_scope(args.tenant):
        created = create_api_key(name=args.name, scopes=tuple(args.scopes.split(",")))
    if not args.json:
        return created.secret
    return {
        "key": created.secret,
        "id": created.record.id,
        "prefix": created.record.prefix,
        "scopes": created.record.scopes,
    }


def _api_key_revoke(args: argparse.Namespace) -> Any:
    import uuid

    from viral.identity.auth import revoke_api_keys
    from viral.tenancy import tenant_scope

    with tenant_scope(args.tenant):
        revoked = revoke_api_keys(key_id=uuid.UUID(args.id) if args.id else None, prefix=args.prefix)
    return [{"id": k.id, "prefix": k.prefix} for k in revoked]


def _export_openapi(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from viral.api.app import build_app, openapi_document

    document = openapi_document(build_app())
    Path(args.output).write_text(document + "\n", encoding="utf-8")
    return {"written": args.output}


def _import_dexie(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from viral.errors import InvalidInput
    from viral.imports.service import import_local_file, report_lines
    from viral.tenancy import tenant_scope

    with tenant_scope(args.tenant):
        report = import_local_file(Path(args.file), dry_run=args.dry_run)
    shown = report.wire() if args.json else "\n".join(report_lines(report))
    if report.problem is not None:
        _print(shown, as_json=args.json)  # the report, then a non-zero exit
        raise InvalidInput(f"import refused: {report.problem.message}")
    return shown


def build_parser() -> argparse.ArgumentParser:
    """The command tree; each leaf sets `run` to the function that does the work."""
    parser = argparse.ArgumentParser(prog="viral", description="Viral Dashboard operator CLI")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("migrate", help="upgrade the database to the newest migration").set_defaults(run=_migrate)

    tenant = commands.add_parser("tenant", help="tenants").add_subparsers(dest="tenant_command", required=True)
    create = tenant.add_parser("create", help="create a tenant on the FREE plan; prints its id")
    create.add_argument("--name", required=True)
    create.set_defaults(run=_tenant_create)
    tenant.add_parser("list", help="list every tenant").set_defaults(run=_tenant_list)

    api_key = commands.add_parser("api-key", help="API keys").add_subparsers(dest="key_command", required=True)
    create_key = api_key.add_parser("create", help="create a key; prints the secret once")
    create_key.add_argument("--tenant", required=True)
    create_key.add_argument("--name", default="cli")
    create_key.add_argument(
        "--scopes", default="read,write,generate", help="comma-separated: read,write,generate,admin"
    )
    create_key.set_defaults(run=_api_key_create)
    revoke_key = api_key.add_parser("revoke", help="revoke a key by --id or --prefix (or every key of the tenant)")
    revoke_key.add_argument("--tenant", required=True)
    which = revoke_key.add_mutually_exclusive_group()
    which.add_argument("--id")
    which.add_argument("--prefix")
    revoke_key.set_defaults(run=_api_key_revoke)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document of the HTTP API")
    openapi.add_argument("--output", default="docs/openapi.json")
    openapi.set_defaults(run=_export_openapi)

    dexie = commands.add_parser(
        "import-dexie", help="import a Dexie export of the original dashboard (all or nothing); prints the report"
    )
    dexie.add_argument("file", help="the dexie-export-import JSON file")
    dexie.add_argument("--tenant", required=True)
    dexie.add_argument("--dry-run", action="store_true", help="check and count, then roll back (nothing written)")
    dexie.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    dexie.set_defaults(run=_import_dexie)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], Any] = args.run
    try:
        _print(run(args), as_json=args.json)
    except DomainError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

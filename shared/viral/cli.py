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
    from viral.services.tenants import create_tenant

    tenant = create_tenant(args.name)
    return tenant.id if not args.json else dataclasses.asdict(tenant)


def _tenant_list(args: argparse.Namespace) -> Any:
    from viral.services.tenants import list_tenants

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

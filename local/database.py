"""The local database: the embedded PostgreSQL (or DATABASE_URL), migrated, with one demo tenant."""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from viral.db.engine import database_url
from viral.db.migrate import upgrade
from viral.identity.tenants import create_tenant, list_tenants
from viral.settings import Settings

log = logging.getLogger("local.database")

DEMO_TENANT_NAME = "Demo tenant"
DEMO_TENANT_FILE = "demo-tenant-id"
DEMO_KEY_FILE = "demo-api-key"
DEMO_PLAN = "PRO"  # 50 concepts a month: a newcomer can try the whole flow several times


@dataclass(frozen=True)
class LocalDatabase:
    description: str  # for people: where the data lives (no password)
    revision: str


def prepare_database(settings: Settings) -> LocalDatabase:
    """Start the embedded server unless DATABASE_URL is set, and upgrade the schema to head."""
    # The server started here stops when this process exits; handlers reuse it through the same settings.
    url = database_url(settings)
    revision = upgrade(url, settings)
    if settings.database_url:
        where = f"DATABASE_URL ({url.render_as_string(hide_password=True)})"
    else:
        where = f"embedded PostgreSQL in {settings.embedded_pg_data}"
    return LocalDatabase(description=where, revision=revision)


def ensure_demo_tenant(id_file: Path) -> uuid.UUID:
    """The demo tenant's id: the one stored in `id_file`, created in this database once if it is not there yet.

    A new demo tenant is put on DEMO_PLAN (and one still on FREE from an older `make run` is moved to it).
    """
    stored = _read_tenant_id(id_file)
    existing = next((tenant for tenant in list_tenants() if tenant.id == stored), None) if stored else None
    if existing is not None:
        if existing.subscription_tier == "FREE":
            _put_on_demo_plan(existing.id)
        return existing.id
    tenant = create_tenant(DEMO_TENANT_NAME, tenant_id=stored)
    _put_on_demo_plan(tenant.id)
    id_file.parent.mkdir(parents=True, exist_ok=True)
    partial = id_file.with_suffix(".tmp")
    partial.write_text(f"{tenant.id}\n", encoding="utf-8")
    os.replace(partial, id_file)
    log.info("created the demo tenant %s", tenant.id)
    return tenant.id


def _put_on_demo_plan(tenant_id: uuid.UUID) -> None:
    from viral.billing.service import set_plan
    from viral.tenancy import tenant_scope

    with tenant_scope(tenant_id):
        set_plan(DEMO_PLAN)


def _read_tenant_id(id_file: Path) -> uuid.UUID | None:
    try:
        return uuid.UUID(id_file.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        return None
    except ValueError:
        log.warning("%s does not hold a tenant id; a new demo tenant will replace it", id_file)
        return None


def ensure_demo_api_key(tenant_id: uuid.UUID, key_file: Path) -> str:
    """The demo tenant's API key: the one in `key_file` while it still works, else a new admin key written there."""
    from viral.errors import Unauthorized
    from viral.identity.auth import authenticate, create_api_key
    from viral.tenancy import tenant_scope

    try:
        stored = key_file.read_text(encoding="utf-8").strip()
        if authenticate({"Authorization": f"Bearer {stored}"}).tenant_id == tenant_id:
            return stored
    except (FileNotFoundError, Unauthorized):
        pass
    with tenant_scope(tenant_id):
        secret = create_api_key(name="demo (make run)", scopes=("read", "write", "generate", "admin")).secret
    key_file.parent.mkdir(parents=True, exist_ok=True)
    partial = key_file.with_suffix(".tmp")
    partial.write_text(f"{secret}\n", encoding="utf-8")
    partial.chmod(0o600)
    os.replace(partial, key_file)
    log.info("created the demo API key %s...", secret[:11])
    return secret


STRIPE_WEBHOOK_SECRET_FILE = "stripe-webhook-secret"  # noqa: S105 (a file name, not a secret)


def ensure_stripe_webhook_secret(secret_file: Path) -> str:
    """Where the functions' Stripe webhook secret comes from: STRIPE_WEBHOOK_SECRET if set, else the local default
    kept in `secret_file` (made on first start, reused after), which is then set as STRIPE_WEBHOOK_SECRET.

    Sign local test deliveries with it (`stripe listen` prints its own secret: export that one instead).
    """
    import secrets

    from viral.settings import get_settings

    if os.environ.get("STRIPE_WEBHOOK_SECRET"):
        return "the STRIPE_WEBHOOK_SECRET environment variable"
    try:
        secret = secret_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = ""
    if not secret.startswith("whsec_"):
        secret = "whsec_" + secrets.token_hex(32)
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        partial = secret_file.with_suffix(".tmp")
        partial.write_text(f"{secret}\n", encoding="utf-8")
        partial.chmod(0o600)
        os.replace(partial, secret_file)
        log.info("created the local Stripe webhook secret in %s", secret_file)
    os.environ["STRIPE_WEBHOOK_SECRET"] = secret
    get_settings.cache_clear()
    return str(secret_file)


WEBHOOK_KEY_FILE = "webhook-secret-key"


def ensure_webhook_secret_key(key_file: Path) -> str:
    """Where the key sealing webhook signing secrets comes from: WEBHOOK_SECRET_KEY if set, else the local key kept
    in `key_file` (made on first start, reused after, so endpoints registered earlier still sign)."""
    import base64
    import secrets

    from viral.settings import get_settings

    if os.environ.get("WEBHOOK_SECRET_KEY"):
        return "the WEBHOOK_SECRET_KEY environment variable"
    try:
        key = key_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = ""
    if len(key) != 44:
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        partial = key_file.with_suffix(".tmp")
        partial.write_text(f"{key}\n", encoding="utf-8")
        partial.chmod(0o600)
        os.replace(partial, key_file)
        log.info("created the local webhook secret key in %s", key_file)
    os.environ["WEBHOOK_SECRET_KEY"] = key
    get_settings.cache_clear()
    return str(key_file)

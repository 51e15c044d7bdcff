"""Operator overrides: put a tenant on a plan, reset its quota; the demo tenant of `make run` starts on PRO."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from viral.billing.plans import plan_for
from viral.billing.service import reset_quota, set_plan
from viral.errors import InvalidInput, NotFound
from viral.identity.tenants import list_tenants
from viral.tenancy import tenant_scope


def _row(owner_engine: Engine, tenant: uuid.UUID) -> tuple[str, int, int, int]:
    with owner_engine.connect() as connection:
        row = connection.execute(
            text("select subscription_tier, monthly_quota, used_quota, used_video_quota from tenants where id = :t"),
            {"t": tenant},
        ).one()
    return row[0], row[1], row[2], row[3]


def test_set_plan_and_reset_quota_change_only_the_bound_tenant(
    tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    with owner_engine.begin() as connection:
        connection.execute(
            text("update tenants set used_quota = 7, used_video_quota = 2 where id in (:a, :b)"),
            {"a": tenant_a, "b": tenant_b},
        )
    with tenant_scope(tenant_a):
        state = set_plan("PRO")
    assert (state.tier, state.monthly_quota) == ("PRO", plan_for("PRO").concepts_per_month)
    assert _row(owner_engine, tenant_a) == ("PRO", 50, 7, 2)  # usage kept
    with tenant_scope(tenant_a):
        reset_quota()
    assert _row(owner_engine, tenant_a) == ("PRO", 50, 0, 0)
    assert _row(owner_engine, tenant_b) == ("FREE", 10, 7, 2)  # tenant B untouched


def test_set_plan_refuses_an_unknown_plan_and_an_unknown_tenant(tenant_a: uuid.UUID) -> None:
    with tenant_scope(tenant_a), pytest.raises(InvalidInput, match="unknown plan"):
        set_plan("GOLD")
    missing = uuid.uuid4()
    with tenant_scope(missing), pytest.raises(NotFound, match=str(missing)):
        set_plan("PRO")
    with tenant_scope(missing), pytest.raises(NotFound, match=str(missing)):
        reset_quota()


def test_the_demo_tenant_starts_on_pro_and_an_old_free_one_is_moved(
    database_url: object, tmp_path: Path, owner_engine: Engine
) -> None:
    from local.database import DEMO_PLAN, ensure_demo_tenant

    assert DEMO_PLAN == "PRO"
    id_file = tmp_path / "demo-tenant-id"
    tenant = ensure_demo_tenant(id_file)
    assert _row(owner_engine, tenant)[:2] == ("PRO", 50)
    with owner_engine.begin() as connection:  # a demo tenant made by an older `make run`
        connection.execute(
            text("update tenants set subscription_tier = 'FREE', monthly_quota = 10 where id = :t"), {"t": tenant}
        )
    assert ensure_demo_tenant(id_file) == tenant
    assert _row(owner_engine, tenant)[:2] == ("PRO", 50)
    assert sum(1 for t in list_tenants() if t.id == tenant) == 1

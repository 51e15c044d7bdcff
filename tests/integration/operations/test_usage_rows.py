"""API usage rows wait for their tenant's next transaction; a rollback or a failed flush never loses them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from viral.db.uow import unit_of_work
from viral.db.usage_rows import pending_usage_rows
from viral.identity.tenant_repository import TenantRepository


def _row(endpoint: str) -> dict[str, object]:
    return {
        "api_key_id": None,
        "endpoint": endpoint,
        "method": "GET",
        "status_code": 200,
        "response_time": 3,
        "timestamp": datetime.now(UTC),
    }


def _stored(owner_engine: Engine, tenant: uuid.UUID) -> list[str]:
    with owner_engine.connect() as connection:
        rows = connection.execute(
            text("select endpoint from api_usage where tenant_id = :t order by id"), {"t": tenant}
        ).scalars()
        return list(rows)


def test_rows_carried_by_a_rolled_back_transaction_are_written_by_the_next(
    tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    pending_usage_rows.take(tenant_a)
    pending_usage_rows.add(tenant_a, _row("/api/one"))
    with pytest.raises(RuntimeError), unit_of_work(tenant_a):
        raise RuntimeError("the request failed after the bind")
    assert _stored(owner_engine, tenant_a) == []
    with unit_of_work(tenant_a) as uow:
        uow.repository(TenantRepository).get()
    assert _stored(owner_engine, tenant_a) == ["/api/one"]
    assert pending_usage_rows.take(tenant_a) == []


def test_rows_given_back_keep_their_order_before_newer_rows(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    pending_usage_rows.take(tenant_a)
    pending_usage_rows.add(tenant_a, _row("/api/first"))
    with pytest.raises(RuntimeError), unit_of_work(tenant_a):
        pending_usage_rows.add(tenant_a, _row("/api/second"))
        raise RuntimeError("rolled back")
    with unit_of_work(tenant_a):
        pass
    assert _stored(owner_engine, tenant_a) == ["/api/first", "/api/second"]

"""Tenant provisioning and the system listing of tenants."""

from __future__ import annotations

import uuid

from viral.db.uow import system_unit_of_work, unit_of_work
from viral.errors import InvalidInput, NotFound
from viral.identity.tenant_repository import TenantRecord, TenantRepository, TenantSystemRepository


def create_tenant(name: str, *, tenant_id: uuid.UUID | None = None) -> TenantRecord:
    """Create a tenant on the FREE plan; its id is chosen here, and the row is written in its own scope."""
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= 200:
        raise InvalidInput("tenant name must be 1 to 200 characters")
    with unit_of_work(tenant_id or uuid.uuid4()) as uow:
        return uow.repository(TenantRepository).create(name=name)


def get_tenant(tenant_id: uuid.UUID) -> TenantRecord:
    """One tenant by id (read in its own scope); NotFound naming the id when there is no such tenant."""
    with unit_of_work(tenant_id) as uow:
        found = uow.repository(TenantRepository).get()
    if found is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return found


def list_tenants(*, daily_generation_only: bool = False) -> list[TenantRecord]:
    """Every tenant (system path: for operators and schedules, never for a tenant's request)."""
    with system_unit_of_work() as system:
        return TenantSystemRepository(system.session).list_tenants(daily_generation_only=daily_generation_only)


def set_daily_generation(enabled: bool) -> None:
    """Turn the 08:00 UTC daily generation on or off for the current tenant."""
    with unit_of_work() as uow:
        uow.repository(TenantRepository).set_daily_generation(enabled)

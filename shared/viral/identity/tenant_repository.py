"""The tenant's own row, and the one system path that may look across tenants."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from viral.db.models import Tenant
from viral.db.repository import OwnTenantRepositoryBase
from viral.identity.repository import KeyOwner, find_key_owner


@dataclass(frozen=True)
class TenantRecord:
    """A tenant as services see it (the ORM row stays in the repository)."""

    id: uuid.UUID
    name: str
    subscription_tier: str
    subscription_status: str
    monthly_quota: int
    used_quota: int
    quota_reset_at: datetime
    created_at: datetime


def _record(row: Tenant) -> TenantRecord:
    return TenantRecord(
        id=row.id,
        name=row.name,
        subscription_tier=row.subscription_tier,
        subscription_status=row.subscription_status,
        monthly_quota=row.monthly_quota,
        used_quota=row.used_quota,
        quota_reset_at=row.quota_reset_at,
        created_at=row.created_at,
    )


class TenantRepository(OwnTenantRepositoryBase):
    """The bound tenant's own row (RLS lets a tenant see only itself)."""

    def create(self, *, name: str) -> TenantRecord:
        """Create the bound tenant's row (the id is the one the unit of work is bound to)."""
        row = self.session.scalars(insert(Tenant).values(id=self.tenant_id, name=name).returning(Tenant)).one()
        return _record(row)

    def set_daily_generation(self, enabled: bool) -> None:
        self.session.execute(self._update().values(daily_generation_enabled=enabled))

    def get(self) -> TenantRecord | None:
        row = self.session.scalars(self._select()).one_or_none()
        return None if row is None else _record(row)


class TenantSystemRepository:
    """Cross-tenant reads for system jobs, run as the system role (tenants, users, keys; no content)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def find_api_key(self, key_hash: str) -> KeyOwner | None:
        """The owner of an active key with this hash (and stamp its use), or None."""
        return find_key_owner(self.session, key_hash)

    def list_tenants(self, *, daily_generation_only: bool = False) -> list[TenantRecord]:
        statement = select(Tenant).order_by(Tenant.created_at, Tenant.id)
        if daily_generation_only:
            statement = statement.where(Tenant.daily_generation_enabled.is_(True))
        rows = self.session.scalars(statement)
        return [_record(row) for row in rows]

"""The base of every tenant repository: all statements start from one tenant-filtered base."""

from __future__ import annotations

import uuid
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, Update, select, update
from sqlalchemy.orm import Session

from viral.db.models import Tenant, TenantOwned

M = TypeVar("M", bound=TenantOwned)


class TenantRepositoryBase(Generic[M]):
    """Reads and writes one model's rows of one tenant; never commits (the unit of work does)."""

    model: type[M]

    def __init__(self, session: Session, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def _select(self, *columns: Any) -> Select[Any]:
        """The base statement: every query of this repository is built from it."""
        return select(*(columns or (self.model,))).where(self.model.tenant_id == self.tenant_id)

    def _stamp(self, values: dict[str, Any]) -> dict[str, Any]:
        """Values for an insert, with this tenant's id (callers cannot choose another)."""
        return {**values, "tenant_id": self.tenant_id}


class OwnTenantRepositoryBase:
    """Reads and writes the bound tenant's own row of `tenants` (keyed by id, not by tenant_id); never commits."""

    def __init__(self, session: Session, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def _select(self, *columns: Any) -> Select[Any]:
        """The base read: the bound tenant's row (or the given columns of it), and never another's."""
        return select(*(columns or (Tenant,))).where(Tenant.id == self.tenant_id)

    def _update(self) -> Update:
        """The base write: an UPDATE of the bound tenant's row only."""
        return update(Tenant).where(Tenant.id == self.tenant_id)

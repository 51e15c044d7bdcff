"""The current tenant, held per request or record in a context variable (never a module global)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from viral.errors import InvalidInput, TenantScopeMissing

_current_tenant: ContextVar[uuid.UUID | None] = ContextVar("current_tenant", default=None)


def parse_tenant_id(value: str | uuid.UUID) -> uuid.UUID:
    """A tenant id as a UUID, or InvalidInput."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidInput("tenant id must be a UUID", details={"tenantId": str(value)[:64]}) from exc


def current_tenant() -> uuid.UUID:
    """The tenant bound to this context; TenantScopeMissing when there is none."""
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantScopeMissing("no tenant scope is bound: tenant-scoped work needs one")
    return tenant


def current_tenant_or_none() -> uuid.UUID | None:
    """The bound tenant, if any (for logging and the unit of work's default)."""
    return _current_tenant.get()


@contextmanager
def tenant_scope(tenant_id: str | uuid.UUID) -> Iterator[uuid.UUID]:
    """Bind a tenant for the duration of the block, restoring the previous binding after it."""
    tenant = parse_tenant_id(tenant_id)
    token = _current_tenant.set(tenant)
    try:
        yield tenant
    finally:
        _current_tenant.reset(token)

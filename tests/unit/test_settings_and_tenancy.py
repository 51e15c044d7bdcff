"""Settings are validated and read once; the tenant lives in a context variable, never a global."""

from __future__ import annotations

import asyncio
import contextvars
import uuid

import pytest
from pydantic import ValidationError
from viral.errors import InvalidInput, TenantScopeMissing
from viral.settings import Settings
from viral.tenancy import current_tenant, current_tenant_or_none, parse_tenant_id, tenant_scope


def test_settings_reject_values_outside_their_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_MODE", "sometimes")
    with pytest.raises(ValidationError, match="db_pool_mode"):
        Settings()


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_STATEMENT_TIMEOUT_MS", "2500")
    monkeypatch.setenv("DB_POOL_MODE", "null")
    settings = Settings()
    assert (settings.db_statement_timeout_ms, settings.db_pool_mode) == (2500, "null")


def test_no_tenant_bound_fails_closed() -> None:
    assert current_tenant_or_none() is None
    with pytest.raises(TenantScopeMissing):
        current_tenant()


def test_tenant_scope_nests_and_restores() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    with tenant_scope(a):
        with tenant_scope(str(b)):
            assert current_tenant() == b
        assert current_tenant() == a
    assert current_tenant_or_none() is None


def test_tenant_scope_rejects_non_uuid() -> None:
    with pytest.raises(InvalidInput), tenant_scope("not-a-uuid"):
        pass
    assert parse_tenant_id(str(uuid.UUID(int=7))) == uuid.UUID(int=7)


def test_concurrent_tasks_keep_their_own_tenant() -> None:
    async def handle(tenant: uuid.UUID) -> uuid.UUID:
        with tenant_scope(tenant):
            await asyncio.sleep(0.01)  # the other task binds its own tenant meanwhile
            return current_tenant()

    async def main() -> list[uuid.UUID]:
        return list(await asyncio.gather(*(handle(t) for t in tenants)))

    tenants = [uuid.uuid4() for _ in range(10)]
    assert asyncio.run(main()) == tenants


def test_a_copied_context_does_not_leak_back() -> None:
    tenant = uuid.uuid4()

    def bind() -> None:
        scope = tenant_scope(tenant)
        scope.__enter__()  # left open on purpose: it must stay inside the copied context

    contextvars.copy_context().run(bind)
    assert current_tenant_or_none() is None

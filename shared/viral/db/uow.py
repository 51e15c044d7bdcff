"""The unit of work: one transaction, bound to one tenant, committed on success and rolled back on error."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.orm import Session

from viral.db.engine import get_sessionmaker
from viral.db.sqlstate import sqlstate
from viral.db.usage_rows import bind_with_rows, pending_usage_rows
from viral.errors import Conflict, DomainError, Forbidden, InvalidInput, Retryable, TenantScopeMissing
from viral.settings import get_settings
from viral.tenancy import current_tenant, parse_tenant_id, tenant_scope

_BIND_TENANT = text("select set_config('app.tenant_id', :tenant, true)")


def _bind(session: Session, tenant: uuid.UUID) -> list[dict[str, Any]]:
    """Bind the tenant for this transaction (one statement, which also writes its pending usage rows); the rows
    it carried, to give back if the transaction rolls back.
    """
    pending = pending_usage_rows.take(tenant)
    if not pending:
        session.execute(_BIND_TENANT, {"tenant": str(tenant)})
        return []
    bind_with_rows(session, tenant, pending)
    return pending


R = TypeVar("R")


class UnitOfWork:
    """A session bound to one tenant. Each domain builds its own repositories from it (`repository(Kind)`), so the
    platform never needs to know the domains above it.
    """

    def __init__(self, session: Session, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self._repositories: dict[Callable[..., Any], Any] = {}

    def repository(self, kind: Callable[[Session, uuid.UUID], R]) -> R:
        """The transaction's repository of this kind, built once from the session and the bound tenant."""
        found = self._repositories.get(kind)
        if found is None:
            found = self._repositories[kind] = kind(self.session, self.tenant_id)
        return found

    @contextmanager
    def as_system(self) -> Iterator[Session]:
        """Statements as the system role inside this tenant's transaction (for the global tables it was granted,
        e.g. marking a webhook event done in the same transaction that applies it); back to the runtime role after.
        """
        settings = get_settings()
        back = text(f"SET LOCAL ROLE {settings.db_runtime_role}")
        self.session.execute(text(f"SET LOCAL ROLE {settings.db_system_role}"))
        try:
            yield self.session
        except BaseException:
            # A caller that catches the error and goes on must not go on as the system role. In an aborted
            # transaction the switch fails, harmlessly: the rollback ends the SET LOCAL anyway.
            with contextlib.suppress(Exception):
                self.session.execute(back)
            raise
        self.session.execute(back)


_active: ContextVar[UnitOfWork | None] = ContextVar("active_unit_of_work", default=None)


def transaction_open() -> bool:
    """Whether this context is inside a unit of work (a held transaction and, often, row locks)."""
    return _active.get() is not None


@contextmanager
def unit_of_work(tenant_id: str | uuid.UUID | None = None, *, bind: bool = True) -> Iterator[UnitOfWork]:
    """Run the block in one transaction for `tenant_id` (default: the tenant bound to this context).

    A nested call for the same tenant joins the outer transaction, so services compose atomically.
    The tenant is bound with `set_config(..., true)`: it ends with the transaction and cannot leak through
    a pooled connection. No tenant means TenantScopeMissing, never "all rows".
    """
    tenant = parse_tenant_id(tenant_id) if tenant_id is not None else current_tenant()
    outer = _active.get()
    if outer is not None:
        if outer.tenant_id != tenant:
            raise TenantScopeMissing("a unit of work for one tenant cannot open one for another")
        yield outer
        return
    session = get_sessionmaker()()
    uow = UnitOfWork(session, tenant)
    token = _active.set(uow)
    carried: list[dict[str, Any]] = []
    try:
        with tenant_scope(tenant), translate_database_errors(), session.begin():
            if bind:
                carried = _bind(session, tenant)
            # bind=False: the block's first statement binds the tenant itself (one round trip fewer). Until it
            # does, row-level security sees no tenant: nothing is readable or writable (fail closed).
            yield uow
    except BaseException:
        # The usage rows rode on this transaction's bind: a rollback must not lose them.
        pending_usage_rows.give_back(tenant, carried)
        raise
    finally:
        _active.reset(token)
        session.close()


class SystemUnitOfWork:
    """A transaction on the separately privileged system role; domains build their system repositories from it."""

    def __init__(self, session: Session) -> None:
        self.session = session


@contextmanager
def system_unit_of_work() -> Iterator[SystemUnitOfWork]:
    """The one cross-tenant path: lists tenants and finds credentials, as the separately privileged role.

    It sees only what that role is granted (tenants, users, API keys, global tables), never tenant content.
    """
    if _active.get() is not None:
        raise TenantScopeMissing("the system path cannot run inside a tenant's unit of work")
    session = get_sessionmaker()()
    try:
        with translate_database_errors(), session.begin():
            session.execute(text(f"SET LOCAL ROLE {get_settings().db_system_role}"))
            yield SystemUnitOfWork(session)
    finally:
        session.close()


_SYSTEM_ROLE_NO_FLUSH_WAIT = text(
    "select set_config('role', :role, true), set_config('synchronous_commit', 'off', true)"
)


@contextmanager
def system_unit_of_work_without_flush_wait() -> Iterator[SystemUnitOfWork]:
    """The system path for a write that a durable store downstream also holds, on the hot path of a webhook.

    Its commit does not wait for the WAL flush (synchronous_commit off, this transaction only), and the role
    switch and that setting are one statement. Use it only where losing the last commits in a database crash is
    harmless: e.g. a webhook event id recorded after its message is already on SQS, whose consumer records it too.
    """
    if _active.get() is not None:
        raise TenantScopeMissing("the system path cannot run inside a tenant's unit of work")
    session = get_sessionmaker()()
    try:
        with translate_database_errors(), session.begin():
            session.execute(_SYSTEM_ROLE_NO_FLUSH_WAIT, {"role": get_settings().db_system_role})
            yield SystemUnitOfWork(session)
    finally:
        session.close()


_SQLSTATE_ERRORS: dict[str, tuple[type[DomainError], str]] = {
    "22001": (InvalidInput, "a value is longer than its field allows"),
    "22003": (InvalidInput, "a number is out of range"),
    "22P02": (InvalidInput, "a value has the wrong type"),
    "23502": (InvalidInput, "a required value is missing"),
    "23503": (InvalidInput, "a referenced record does not exist"),
    "23505": (Conflict, "a record with the same key already exists"),
    "23514": (InvalidInput, "a value is outside its allowed set or range"),
    "42501": (Forbidden, "the tenant scope does not allow this"),
    "57014": (Retryable, "the database statement timed out"),
}


@contextmanager
def translate_database_errors() -> Iterator[None]:
    """Turn driver errors into domain errors (the SQL and its parameters stay out of the message)."""
    try:
        yield
    except sa_exc.DBAPIError as error:
        known = _SQLSTATE_ERRORS.get(sqlstate(error) or "")
        if known is not None:
            kind, message = known
            raise kind(message) from error
        if isinstance(error, sa_exc.InterfaceError | sa_exc.OperationalError) or error.connection_invalidated:
            raise Retryable("the database is unreachable") from error
        raise

"""API keys and users of one tenant, and the provisioning of tenants from Clerk identities."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.dialects.postgresql import insert

from viral.db.models import ApiKey, Tenant, User
from viral.db.repository import TenantRepositoryBase
from viral.identity.key_sql import FIND_KEY_SQL


@dataclass(frozen=True)
class ApiKeyRecord:
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _key(row: ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=list(row.scopes),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class ApiKeyRepository(TenantRepositoryBase[ApiKey]):
    model = ApiKey

    def add(
        self, *, name: str, prefix: str, key_hash: str, scopes: list[str], user_id: uuid.UUID | None
    ) -> ApiKeyRecord:
        values = self._stamp(
            {"name": name, "prefix": prefix, "key_hash": key_hash, "scopes": scopes, "user_id": user_id}
        )
        return _key(self.session.scalars(insert(ApiKey).values(values).returning(ApiKey)).one())

    def active(self) -> list[ApiKeyRecord]:
        statement = self._select().where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at.desc())
        return [_key(row) for row in self.session.scalars(statement)]

    def revoke(self, *, key_id: uuid.UUID | None = None, prefix: str | None = None) -> list[ApiKeyRecord]:
        """Revoke one key (by id or prefix), or every active key of the tenant; the keys revoked."""
        statement = update(ApiKey).where(ApiKey.tenant_id == self.tenant_id, ApiKey.revoked_at.is_(None))
        if key_id is not None:
            statement = statement.where(ApiKey.id == key_id)
        if prefix is not None:
            statement = statement.where(ApiKey.prefix == prefix)
        rows = self.session.scalars(statement.values(revoked_at=func.now()).returning(ApiKey))
        return [_key(row) for row in rows]


@dataclass(frozen=True)
class Member:
    """Who a request acts as: the tenant, the user row and its role."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: str


class MembershipRepository(TenantRepositoryBase[User]):
    model = User

    def provision(
        self,
        *,
        clerk_user_id: str,
        clerk_org_id: str | None,
        tenant_name: str,
        email: str | None,
        name: str | None,
        role: str,
    ) -> Member:
        """Create the bound tenant and this member if missing, else stamp the login; race-free by key.

        Two first requests at once both insert with ON CONFLICT, on ids derived from Clerk's, so neither
        fails and neither leaves an orphan.
        """
        self.session.execute(
            insert(Tenant)
            .values(id=self.tenant_id, name=tenant_name[:200], clerk_org_id=clerk_org_id)
            .on_conflict_do_nothing(index_elements=[Tenant.id])
        )
        new_user = insert(User).values(
            self._stamp(
                {"clerk_id": clerk_user_id, "email": email, "name": name, "role": role, "last_login_at": func.now()}
            )
        )
        row: Any = self.session.execute(
            new_user.on_conflict_do_update(
                # The verified token is the truth about the role now (a demoted org admin is a member at once).
                constraint="uq_users_tenant_clerk",
                set_={"last_login_at": func.now(), "role": new_user.excluded.role},
            ).returning(User.id, User.role)
        ).one()
        return Member(tenant_id=self.tenant_id, user_id=row.id, role=row.role)

    def first_admin(self) -> uuid.UUID | None:
        statement = self._select(User.id).where(User.role == "ADMIN").order_by(User.created_at).limit(1)
        return self.session.execute(statement).scalar_one_or_none()


@dataclass(frozen=True)
class KeyOwner:
    """What the authorizer learns from a valid API key."""

    key_id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID | None
    role: str
    scopes: list[str]


FIND_KEY = text(FIND_KEY_SQL)


def find_key_owner(session: Any, key_hash: str) -> KeyOwner | None:
    row = session.execute(FIND_KEY, {"key_hash": key_hash}).one_or_none()
    if row is None:
        return None
    return KeyOwner(key_id=row.id, tenant_id=row.tenant_id, user_id=row.user_id, role=row.role, scopes=list(row.scopes))

"""Billing and accounts: a tenant's plan state, Clerk-provisioned tenants and members, and webhook bookkeeping."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from viral.db.models import Tenant, User, WebhookEvent
from viral.db.repository import OwnTenantRepositoryBase

# What billing may change on a tenant's row (nothing else, whatever a caller passes).
BILLING_COLUMNS = frozenset(
    {
        "subscription_tier",
        "subscription_status",
        "stripe_subscription_id",
        "monthly_quota",
        "used_quota",
        "used_video_quota",
        "quota_reset_at",
        "quota_period_start",
        "billing_period_end",
        "cancel_at_period_end",
        "stripe_state_at",
    }
)


@dataclass(frozen=True)
class BillingState:
    """A tenant's plan, quota and Stripe links as billing reads them."""

    tenant_id: uuid.UUID
    name: str
    tier: str
    status: str
    customer_id: str | None
    subscription_id: str | None
    monthly_quota: int
    used_quota: int
    quota_reset_at: datetime
    quota_period_start: datetime | None
    billing_period_end: datetime | None
    cancel_at_period_end: bool
    stripe_state_at: datetime | None
    monthly_video_quota: int = 0
    used_video_quota: int = 0


def _state(row: Tenant) -> BillingState:
    return BillingState(
        tenant_id=row.id,
        name=row.name,
        tier=row.subscription_tier,
        status=row.subscription_status,
        customer_id=row.stripe_customer_id,
        subscription_id=row.stripe_subscription_id,
        monthly_quota=row.monthly_quota,
        used_quota=row.used_quota,
        quota_reset_at=row.quota_reset_at,
        quota_period_start=row.quota_period_start,
        billing_period_end=row.billing_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        stripe_state_at=row.stripe_state_at,
        monthly_video_quota=row.monthly_video_quota,
        used_video_quota=row.used_video_quota,
    )


class BillingRepository(OwnTenantRepositoryBase):
    """The bound tenant's billing state (its own row of tenants; RLS lets it see no other)."""

    def state(self, *, lock: bool = False) -> BillingState | None:
        """The tenant's billing state; with `lock`, the row stays locked until the transaction ends."""
        statement = self._select()
        if lock:
            statement = statement.with_for_update()
        row = self.session.scalars(statement).one_or_none()
        return None if row is None else _state(row)

    def attach_customer(self, customer_id: str) -> str | None:
        """Store the Stripe customer unless the tenant has one already; the customer id now stored."""
        stored = self.session.execute(
            self._update()
            .where(Tenant.stripe_customer_id.is_(None))
            .values(stripe_customer_id=customer_id)
            .returning(Tenant.stripe_customer_id)
        ).scalar_one_or_none()
        if stored is not None:
            return stored
        return self.session.execute(self._select(Tenant.stripe_customer_id)).scalar_one_or_none()

    def apply(self, changes: dict[str, Any]) -> None:
        """Write billing changes to the tenant's row (only billing columns)."""
        unknown = set(changes) - BILLING_COLUMNS
        if unknown:
            raise ValueError(f"not billing columns: {sorted(unknown)}")
        if changes:
            self.session.execute(self._update().values(**changes))

    def reset_monthly_quota(self, *, now: datetime, next_reset: datetime) -> bool:
        """Start a new monthly period if the tenant has no Stripe period and its reset time passed."""
        reset = self.session.execute(
            self._update()
            .where(
                Tenant.billing_period_end.is_(None),
                Tenant.quota_reset_at <= now,
            )
            .values(used_quota=0, used_video_quota=0, quota_period_start=now, quota_reset_at=next_reset)
            .returning(Tenant.id)
        ).scalar_one_or_none()
        return reset is not None


class AccountRepository(OwnTenantRepositoryBase):
    """The bound tenant and its members as Clerk describes them (created, renamed, removed)."""

    def upsert_tenant(self, *, name: str, clerk_org_id: str | None, updated_at: datetime | None) -> None:
        """Create the tenant if missing; rename it if this state is not older than the one applied."""
        new = insert(Tenant).values(
            id=self.tenant_id, name=name[:200], clerk_org_id=clerk_org_id, clerk_updated_at=updated_at
        )
        if clerk_org_id is None:  # a personal workspace keeps the name it was given
            self.session.execute(new.on_conflict_do_nothing(index_elements=[Tenant.id]))
            return
        self.session.execute(
            new.on_conflict_do_update(
                index_elements=[Tenant.id],
                set_={"name": new.excluded.name, "clerk_updated_at": new.excluded.clerk_updated_at},
                where=or_(
                    Tenant.clerk_updated_at.is_(None),
                    new.excluded.clerk_updated_at.is_(None),
                    Tenant.clerk_updated_at <= new.excluded.clerk_updated_at,
                ),
            )
        )

    def upsert_member(
        self,
        *,
        clerk_user_id: str,
        email: str | None,
        name: str | None,
        image_url: str | None,
        role: str | None,
        updated_at: datetime | None,
    ) -> None:
        """Create the member if missing; update it if this state is not older than the one applied."""
        values: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "clerk_id": clerk_user_id,
            "email": email,
            "name": name,
            "image_url": image_url,
            "role": role or "MEMBER",
            "clerk_updated_at": updated_at,
        }
        new = insert(User).values(values)
        changed = {key: new.excluded[key] for key in ("email", "name", "image_url", "clerk_updated_at")}
        if role is not None:
            changed["role"] = new.excluded.role
        self.session.execute(
            new.on_conflict_do_update(
                constraint="uq_users_tenant_clerk",
                set_={**changed, "updated_at": func.now()},
                where=or_(
                    User.clerk_updated_at.is_(None),
                    new.excluded.clerk_updated_at.is_(None),
                    User.clerk_updated_at <= new.excluded.clerk_updated_at,
                ),
            )
        )

    def update_member(
        self, *, clerk_user_id: str, email: str | None, name: str | None, image_url: str | None, updated_at: datetime
    ) -> int:
        """Update an existing member's profile unless a newer state was applied; rows changed."""
        result: Any = self.session.execute(
            update(User)
            .where(
                User.tenant_id == self.tenant_id,
                User.clerk_id == clerk_user_id,
                or_(User.clerk_updated_at.is_(None), User.clerk_updated_at <= updated_at),
            )
            .values(email=email, name=name, image_url=image_url, clerk_updated_at=updated_at)
        )
        return int(result.rowcount or 0)

    def remove_member(self, clerk_user_id: str) -> int:
        result: Any = self.session.execute(
            delete(User).where(User.tenant_id == self.tenant_id, User.clerk_id == clerk_user_id)
        )
        return int(result.rowcount or 0)

    def remove_tenant(self) -> bool:
        """Delete the tenant and, by cascade, everything it owns."""
        result: Any = self.session.execute(delete(Tenant).where(Tenant.id == self.tenant_id))
        return bool(result.rowcount)


SETTLED = ("processed", "ignored")


class WebhookEventSystemRepository:
    """Deliveries from Stripe and Clerk, one row per (provider, event id); only the system role may touch it."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(self, *, provider: str, event_id: str, event_type: str) -> str:
        """Record a delivery (status "received") unless recorded before; its status now, in one statement."""
        new = insert(WebhookEvent).values(provider=provider, event_id=event_id, event_type=event_type[:128])
        statement = new.on_conflict_do_update(
            constraint="uq_webhook_events_provider_event", set_={"status": WebhookEvent.status}
        ).returning(WebhookEvent.status)
        return str(self.session.execute(statement).scalar_one())

    def claim(
        self, *, provider: str, event_id: str, event_type: str, tenant_id: uuid.UUID | None, status: str = "processed"
    ) -> bool:
        """Settle the event in this transaction unless it is settled already; True when this call settled it.

        The row stays locked until the transaction ends, so a concurrent delivery of the same event waits and
        then finds it settled; if this transaction rolls back, the event is unsettled again.
        """
        new = insert(WebhookEvent).values(
            provider=provider,
            event_id=event_id,
            event_type=event_type[:128],
            tenant_id=tenant_id,
            status=status,
            processed_at=func.now(),
        )
        claimed = self.session.execute(
            new.on_conflict_do_update(
                constraint="uq_webhook_events_provider_event",
                set_={"status": status, "tenant_id": tenant_id, "processed_at": func.now()},
                where=WebhookEvent.status.not_in(SETTLED),
            ).returning(WebhookEvent.id)
        ).scalar_one_or_none()
        return claimed is not None

    def mark(self, *, provider: str, event_id: str, status: str) -> None:
        """Change the status of an event settled in this transaction (e.g. processed -> ignored)."""
        self.session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.provider == provider, WebhookEvent.event_id == event_id)
            .values(status=status)
        )

    def status_of(self, *, provider: str, event_id: str) -> str | None:
        return self.session.execute(
            select(WebhookEvent.status).where(WebhookEvent.provider == provider, WebhookEvent.event_id == event_id)
        ).scalar_one_or_none()


class BillingSystemRepository:
    """The cross-tenant reads billing needs, as the system role (tenants and users only, never content)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def tenant_of_customer(self, customer_id: str) -> uuid.UUID | None:
        return self.session.execute(
            select(Tenant.id).where(Tenant.stripe_customer_id == customer_id)
        ).scalar_one_or_none()

    def paying_tenants(self) -> list[tuple[uuid.UUID, str]]:
        """(tenant, subscription id) of every tenant linked to a Stripe subscription."""
        rows = self.session.execute(
            select(Tenant.id, Tenant.stripe_subscription_id)
            .where(Tenant.stripe_subscription_id.is_not(None))
            .order_by(Tenant.id)
        )
        return [(row.id, str(row.stripe_subscription_id)) for row in rows]

    def tenants_due_for_reset(self, now: datetime) -> list[uuid.UUID]:
        """Tenants without a Stripe period whose monthly quota period has ended."""
        rows = self.session.execute(
            select(Tenant.id)
            .where(Tenant.billing_period_end.is_(None), Tenant.quota_reset_at <= now)
            .order_by(Tenant.quota_reset_at, Tenant.id)
        )
        return [row.id for row in rows]

    def tenants_of_member(self, clerk_user_id: str) -> list[uuid.UUID]:
        rows = self.session.execute(
            select(User.tenant_id).where(User.clerk_id == clerk_user_id).distinct().order_by(User.tenant_id)
        )
        return [row.tenant_id for row in rows]

"""Clerk webhooks (delivered by Svix): users, organisations and memberships kept in step with tenants and users.

Tenant ids are the ones the authorizer derives (uuid5 of "user:<id>" for a personal workspace, "org:<id>" for an
organisation), so a webhook and a first sign-in converge on the same rows whichever comes first. Deliveries are
deduplicated on `svix-id`; the event is settled in the transaction that applies it to its main tenant, and work
on a user's other memberships (idempotent updates and deletes) runs before, so a failure there is retried whole.
Svix does not promise order: Clerk's `updated_at` of the last state applied is kept, and an older one is ignored.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from viral.billing.repository import SETTLED, AccountRepository, BillingSystemRepository, WebhookEventSystemRepository
from viral.billing.stripe_gateway import secret_value
from viral.db.uow import UnitOfWork, system_unit_of_work, unit_of_work
from viral.errors import InvalidInput
from viral.identity.auth import CLERK_NAMESPACE
from viral.identity.tombstones import ClerkTombstoneSystemRepository, Key
from viral.observability import logger
from viral.settings import Settings, get_settings
from viral.webhooks.payload import WebhookReceipt, allowed_event
from viral.webhooks.signatures import verify_svix_signature

PROVIDER = "clerk"
ALLOWED_CLERK_EVENTS = frozenset(
    {
        "user.created",
        "user.updated",
        "user.deleted",
        "organization.created",
        "organization.updated",
        "organization.deleted",
        "organizationMembership.created",
        "organizationMembership.updated",
        "organizationMembership.deleted",
    }
)

Work = Callable[[UnitOfWork], None]


def personal_tenant(clerk_user_id: str) -> uuid.UUID:
    return uuid.uuid5(CLERK_NAMESPACE, f"user:{clerk_user_id}")


def organisation_tenant(clerk_org_id: str) -> uuid.UUID:
    return uuid.uuid5(CLERK_NAMESPACE, f"org:{clerk_org_id}")


def clerk_webhook_secret(settings: Settings) -> str | None:
    if settings.clerk_webhook_secret:
        return settings.clerk_webhook_secret
    if settings.clerk_webhook_secret_name:
        return secret_value(settings.clerk_webhook_secret_name)
    return None


@dataclass(frozen=True)
class EventWork:
    """What one event does: idempotent work on other tenants first, then the main tenant's own work."""

    tenant_id: uuid.UUID
    work: Work
    others: tuple[tuple[uuid.UUID, Work], ...] = ()
    # What the event is about: if any of these was deleted, the event is ignored (it cannot resurrect them).
    about: tuple[Key, ...] = ()
    # What the event deletes: remembered, in the same transaction as the deletion.
    buries: tuple[Key, ...] = ()


def receive_clerk_webhook(
    payload: bytes, headers: Mapping[str, str] | None, *, now: float | None = None, settings: Settings | None = None
) -> WebhookReceipt:
    """Verify a Clerk delivery and apply it once (InvalidSignature: nothing is touched)."""
    settings = settings or get_settings()
    message_id = verify_svix_signature(
        payload, headers, clerk_webhook_secret(settings), now=time.time() if now is None else now
    )
    event = allowed_event(payload, ALLOWED_CLERK_EVENTS)
    if event is None:
        return WebhookReceipt(status="ignored")
    event_type = event["type"]
    data = event.get("data")
    if not isinstance(data, dict):
        raise InvalidInput("the event has no data object")
    plan = plan_event(event_type, data)
    with system_unit_of_work() as system:
        events = WebhookEventSystemRepository(system.session)
        if events.status_of(provider=PROVIDER, event_id=message_id) in SETTLED:
            return WebhookReceipt(status="duplicate", event_id=message_id)
        if ClerkTombstoneSystemRepository(system.session).buried(plan.about):
            events.claim(
                provider=PROVIDER, event_id=message_id, event_type=event_type, tenant_id=None, status="ignored"
            )
            logger.info("clerk event about a deleted subject ignored", extra={"event_type": event_type})
            return WebhookReceipt(status="ignored", event_id=message_id)
    for tenant_id, work in plan.others:
        with unit_of_work(tenant_id) as uow:
            work(uow)
    with unit_of_work(plan.tenant_id) as uow:
        with uow.as_system() as session:
            claimed = WebhookEventSystemRepository(session).claim(
                provider=PROVIDER, event_id=message_id, event_type=event_type, tenant_id=plan.tenant_id
            )
            ClerkTombstoneSystemRepository(session).bury(plan.buries)
        if not claimed:
            return WebhookReceipt(status="duplicate", event_id=message_id)
        plan.work(uow)
    logger.info("clerk event applied", extra={"event_type": event_type, "tenant_id": str(plan.tenant_id)})
    return WebhookReceipt(status="processed", event_id=message_id)


# --- events to work -------------------------------------------------------------------------------------------


def _clerk_id(data: Mapping[str, Any], prefix: str, what: str) -> str:
    value = data.get("id")
    if not isinstance(value, str) or not value.startswith(prefix) or len(value) > 255:
        raise InvalidInput(f"the event's {what} has no valid id")
    return value


def _ms(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _full_name(first: Any, last: Any, username: Any = None) -> str | None:
    name = " ".join(part for part in (first, last) if isinstance(part, str) and part).strip()
    return _text(name or username, 200)


def _primary_email(user: Mapping[str, Any]) -> str | None:
    addresses = [a for a in user.get("email_addresses") or [] if isinstance(a, Mapping)]
    primary = user.get("primary_email_address_id")
    chosen = next((a for a in addresses if a.get("id") == primary), addresses[0] if addresses else None)
    return _text(chosen.get("email_address"), 320) if chosen else None


def _role(value: Any) -> str:
    return "ADMIN" if value in ("org:admin", "admin") else "MEMBER"


def plan_event(event_type: str, data: Mapping[str, Any]) -> EventWork:
    """The work one allowed Clerk event implies."""
    kind, _, action = event_type.partition(".")
    if kind == "user":
        return _user_plan(action, data)
    if kind == "organization":
        return _organisation_plan(action, data)
    return _membership_plan(action, data)


def _user_plan(action: str, user: Mapping[str, Any]) -> EventWork:
    user_id = _clerk_id(user, "user_", "user")
    personal = personal_tenant(user_id)
    others = tuple(t for t in _memberships(user_id) if t != personal)
    if action == "deleted":
        # The user's memberships go, and their personal workspace with everything it owns.
        return EventWork(
            tenant_id=personal,
            work=_remove_tenant,
            others=tuple((t, _remover(user_id)) for t in others),
            buries=(("user", user_id),),
        )
    email = _primary_email(user)
    name = _full_name(user.get("first_name"), user.get("last_name"), user.get("username"))
    image = _text(user.get("image_url"), 2048)
    updated_at = _ms(user.get("updated_at")) or _ms(user.get("created_at"))

    def personal_workspace(uow: UnitOfWork) -> None:
        # As the authorizer provisions it on first sign-in: FREE, named after the email, the user its ADMIN.
        uow.repository(AccountRepository).upsert_tenant(
            name=email or "Personal workspace", clerk_org_id=None, updated_at=None
        )
        uow.repository(AccountRepository).upsert_member(
            clerk_user_id=user_id, email=email, name=name, image_url=image, role="ADMIN", updated_at=updated_at
        )

    def profile(uow: UnitOfWork) -> None:
        if updated_at is not None:
            uow.repository(AccountRepository).update_member(
                clerk_user_id=user_id, email=email, name=name, image_url=image, updated_at=updated_at
            )

    return EventWork(
        tenant_id=personal,
        work=personal_workspace,
        others=tuple((t, profile) for t in others),
        about=(("user", user_id),),
    )


def _memberships(clerk_user_id: str) -> list[uuid.UUID]:
    with system_unit_of_work() as system:
        return BillingSystemRepository(system.session).tenants_of_member(clerk_user_id)


def _remove_tenant(uow: UnitOfWork) -> None:
    uow.repository(AccountRepository).remove_tenant()


def _remover(clerk_user_id: str) -> Work:
    def remove(uow: UnitOfWork) -> None:
        uow.repository(AccountRepository).remove_member(clerk_user_id)

    return remove


def _organisation_plan(action: str, organisation: Mapping[str, Any]) -> EventWork:
    org_id = _clerk_id(organisation, "org_", "organization")
    tenant = organisation_tenant(org_id)
    if action == "deleted":
        return EventWork(tenant_id=tenant, work=_remove_tenant, buries=(("organization", org_id),))
    name = _text(organisation.get("name"), 200) or _text(organisation.get("slug"), 200) or org_id
    updated_at = _ms(organisation.get("updated_at"))
    return EventWork(
        tenant_id=tenant,
        work=lambda uow: uow.repository(AccountRepository).upsert_tenant(
            name=name, clerk_org_id=org_id, updated_at=updated_at
        ),
        about=(("organization", org_id),),
    )


def _membership_plan(action: str, membership: Mapping[str, Any]) -> EventWork:
    organisation = membership.get("organization")
    member = membership.get("public_user_data")
    if not isinstance(organisation, Mapping) or not isinstance(member, Mapping):
        raise InvalidInput("the membership lacks its organization or public_user_data")
    org_id = _clerk_id(organisation, "org_", "organization")
    user_id = member.get("user_id")
    if not isinstance(user_id, str) or not user_id.startswith("user_") or len(user_id) > 255:
        raise InvalidInput("the membership has no valid user id")
    tenant = organisation_tenant(org_id)
    membership_id = membership.get("id")
    # Clerk gives a re-added member a new membership id, so burying the id never blocks a later invitation.
    this_membership: tuple[Key, ...] = (
        (("membership", membership_id),) if isinstance(membership_id, str) and 0 < len(membership_id) <= 255 else ()
    )
    if action == "deleted":
        return EventWork(tenant_id=tenant, work=_remover(user_id), buries=this_membership)
    org_name = _text(organisation.get("name"), 200) or _text(organisation.get("slug"), 200) or org_id
    org_updated = _ms(organisation.get("updated_at"))
    email = _text(member.get("identifier"), 320)
    name = _full_name(member.get("first_name"), member.get("last_name"))
    image = _text(member.get("image_url"), 2048)
    updated_at = _ms(membership.get("updated_at")) or _ms(membership.get("created_at"))
    role = _role(membership.get("role"))

    def join(uow: UnitOfWork) -> None:
        uow.repository(AccountRepository).upsert_tenant(name=org_name, clerk_org_id=org_id, updated_at=org_updated)
        uow.repository(AccountRepository).upsert_member(
            clerk_user_id=user_id, email=email, name=name, image_url=image, role=role, updated_at=updated_at
        )

    return EventWork(tenant_id=tenant, work=join, about=(("user", user_id), ("organization", org_id), *this_membership))

"""Webhook endpoints: register, list, change, delete, rotate the signing secret, send a test event, read attempts."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from viral.billing.plans import plan_for
from viral.db.uow import unit_of_work
from viral.errors import Conflict, NotFound, QuotaExceeded
from viral.outbound.events import TEST_EVENT, emit
from viral.outbound.repository import AttemptRecord, DeliveryRepository, EndpointRecord, EndpointRepository
from viral.outbound.safety import Policy, check_url
from viral.outbound.sealing import secret_box
from viral.settings import get_settings
from viral.tenancy import current_tenant

SECRET_PREFIX = "whsec_"  # noqa: S105 (the scheme's prefix, not a secret)
SECRET_BYTES = 32  # Standard Webhooks: 24 to 64 random bytes
ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def endpoint_wire(endpoint: EndpointRecord, *, now: datetime | None = None) -> dict[str, Any]:
    """An endpoint as the API shows it: never its secrets, but whether an old one still signs and until when."""
    moment = now or datetime.now(UTC)
    previous_live = endpoint.previous_secret_expires_at is not None and endpoint.previous_secret_expires_at > moment
    return {
        "id": str(endpoint.id),
        "url": endpoint.url,
        "description": endpoint.description,
        "events": endpoint.events,
        "status": endpoint.status,
        "disabledReason": endpoint.disabled_reason,
        "disabledAt": _iso(endpoint.disabled_at),
        "failingSince": _iso(endpoint.failing_since),
        "lastSuccessAt": _iso(endpoint.last_success_at),
        "previousSecretExpiresAt": _iso(endpoint.previous_secret_expires_at) if previous_live else None,
        "createdAt": _iso(endpoint.created_at),
        "updatedAt": _iso(endpoint.updated_at),
    }


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: EndpointRecord
    secret: str

    def wire(self) -> dict[str, Any]:
        return {**endpoint_wire(self.endpoint), "secret": self.secret}


def _policy() -> Policy:
    return Policy.for_stage(get_settings().stage)


def _unique(events: list[str]) -> list[str]:
    return list(dict.fromkeys(events))


def create_endpoint(*, url: str, events: list[str], description: str | None = None) -> CreatedEndpoint:
    """Register an endpoint (its URL checked now, the plan's endpoint limit enforced); the secret is shown once."""
    check_url(url, _policy())  # resolves the host, and sealing may call KMS: both outside the transaction
    secret = new_secret()
    endpoint_id = uuid.uuid4()
    sealed = secret_box(get_settings()).seal(secret.encode(), tenant_id=current_tenant(), endpoint_id=endpoint_id)
    with unit_of_work() as uow:
        repository = uow.repository(EndpointRepository)
        allowed = plan_for(repository.tier_locked()).webhook_endpoints
        if repository.count() >= allowed:
            raise QuotaExceeded(
                "Webhook endpoint limit reached",
                details=f"Your plan allows {allowed} webhook endpoint(s). Delete one or upgrade your plan.",
            )
        created = repository.add(endpoint_id, url=url, events=_unique(events), description=description, sealed=sealed)
    return CreatedEndpoint(created, secret)


def list_endpoints() -> list[EndpointRecord]:
    with unit_of_work() as uow:
        return uow.repository(EndpointRepository).newest()


def get_endpoint(endpoint_id: uuid.UUID) -> EndpointRecord:
    with unit_of_work() as uow:
        found = uow.repository(EndpointRepository).get(endpoint_id)
    if found is None:
        raise NotFound("Webhook endpoint not found")
    return found


def update_endpoint(
    endpoint_id: uuid.UUID,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    clear_description: bool = False,
) -> EndpointRecord:
    """Change what was given. Enabling a disabled endpoint starts its failure count afresh."""
    if url is not None:
        check_url(url, _policy())
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = url
    if events is not None:
        changes["events"] = _unique(events)
    if description is not None or clear_description:
        changes["description"] = description
    with unit_of_work() as uow:
        repository = uow.repository(EndpointRepository)
        current = repository.get(endpoint_id, lock=True)
        if current is None:
            raise NotFound("Webhook endpoint not found")
        if enabled is True and current.status == "disabled":
            changes.update(status="enabled", disabled_reason=None, disabled_at=None, failing_since=None)
        elif enabled is False and current.status == "enabled":
            changes.update(status="disabled", disabled_reason="disabled by the tenant", disabled_at=datetime.now(UTC))
            uow.repository(DeliveryRepository).cancel_pending(endpoint_id)
        if not changes:
            return current
        updated = repository.update(endpoint_id, **changes)
    assert updated is not None
    return updated


def delete_endpoint(endpoint_id: uuid.UUID) -> None:
    """Delete an endpoint with its deliveries and attempts (nothing more is sent to it)."""
    with unit_of_work() as uow:
        if not uow.repository(EndpointRepository).delete(endpoint_id):
            raise NotFound("Webhook endpoint not found")


def rotate_secret(endpoint_id: uuid.UUID, *, now: datetime | None = None) -> CreatedEndpoint:
    """A new signing secret; the one it replaces keeps signing beside it for 24 hours."""
    moment = now or datetime.now(UTC)
    secret = new_secret()
    sealed = secret_box(get_settings()).seal(secret.encode(), tenant_id=current_tenant(), endpoint_id=endpoint_id)
    with unit_of_work() as uow:
        repository = uow.repository(EndpointRepository)
        current = repository.get(endpoint_id, lock=True)
        if current is None:
            raise NotFound("Webhook endpoint not found")
        updated = repository.update(
            endpoint_id,
            secret_sealed=sealed,
            previous_secret_sealed=current.secret_sealed,
            previous_secret_expires_at=moment + ROTATION_OVERLAP,
        )
    assert updated is not None
    return CreatedEndpoint(updated, secret)


def send_test_event(endpoint_id: uuid.UUID) -> uuid.UUID:
    """Queue a `webhook.test` event for this endpoint only; the event id (its deliveries' webhook-id)."""
    with unit_of_work() as uow:
        endpoint = uow.repository(EndpointRepository).get(endpoint_id)
        if endpoint is None:
            raise NotFound("Webhook endpoint not found")
        if endpoint.status != "enabled":
            raise Conflict("The webhook endpoint is disabled: enable it first")
        return emit(
            uow, TEST_EVENT, {"endpointId": str(endpoint_id), "message": "A test event."}, endpoint_id=endpoint_id
        )


def recent_attempts(endpoint_id: uuid.UUID, *, limit: int) -> list[AttemptRecord]:
    with unit_of_work() as uow:
        if uow.repository(EndpointRepository).get(endpoint_id) is None:
            raise NotFound("Webhook endpoint not found")
        return uow.repository(DeliveryRepository).recent_attempts(endpoint_id, limit=limit)


def attempt_wire(attempt: AttemptRecord) -> dict[str, Any]:
    return {
        "id": str(attempt.id),
        "deliveryId": str(attempt.delivery_id),
        "webhookId": webhook_id(attempt.event_id),
        "eventType": attempt.event_type,
        "attempt": attempt.attempt,
        "statusCode": attempt.status_code,
        "durationMs": attempt.duration_ms,
        "error": attempt.error,
        "responseBody": attempt.response_body,
        "nextRetryAt": _iso(attempt.next_retry_at),
        "deliveryStatus": attempt.delivery_status,
        "createdAt": _iso(attempt.created_at),
    }


def webhook_id(event_id: uuid.UUID) -> str:
    """The webhook-id header of an event: the same on every attempt and for every endpoint."""
    return f"msg_{event_id.hex}"

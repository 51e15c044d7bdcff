"""Who is calling: API keys (hashed, scoped, revocable) and Clerk session tokens (RS256, networkless)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from viral.caller import SCOPES, AuthMethod, Principal
from viral.db.uow import unit_of_work
from viral.errors import Forbidden, InvalidInput, NotFound
from viral.identity.key_lookup import PrincipalCache, authenticate, authenticate_key
from viral.identity.principal import KEY_PREFIX, credentials_from_headers, hash_key
from viral.identity.repository import ApiKeyRecord, ApiKeyRepository
from viral.identity.sessions import CLERK_NAMESPACE, authenticate_session, organisation_of, verify_session_token

__all__ = [
    "CLERK_NAMESPACE",
    "DEFAULT_SCOPES",
    "KEY_PREFIX",
    "LOOKUP_PREFIX_LENGTH",
    "SCOPES",
    "AuthMethod",
    "NewApiKey",
    "Principal",
    "PrincipalCache",
    "authenticate",
    "authenticate_key",
    "authenticate_session",
    "create_api_key",
    "credentials_from_headers",
    "hash_key",
    "list_api_keys",
    "organisation_of",
    "revoke_api_keys",
    "verify_session_token",
]

LOOKUP_PREFIX_LENGTH = 11  # "vd_" and 8 characters: enough to tell keys apart in a list, useless to an attacker
DEFAULT_SCOPES = ("read", "write", "generate")
# --- key management (inside the tenant scope) ----------------------------------------------------------------


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: the only moment its secret exists outside the caller's hands."""

    record: ApiKeyRecord
    secret: str


def create_api_key(
    *,
    name: str = "default",
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    user_id: uuid.UUID | None = None,
    granted_by: Principal | None = None,
) -> NewApiKey:
    """Create a key for the current tenant; the secret is returned once and only its hash is stored.

    A key made by another key (`granted_by`) holds only scopes that key holds: no key can escalate itself.
    """
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise InvalidInput(f"scopes must be a non-empty subset of {', '.join(SCOPES)}")
    if granted_by is not None and granted_by.method == "api_key":
        beyond = sorted(set(scopes) - set(granted_by.scopes))
        if beyond:
            raise Forbidden(f"an API key can only grant scopes it holds itself; it lacks: {', '.join(beyond)}")
    if not 1 <= len(name.strip()) <= 100:
        raise InvalidInput("key name must be 1 to 100 characters")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work() as uow:
        record = uow.repository(ApiKeyRepository).add(
            name=name.strip(),
            prefix=secret[:LOOKUP_PREFIX_LENGTH],
            key_hash=hash_key(secret),
            scopes=sorted(set(scopes)),
            user_id=user_id,
        )
    return NewApiKey(record=record, secret=secret)


def revoke_api_keys(*, key_id: uuid.UUID | None = None, prefix: str | None = None) -> list[ApiKeyRecord]:
    """Revoke one key of the current tenant (by id or prefix) or all of them; NotFound when none matched."""
    with unit_of_work() as uow:
        revoked = uow.repository(ApiKeyRepository).revoke(key_id=key_id, prefix=prefix)
    if not revoked and (key_id is not None or prefix is not None):
        raise NotFound("API key not found")
    return revoked


def list_api_keys() -> list[ApiKeyRecord]:
    with unit_of_work() as uow:
        return uow.repository(ApiKeyRepository).active()

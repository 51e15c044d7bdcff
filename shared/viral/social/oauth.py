"""Signed, single-use OAuth states with PKCE.

A state is `<payload>.<signature>`: the payload (base64url JSON) names the tenant, the user who asked, the
platform, a random nonce and the expiry; the signature is HMAC-SHA256 under the state key. The nonce is also a
row of `oauth_states` in the tenant's scope, spent once by the callback. The PKCE verifier is derived from the
nonce under the same key, so it is never stored and never leaves the server; only its challenge is sent.
The browser that asked carries a cookie with a hash of the nonce: a state replayed from another browser fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass

from viral.errors import InvalidInput
from viral.settings import Settings

STATE_TTL_S = 600
COOKIE = "vd_oauth"


class StateRefused(InvalidInput):
    """A forged, expired, replayed or foreign state: nothing happens."""

    code = "INVALID_STATE"


@dataclass(frozen=True)
class StatePayload:
    tenant_id: uuid.UUID
    user_id: uuid.UUID | None
    platform: str
    nonce: str
    expires_at: float


def state_key(secret: str | None, settings: Settings) -> bytes:
    """The key that signs states: the configured secret, else (local runs and tests only) one derived from the
    local token key file."""
    if secret:
        return hashlib.sha256(b"oauth-state\x00" + secret.encode()).digest()
    if settings.stage not in ("local", "test"):
        raise RuntimeError("the OAuth state secret is not configured (SOCIAL_SECRET_NAME stateSecret)")
    from viral.social.tokens import _load_or_create

    return hashlib.sha256(b"oauth-state-local\x00" + _load_or_create(settings.token_key_file)).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_state(
    key: bytes, *, tenant_id: uuid.UUID, user_id: uuid.UUID | None, platform: str
) -> tuple[str, StatePayload]:
    payload = StatePayload(
        tenant_id=tenant_id,
        user_id=user_id,
        platform=platform,
        nonce=secrets.token_urlsafe(24),
        expires_at=time.time() + STATE_TTL_S,
    )
    body = _b64(
        json.dumps(
            {
                "t": str(tenant_id),
                "u": str(user_id) if user_id else None,
                "p": platform,
                "n": payload.nonce,
                "e": int(payload.expires_at),
            },
            separators=(",", ":"),
        ).encode()
    )
    return f"{body}.{_sign(key, body)}", payload


def _sign(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def read_state(key: bytes, state: str, *, platform: str) -> StatePayload:
    """The state's payload if its signature is ours, it is unexpired and it is for this platform."""
    body, _, signature = (state or "").partition(".")
    if not body or not hmac.compare_digest(signature, _sign(key, body)):
        raise StateRefused("invalid_state")
    try:
        raw = json.loads(_unb64(body))
        payload = StatePayload(
            tenant_id=uuid.UUID(raw["t"]),
            user_id=uuid.UUID(raw["u"]) if raw.get("u") else None,
            platform=str(raw["p"]),
            nonce=str(raw["n"]),
            expires_at=float(raw["e"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StateRefused("invalid_state") from exc
    if payload.platform != platform:
        raise StateRefused("invalid_state")
    if payload.expires_at < time.time():
        raise StateRefused("expired_state")
    return payload


def pkce_verifier(key: bytes, nonce: str) -> str:
    """43 characters of base64url (RFC 7636), derived from the nonce: never stored."""
    return _b64(hmac.new(key, b"pkce\x00" + nonce.encode(), hashlib.sha256).digest())


def pkce_challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode()).digest())


def browser_binding(key: bytes, nonce: str) -> str:
    """The cookie value that ties a state to the browser that asked for it."""
    return _b64(hmac.new(key, b"browser\x00" + nonce.encode(), hashlib.sha256).digest())

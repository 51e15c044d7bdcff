"""Clerk session tokens for tests: an RSA key pair made per run, tokens signed as Clerk signs them."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DASHBOARD_ORIGIN = "https://app.viral-dashboard.test"


def key_pair(name: str = "clerk") -> tuple[str, str]:
    """(private PEM, public PEM) generated for this test run only, one pair per name."""
    return _key_pair(name)


@lru_cache(maxsize=4)
def _key_pair(name: str) -> tuple[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def session_token(
    sub: str = "user_2abc",
    *,
    signer: str = "clerk",
    expires_in: int = 60,
    not_before: int = -5,
    azp: str | None = DASHBOARD_ORIGIN,
    **claims: Any,
) -> str:
    """A v2 session token (pass `o={...}` for an organisation, or v1 `org_id=...`)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": sub,
        "iat": now,
        "nbf": now + not_before,
        "exp": now + expires_in,
        "v": 2,
        "iss": "https://clerk.viral-dashboard.test",
        "sid": "sess_test",
        **claims,
    }
    if azp is not None:
        payload["azp"] = azp
    return jwt.encode(payload, key_pair(signer)[0], algorithm="RS256", headers={"kid": "ins_test"})

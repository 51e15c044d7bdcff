"""Clerk session tokens: verified offline (RS256 against the configured PEM, or JWKS fetched once), and the member
they act as provisioned on first sign-in. PyJWT and SQLAlchemy load only when a session token arrives.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from viral.caller import Principal
from viral.db.uow import unit_of_work
from viral.errors import Unauthorized
from viral.identity.repository import MembershipRepository
from viral.settings import Settings

# Deterministic tenant ids from Clerk ids make first sign-in idempotent: concurrent first requests converge.
CLERK_NAMESPACE = uuid.UUID("5b0c7d1e-3f6a-4c8e-9d2b-7a1e4f6c8b90")


def verify_session_token(token: str, settings: Settings) -> dict[str, Any]:
    """Verify a Clerk session JWT: RS256 signature, exp/nbf with 5 s leeway, azp against allowed origins."""
    import jwt  # PyJWT + cryptography: loaded only when a session token arrives

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _signing_key(token, settings),
            algorithms=["RS256"],
            leeway=5,
            options={"require": ["exp", "nbf", "sub", "iss"], "verify_aud": False},
            issuer=settings.session_issuer,  # None: not checked (local runs and tests without a configured issuer)
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid session token") from exc
    parties = settings.authorized_parties
    if parties and claims.get("azp") not in parties:
        raise Unauthorized("invalid session token")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Unauthorized("invalid session token")
    return claims


def _signing_key(token: str, settings: Settings) -> Any:
    if settings.clerk_jwt_key:
        return _pem_key(settings.clerk_jwt_key)
    if settings.clerk_jwks_url:
        return _jwks_client(settings.clerk_jwks_url).get_signing_key_from_jwt(token).key
    raise Unauthorized("session tokens are not accepted: CLERK_JWT_KEY is not configured")


@lru_cache(maxsize=4)
def _pem_key(pem: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    # Clerk's dashboard shows the PEM with real newlines; environment variables often carry "\n" escapes.
    return load_pem_public_key(pem.replace("\\n", "\n").encode())


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> Any:
    from jwt import PyJWKClient

    return PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=3)


def organisation_of(claims: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(org id, org role) from v2 (`o.id`, `o.rol`) or v1 (`org_id`, `org_role`) claims."""
    org: Mapping[str, Any] = claims["o"] if isinstance(claims.get("o"), dict) else {}
    org_id = org.get("id") or claims.get("org_id")
    role = org.get("rol") or str(claims.get("org_role") or "").removeprefix("org:") or None
    return (str(org_id) if org_id else None), role


def authenticate_session(token: str, settings: Settings) -> Principal:
    """The member a verified Clerk session token acts as, its tenant and user provisioned on first sign-in."""
    claims = verify_session_token(token, settings)
    user_id: str = claims["sub"]
    org_id, org_role = organisation_of(claims)
    if org_id:
        tenant_id = uuid.uuid5(CLERK_NAMESPACE, f"org:{org_id}")
        role = "ADMIN" if org_role == "admin" else "MEMBER"
        v2_org: Mapping[str, Any] = claims["o"] if isinstance(claims.get("o"), dict) else {}
        tenant_name = str(v2_org.get("slg") or claims.get("org_slug") or org_id)
    else:
        # As the original: a personal tenant on the FREE plan, the user its ADMIN.
        tenant_id = uuid.uuid5(CLERK_NAMESPACE, f"user:{user_id}")
        role = "ADMIN"
        tenant_name = str(claims.get("email") or "Personal workspace")
    with unit_of_work(tenant_id) as uow:
        member = uow.repository(MembershipRepository).provision(
            clerk_user_id=user_id,
            clerk_org_id=org_id,
            tenant_name=tenant_name,
            email=claims.get("email") if isinstance(claims.get("email"), str) else None,
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            role=role,
        )
    return Principal(tenant_id=member.tenant_id, user_id=member.user_id, role=member.role, method="clerk")

"""Who is calling: API keys (hashed, scoped, revocable) and Clerk session tokens (RS256, networkless)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from viral.db.repositories import ApiKeyRecord
from viral.db.uow import system_unit_of_work, unit_of_work
from viral.errors import InvalidInput, NotFound, Unauthorized
from viral.settings import Settings, get_settings

KEY_PREFIX = "vd_"
LOOKUP_PREFIX_LENGTH = 11  # "vd_" and 8 characters: enough to tell keys apart in a list, useless to an attacker
SCOPES = ("read", "write", "generate", "admin")
DEFAULT_SCOPES = ("read", "write", "generate")
# Deterministic tenant ids from Clerk ids make first sign-in idempotent: concurrent first requests converge.
CLERK_NAMESPACE = uuid.UUID("5b0c7d1e-3f6a-4c8e-9d2b-7a1e4f6c8b90")

AuthMethod = Literal["api_key", "clerk"]


@dataclass(frozen=True)
class Principal:
    """The caller, as the authorizer hands it to the handlers."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID | None
    role: str
    method: AuthMethod
    api_key_id: uuid.UUID | None = None
    scopes: tuple[str, ...] = field(default=SCOPES)

    def context(self) -> dict[str, str]:
        """API Gateway authorizer context (flat strings only)."""
        return {
            "tenantId": str(self.tenant_id),
            "userId": str(self.user_id or ""),
            "role": self.role,
            "authMethod": self.method,
            "apiKeyId": str(self.api_key_id or ""),
            "scopes": ",".join(self.scopes),
        }

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> Principal:
        """Rebuild the principal from the authorizer context (never from anything the client sent)."""
        try:
            return cls(
                tenant_id=uuid.UUID(str(context["tenantId"])),
                user_id=uuid.UUID(str(context["userId"])) if context.get("userId") else None,
                role=str(context.get("role") or "MEMBER"),
                method="api_key" if context.get("authMethod") == "api_key" else "clerk",
                api_key_id=uuid.UUID(str(context["apiKeyId"])) if context.get("apiKeyId") else None,
                scopes=tuple(s for s in str(context.get("scopes") or "").split(",") if s),
            )
        except (KeyError, ValueError) as exc:
            raise Unauthorized("missing or malformed authorizer context") from exc


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def credentials_from_headers(headers: Mapping[str, str] | None) -> tuple[Literal["api_key", "jwt"], str]:
    """The credential a request carries: `X-API-Key`, or `Authorization: Bearer` (a vd_ key or a JWT)."""
    api_key = _header(headers, "x-api-key")
    if api_key:
        return "api_key", api_key.strip()
    authorization = (_header(headers, "authorization") or "").strip()
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing credentials: send Authorization: Bearer <API key or session token>")
    return ("api_key" if token.startswith(KEY_PREFIX) else "jwt"), token


def authenticate(headers: Mapping[str, str] | None, settings: Settings | None = None) -> Principal:
    """The principal behind a request's credentials, or Unauthorized (never which check failed, to the client)."""
    kind, token = credentials_from_headers(headers)
    if kind == "api_key":
        return _authenticate_key(token)
    return _authenticate_session(token, settings or get_settings())


def _authenticate_key(key: str) -> Principal:
    if not key.startswith(KEY_PREFIX) or not 20 <= len(key) <= 128:
        raise Unauthorized("invalid API key")
    with system_unit_of_work() as system:
        owner = system.find_api_key(hash_key(key))
    if owner is None:
        raise Unauthorized("invalid API key")
    return Principal(
        tenant_id=owner.tenant_id,
        user_id=owner.user_id,
        role=owner.role,
        method="api_key",
        api_key_id=owner.key_id,
        scopes=tuple(owner.scopes),
    )


# --- Clerk session tokens ----------------------------------------------------------------------------------


def verify_session_token(token: str, settings: Settings) -> dict[str, Any]:
    """Verify a Clerk session JWT: RS256 signature, exp/nbf with 5 s leeway, azp against allowed origins."""
    import jwt  # PyJWT + cryptography: loaded only when a session token arrives

    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            _signing_key(token, settings),
            algorithms=["RS256"],
            leeway=5,
            options={"require": ["exp", "nbf", "sub"], "verify_aud": False},
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


def _authenticate_session(token: str, settings: Settings) -> Principal:
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
        member = uow.members.provision(
            clerk_user_id=user_id,
            clerk_org_id=org_id,
            tenant_name=tenant_name,
            email=claims.get("email") if isinstance(claims.get("email"), str) else None,
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            role=role,
        )
    return Principal(tenant_id=member.tenant_id, user_id=member.user_id, role=member.role, method="clerk")


# --- key management (inside the tenant scope) ----------------------------------------------------------------


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: the only moment its secret exists outside the caller's hands."""

    record: ApiKeyRecord
    secret: str


def create_api_key(
    *, name: str = "default", scopes: tuple[str, ...] = DEFAULT_SCOPES, user_id: uuid.UUID | None = None
) -> NewApiKey:
    """Create a key for the current tenant; the secret is returned once and only its hash is stored."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise InvalidInput(f"scopes must be a non-empty subset of {', '.join(SCOPES)}")
    if not 1 <= len(name.strip()) <= 100:
        raise InvalidInput("key name must be 1 to 100 characters")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work() as uow:
        record = uow.api_keys.add(
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
        revoked = uow.api_keys.revoke(key_id=key_id, prefix=prefix)
    if not revoked and (key_id is not None or prefix is not None):
        raise NotFound("API key not found")
    return revoked


def list_api_keys() -> list[ApiKeyRecord]:
    with unit_of_work() as uow:
        return uow.api_keys.active()


class PrincipalCache:
    """Per-environment memo of credential -> principal, keyed by the credential's hash, for `ttl_s` seconds.

    API Gateway's own authorizer cache needs every identity source present, which two alternative headers
    (Authorization or X-API-Key) cannot satisfy; this cache gives the same saving inside the function.
    A revoked key stops working within `ttl_s`.
    """

    def __init__(self, *, ttl_s: float = 60.0, max_entries: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}

    def authenticate(self, headers: Mapping[str, str] | None, *, now: float) -> Principal:
        kind, token = credentials_from_headers(headers)
        key = hash_key(f"{kind}:{token}")
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = authenticate(headers)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (now + self.ttl_s, found)
        return found

"""Who is calling, and the credential a request carries: plain data, importable from every layer."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from viral.errors import Unauthorized

KEY_PREFIX = "vd_"
SCOPES = ("read", "write", "generate", "admin")

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

"""Who is calling: the principal the authorizer establishes and every handler reads (plain data, no heavy imports).

How a caller is authenticated (API keys, Clerk sessions) is the identity domain's business; what a caller *is*
sits here, below every domain, so any domain's routes can ask for it without importing identity.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from viral.errors import Unauthorized

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

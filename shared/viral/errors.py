"""The domain's error hierarchy: raised by services and adapters, translated to HTTP or queue outcomes at the edges."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error the product raises on purpose."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(DomainError):
    """The caller sent something we cannot accept; nothing was written."""

    code = "VALIDATION_FAILED"


class NotFound(DomainError):
    """The thing does not exist in the current tenant (or at all: we never say which)."""

    code = "NOT_FOUND"


class Conflict(DomainError):
    """The request clashes with the current state."""

    code = "CONFLICT"


class QuotaExceeded(DomainError):
    """The tenant's plan does not allow more of this in the current period."""

    code = "QUOTA_EXCEEDED"


class Unauthorized(DomainError):
    """No valid credentials."""

    code = "UNAUTHORIZED"


class Forbidden(DomainError):
    """Valid credentials without the right to do this."""

    code = "FORBIDDEN"


class TenantScopeMissing(DomainError):
    """Tenant-scoped work was attempted with no tenant bound: we fail closed instead of reading all rows."""

    code = "TENANT_SCOPE_MISSING"


class Retryable(DomainError):
    """A transient failure (timeout, 5xx, 429): the work may succeed if tried again."""

    code = "RETRYABLE"


class Permanent(DomainError):
    """A failure that retrying cannot fix."""

    code = "PERMANENT"

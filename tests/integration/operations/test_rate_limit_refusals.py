"""A request refused for a missing scope (403) does not use up the tenant's rate-limit window."""

from __future__ import annotations

import uuid
from http import HTTPStatus

from viral.identity import auth
from viral.operations.usage import RATE_LIMITS
from viral.tenancy import tenant_scope

from tests.gateway import Gateway


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_scope_refusals_are_not_counted(gateway: Gateway, tenant_a: uuid.UUID) -> None:
    with tenant_scope(tenant_a):
        reader = auth.create_api_key(scopes=("read",)).secret
        writer = auth.create_api_key(scopes=("read", "write")).secret
    limit = RATE_LIMITS["FREE"]
    for _ in range(limit + 5):
        refused = gateway.request("POST", "/api/trends", headers=_bearer(reader))  # needs the generate scope
        assert refused.status == HTTPStatus.FORBIDDEN
    allowed = gateway.request("GET", "/api/trends", headers=_bearer(writer))  # the same "trends" window
    assert allowed.status == HTTPStatus.OK
    assert allowed.headers["X-RateLimit-Remaining"] == str(limit - 1)

"""Per-request context: who is calling (from the authorizer) and what they may do."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from viral.errors import Forbidden
from viral.services.auth import Principal


def principal(router: Router) -> Principal:
    """The caller of the current request, set by the auth middleware."""
    value = router.context.get("principal")
    if not isinstance(value, Principal):
        raise Forbidden("no caller bound to this request")
    return value


def require_scope(router: Router, scope: str) -> Principal:
    """The caller, if a session (full rights) or a key holding `scope`; else Forbidden."""
    caller = principal(router)
    if caller.method == "api_key" and scope not in caller.scopes:
        raise Forbidden(f"this API key lacks the '{scope}' scope")
    return caller


def require_admin(router: Router) -> Principal:
    caller = principal(router)
    if caller.method == "clerk" and caller.role != "ADMIN":
        raise Forbidden("only an ADMIN can manage API keys")
    if caller.method == "api_key" and "admin" not in caller.scopes:
        raise Forbidden("this API key lacks the 'admin' scope")
    return caller

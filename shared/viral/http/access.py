"""Per-request context: who is calling (from the authorizer) and what they may do."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from viral.caller import Principal
from viral.errors import Forbidden


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


def require_admin(router: Router, *, what: str = "API keys") -> Principal:
    """An ADMIN session, or an API key with the admin scope whose owner (if it has one) is an ADMIN today.

    Keys made by an operator (CLI, `make run`) have no owner; a key's owner demoted later loses its admin rights.
    """
    caller = principal(router)
    if caller.method == "clerk" and caller.role != "ADMIN":
        raise Forbidden(f"only an ADMIN can manage {what}")
    if caller.method == "api_key":
        if "admin" not in caller.scopes:
            raise Forbidden("this API key lacks the 'admin' scope")
        if caller.user_id is not None and caller.role != "ADMIN":
            raise Forbidden(f"this API key's owner is no longer an ADMIN and cannot manage {what}")
    return caller

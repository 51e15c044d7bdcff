"""Per-request context: who is calling (from the authorizer) and what they may do."""

from __future__ import annotations

from dataclasses import replace

from aws_lambda_powertools.event_handler.api_gateway import Router
from sqlalchemy import select

from viral.caller import Principal
from viral.db.models import ApiKey, User
from viral.db.uow import unit_of_work
from viral.errors import Forbidden, Unauthorized


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
        # The authorizer's memo may be up to a minute old: these routes mint keys and move money, so the key is
        # read again from the database (revoked, scope removed or owner demoted since: refused now).
        current = _current_key(caller) if caller.api_key_id is not None else caller
        if current is None:
            raise Unauthorized("this API key has been revoked")
        if "admin" not in current.scopes:
            raise Forbidden("this API key lacks the 'admin' scope")
        if current.user_id is not None and current.role != "ADMIN":
            raise Forbidden(f"this API key's owner is no longer an ADMIN and cannot manage {what}")
    return caller


def _current_key(caller: Principal) -> Principal | None:
    """The caller as its key stands in the database now (scopes, owner's role); None once revoked."""
    statement = (
        select(ApiKey.scopes, User.role)
        .outerjoin(User, (User.tenant_id == ApiKey.tenant_id) & (User.id == ApiKey.user_id))
        .where(ApiKey.tenant_id == caller.tenant_id, ApiKey.id == caller.api_key_id, ApiKey.revoked_at.is_(None))
    )
    with unit_of_work(caller.tenant_id) as uow:
        row = uow.session.execute(statement).one_or_none()
    if row is None:
        return None
    return replace(caller, scopes=tuple(row.scopes or ()), role=row.role or caller.role)

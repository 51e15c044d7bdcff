"""/api/user: usage and API keys (JSON for API clients, 303 back to the dashboard for its HTML forms)."""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from viral.errors import InvalidInput
from viral.http.access import require_admin, require_scope
from viral.http.forms import is_form_post, request_fields
from viral.identity import auth
from viral.identity.tenants import set_daily_generation
from viral.operations.usage import get_usage
from viral.wire import CamelModel

router = Router()
DASHBOARD_KEYS_PAGE = "/dashboard/api-keys"
# The new key reaches the dashboard's server page once, in a short-lived cookie scoped to that page,
# never in the redirect URL (which would land in logs and browser history).
NEW_KEY_COOKIE = "vd_new_api_key"


@router.get("/api/user/usage", summary="Subscription, quota and tenant")
def usage() -> dict[str, Any]:
    require_scope(router, "read")
    return get_usage().wire()


def _is_form_post() -> bool:
    return is_form_post(router)


def _body() -> dict[str, Any]:
    return request_fields(router)


def _redirect(cookie: str | None = None) -> Response[str]:
    headers: dict[str, Any] = {"Location": DASHBOARD_KEYS_PAGE}
    if cookie is not None:
        headers["Set-Cookie"] = [cookie]
    return Response(status_code=HTTPStatus.SEE_OTHER, content_type=content_types.TEXT_PLAIN, body="", headers=headers)


def _scopes(value: Any) -> tuple[str, ...]:
    if value is None:
        return auth.DEFAULT_SCOPES
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise InvalidInput("scopes must be a list of strings", details=[{"field": "scopes", "message": "invalid"}])
    return tuple(s.strip() for s in items if s.strip())


@router.post("/api/user/api-keys/generate", summary="Create an API key (the secret is shown once)")
def generate_key() -> Response[str]:
    caller = require_admin(router)
    body = _body()
    name = body.get("name", "default")
    if not isinstance(name, str):
        raise InvalidInput("name must be a string", details=[{"field": "name", "message": "must be a string"}])
    scopes = _scopes(body.get("scopes"))
    created = auth.create_api_key(name=name, scopes=scopes, user_id=caller.user_id, granted_by=caller)
    if _is_form_post():
        cookie_flags = f"Max-Age=120; Path={DASHBOARD_KEYS_PAGE}; HttpOnly; Secure; SameSite=Strict"
        return _redirect(f"{NEW_KEY_COOKIE}={created.secret}; {cookie_flags}")
    record = created.record
    answer = {
        "key": created.secret,
        "id": str(record.id),
        "prefix": record.prefix,
        "name": record.name,
        "scopes": record.scopes,
        "createdAt": record.created_at.isoformat(),
        "message": "Store this key now: it is not shown again.",
    }
    return Response(
        status_code=HTTPStatus.CREATED, content_type=content_types.APPLICATION_JSON, body=json.dumps(answer)
    )


@router.post("/api/user/api-keys/revoke", summary="Revoke one API key (id or prefix), or all of the tenant's keys")
def revoke_key() -> Response[str]:
    require_admin(router)
    body = _body()
    key_id = body.get("id")
    prefix = body.get("prefix")
    try:
        parsed_id = uuid.UUID(str(key_id)) if key_id else None
    except ValueError as exc:
        raise InvalidInput("id must be a UUID", details=[{"field": "id", "message": "must be a UUID"}]) from exc
    if prefix is not None and not isinstance(prefix, str):
        raise InvalidInput("prefix must be a string", details=[{"field": "prefix", "message": "must be a string"}])
    revoked = auth.revoke_api_keys(key_id=parsed_id, prefix=prefix)
    if _is_form_post():
        return _redirect()
    answer = {"success": True, "revoked": [{"id": str(k.id), "prefix": k.prefix} for k in revoked]}
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, json.dumps(answer))


@router.get("/api/user/api-keys", summary="The tenant's active API keys (prefixes only, never secrets)")
def list_keys() -> dict[str, Any]:
    require_admin(router)
    return {
        "keys": [
            {
                "id": str(k.id),
                "name": k.name,
                "prefix": k.prefix,
                "scopes": k.scopes,
                "createdAt": k.created_at.isoformat(),
                "lastUsedAt": k.last_used_at.isoformat() if k.last_used_at else None,
            }
            for k in auth.list_api_keys()
        ]
    }


class SettingsBody(CamelModel):
    daily_generation: bool


@router.put("/api/user/settings", summary="Tenant settings: turn the daily 08:00 UTC generation on or off")
def put_settings(body: SettingsBody) -> dict[str, Any]:
    require_admin(router)
    set_daily_generation(body.daily_generation)
    return {"dailyGeneration": body.daily_generation}

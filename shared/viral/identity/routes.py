"""/api/user: usage and API keys (JSON for API clients, 303 back to the dashboard for its HTML forms)."""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import Field, StringConstraints, field_validator, model_validator

from viral.http.access import require_admin, require_scope
from viral.http.forms import FormOrJson, is_form_post
from viral.http.openapi import answers
from viral.identity import auth
from viral.identity.answers import ApiKeyCreated, ApiKeyList, ApiKeysRevoked, SettingsAnswer, UsageAnswer
from viral.identity.tenants import set_daily_generation
from viral.operations.usage import get_usage
from viral.wire import CamelModel

router = Router()
DASHBOARD_KEYS_PAGE = "/dashboard/api-keys"
# The new key reaches the dashboard's server page once, in a short-lived cookie scoped to that page,
# never in the redirect URL (which would land in logs and browser history).
NEW_KEY_COOKIE = "vd_new_api_key"
FORM_REDIRECT = "the dashboard's HTML form: back to /dashboard/api-keys"
Scope = Literal["read", "write", "generate", "admin"]


@router.get("/api/user/usage", summary="Subscription, quota and tenant", responses=answers(UsageAnswer))
def usage() -> dict[str, Any]:
    require_scope(router, "read")
    return get_usage().wire()


def _redirect(cookie: str | None = None) -> Response[str]:
    headers: dict[str, Any] = {"Location": DASHBOARD_KEYS_PAGE}
    if cookie is not None:
        headers["Set-Cookie"] = [cookie]
    return Response(status_code=HTTPStatus.SEE_OTHER, content_type=content_types.TEXT_PLAIN, body="", headers=headers)


class ApiKeyCreateBody(FormOrJson):
    """A name and scopes (a list, or comma-separated as a form sends them); both optional."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = "default"
    scopes: list[Scope] | None = Field(default=None, min_length=1, max_length=4)

    @field_validator("scopes", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list) and all(isinstance(item, str) for item in items):
            return [part.strip() for item in items for part in item.split(",") if part.strip()]
        return value


class ApiKeyRevokeBody(FormOrJson):
    """Exactly one of: the key's `id`, its `prefix`, or `all: true` (every key of the tenant)."""

    id: uuid.UUID | None = None
    prefix: Annotated[str, StringConstraints(pattern=r"^vd_[A-Za-z0-9_-]{1,16}$")] | None = None
    all: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> ApiKeyRevokeBody:
        if sum((self.id is not None, self.prefix is not None, self.all)) != 1:
            raise ValueError("name one key (id or prefix), or revoke every key with all: true")
        return self


@router.post(
    "/api/user/api-keys/generate",
    summary="Create an API key (the secret is shown once)",
    responses=answers(ApiKeyCreated, status=201, description="Created", redirect=FORM_REDIRECT),
)
def generate_key(body: Annotated[ApiKeyCreateBody | None, Body()] = None) -> Response[str]:
    caller = require_admin(router)
    choices = body or ApiKeyCreateBody()
    scopes = tuple(choices.scopes) if choices.scopes else auth.DEFAULT_SCOPES
    created = auth.create_api_key(name=choices.name, scopes=scopes, user_id=caller.user_id, granted_by=caller)
    if is_form_post(router):
        cookie_flags = f"Max-Age=120; Path={DASHBOARD_KEYS_PAGE}; HttpOnly; Secure; SameSite=Strict"
        return _redirect(f"{NEW_KEY_COOKIE}={created.secret}; {cookie_flags}")
    record = created.record
    answer = ApiKeyCreated(
        key=created.secret,
        id=str(record.id),
        prefix=record.prefix,
        name=record.name,
        scopes=list(record.scopes),
        created_at=record.created_at.isoformat(),
        message="Store this key now: it is not shown again.",
    )
    return Response(HTTPStatus.CREATED, content_types.APPLICATION_JSON, json.dumps(answer.wire()))


@router.post(
    "/api/user/api-keys/revoke",
    summary="Revoke one API key (`id` or `prefix`), or every key of the tenant (`all: true`)",
    responses=answers(ApiKeysRevoked, redirect=FORM_REDIRECT),
)
def revoke_key(body: ApiKeyRevokeBody) -> Response[str]:
    require_admin(router)
    revoked = auth.revoke_api_keys(key_id=body.id, prefix=body.prefix)
    if is_form_post(router):
        return _redirect()
    answer = {"success": True, "revoked": [{"id": str(k.id), "prefix": k.prefix} for k in revoked]}
    return Response(HTTPStatus.OK, content_types.APPLICATION_JSON, json.dumps(answer))


@router.get(
    "/api/user/api-keys",
    summary="The tenant's active API keys (prefixes only, never secrets)",
    responses=answers(ApiKeyList),
)
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


@router.put(
    "/api/user/settings",
    summary="Tenant settings: turn the daily 08:00 UTC generation on or off",
    responses=answers(SettingsAnswer),
)
def put_settings(body: SettingsBody) -> dict[str, Any]:
    require_admin(router)
    set_daily_generation(body.daily_generation)
    return {"dailyGeneration": body.daily_generation}

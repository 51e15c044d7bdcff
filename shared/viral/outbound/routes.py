"""/api/webhook-endpoints: the tenant's outbound webhook endpoints, their signing secrets, tests and attempts."""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import Field

from viral.http.access import require_admin, require_scope
from viral.outbound import endpoints
from viral.outbound.events import Subscribable
from viral.outbound.safety import MAX_URL_LENGTH
from viral.wire import CamelModel, ShortText

router = Router()
WHAT = "webhook endpoints"

EndpointId = Annotated[uuid.UUID, Path(description="the id POST /api/webhook-endpoints returned")]
EventList = Annotated[list[Subscribable], Field(min_length=1, max_length=20)]
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]


class EndpointBody(CamelModel):
    """Where to send (https; `make run` also takes http://127.0.0.1) and which events."""

    url: Url
    events: EventList
    description: ShortText | None = None


class EndpointChanges(CamelModel):
    """Only what is given changes; `enabled: true` re-enables a disabled endpoint."""

    url: Url | None = None
    events: EventList | None = None
    description: ShortText | None = None
    enabled: bool | None = None


def _json(status: HTTPStatus, body: Any) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@router.post("/api/webhook-endpoints", summary="Register a webhook endpoint (its signing secret is shown once)")
def create_endpoint(body: EndpointBody) -> Response[Any]:
    require_admin(router, what=WHAT)
    created = endpoints.create_endpoint(url=body.url, events=list(body.events), description=body.description)
    return _json(HTTPStatus.CREATED, created.wire())


@router.get("/api/webhook-endpoints", summary="The tenant's webhook endpoints (never their secrets)")
def list_endpoints() -> dict[str, Any]:
    require_scope(router, "read")
    return {"endpoints": [endpoints.endpoint_wire(e) for e in endpoints.list_endpoints()]}


@router.get("/api/webhook-endpoints/<endpoint_id>", summary="One webhook endpoint, with its status")
def get_endpoint(endpoint_id: EndpointId) -> dict[str, Any]:
    require_scope(router, "read")
    return endpoints.endpoint_wire(endpoints.get_endpoint(endpoint_id))


@router.patch("/api/webhook-endpoints/<endpoint_id>", summary="Change an endpoint's URL, events, description or state")
def patch_endpoint(endpoint_id: EndpointId, body: EndpointChanges) -> dict[str, Any]:
    require_admin(router, what=WHAT)
    updated = endpoints.update_endpoint(
        endpoint_id,
        url=body.url,
        events=list(body.events) if body.events is not None else None,
        description=body.description,
        enabled=body.enabled,
        clear_description="description" in body.model_fields_set and body.description is None,
    )
    return endpoints.endpoint_wire(updated)


@router.delete("/api/webhook-endpoints/<endpoint_id>", summary="Delete an endpoint (nothing more is sent to it)")
def delete_endpoint(endpoint_id: EndpointId) -> dict[str, Any]:
    require_admin(router, what=WHAT)
    endpoints.delete_endpoint(endpoint_id)
    return {"deleted": True, "id": str(endpoint_id)}


@router.post(
    "/api/webhook-endpoints/<endpoint_id>/rotate-secret",
    summary="A new signing secret (shown once); the old one keeps signing beside it for 24 hours",
)
def rotate_secret(endpoint_id: EndpointId) -> dict[str, Any]:
    require_admin(router, what=WHAT)
    return endpoints.rotate_secret(endpoint_id).wire()


@router.post("/api/webhook-endpoints/<endpoint_id>/test", summary="Send a signed webhook.test event to this endpoint")
def test_endpoint(endpoint_id: EndpointId) -> Response[Any]:
    require_admin(router, what=WHAT)
    event_id = endpoints.send_test_event(endpoint_id)
    return _json(HTTPStatus.ACCEPTED, {"queued": True, "webhookId": endpoints.webhook_id(event_id)})


@router.get(
    "/api/webhook-endpoints/<endpoint_id>/deliveries",
    summary="Recent delivery attempts: status code, duration, error, the answer's first bytes, next retry",
)
def list_deliveries(endpoint_id: EndpointId, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    require_scope(router, "read")
    attempts = endpoints.recent_attempts(endpoint_id, limit=limit)
    return {"attempts": [endpoints.attempt_wire(a) for a in attempts]}

"""/api/reflexion: the learning loop's records, reflect-now, and rollback of the score model."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field

from viral.errors import InvalidInput
from viral.http.access import require_scope
from viral.http.rate_limits import rate_limited
from viral.learning.reflexion import rollback
from viral.learning.views import listing, reflect_now, summary
from viral.vocabulary import Category
from viral.wire import CamelModel

router = Router()


@router.get(
    "/api/reflexion",
    summary="Reflexion summary, critiques, insights, adjustments or model versions",
    middlewares=[rate_limited("reflexion")],
)
def get_reflexion(
    type: Annotated[Literal["summary", "critiques", "insights", "adjustments", "models"], Query()] = "summary",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    category: Annotated[Category | None, Query()] = None,
) -> dict[str, Any]:
    require_scope(router, "read")
    if type == "summary":
        return summary()
    return listing(type, limit=limit, category=category)


@router.post("/api/reflexion", summary="Reflect on one concept's feedback now", middlewares=[rate_limited("reflexion")])
def post_reflexion() -> dict[str, Any]:
    require_scope(router, "write")
    try:
        body = json.loads(router.current_event.decoded_body or "null")
    except json.JSONDecodeError as exc:
        raise InvalidInput("Missing required fields: concept and feedback") from exc
    return reflect_now(body)


class RollbackBody(CamelModel):
    version: int = Field(ge=1, description="the score-model version whose weights become current again")


@router.post("/api/reflexion/rollback", summary="Restore an earlier score-model version (as a new version)")
def post_rollback(body: RollbackBody) -> dict[str, Any]:
    require_scope(router, "write")
    return {"success": True, **rollback(body.version)}

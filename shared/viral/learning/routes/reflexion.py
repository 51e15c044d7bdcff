"""/api/reflexion: the learning loop's records, reflect-now, and rollback of the score model."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import Field

from viral.http.access import require_scope
from viral.http.openapi import answers
from viral.http.rate_limits import rate_limited
from viral.learning.answers import ListKind, ReflexionAnswer, ReflexionBody, ReflexionListing, RollbackAnswer
from viral.learning.reflexion import rollback
from viral.learning.views import listing, reflect_now, summary
from viral.vocabulary import Category
from viral.wire import CamelModel

router = Router()
MAX_LIMIT = 200


@router.get(
    "/api/reflexion",
    summary=f"Reflexion summary, critiques, insights, adjustments or model versions (`limit` capped at {MAX_LIMIT}; "
    "`offset` and `nextOffset` page through critiques and adjustments)",
    middlewares=[rate_limited("reflexion")],
    responses=answers(ReflexionListing),
)
def get_reflexion(
    type: Annotated[ListKind, Query()] = "summary",
    limit: Annotated[int, Query(ge=1, description=f"capped at {MAX_LIMIT}")] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    category: Annotated[Category | None, Query()] = None,
) -> dict[str, Any]:
    require_scope(router, "read")
    if type == "summary":
        return summary()
    limit = min(limit, MAX_LIMIT)
    answer = listing(type, limit=limit, category=category, offset=offset)
    if type in ("critiques", "adjustments"):
        answer["nextOffset"] = offset + limit if len(answer[type]) == limit else None
    return answer


@router.post(
    "/api/reflexion",
    summary="Reflect on one concept's feedback now",
    middlewares=[rate_limited("reflexion")],
    responses=answers(ReflexionAnswer),
)
def post_reflexion(body: ReflexionBody) -> dict[str, Any]:
    require_scope(router, "write")
    return reflect_now(body.model_dump(mode="json", by_alias=True, exclude_unset=True))


class RollbackBody(CamelModel):
    version: int = Field(ge=1, le=2**31 - 1, description="the score-model version whose weights become current again")


@router.post(
    "/api/reflexion/rollback",
    summary="Restore an earlier score-model version (as a new version)",
    responses=answers(RollbackAnswer),
)
def post_rollback(body: RollbackBody) -> dict[str, Any]:
    require_scope(router, "write")
    return {"success": True, **rollback(body.version)}

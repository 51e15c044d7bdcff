"""/api/history and /api/user/concepts: the tenant's generations (the original's client-side history, made real)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from viral.content import storage
from viral.content.answers import DeletedGeneration, GenerationPage, SavedGeneration
from viral.content.schemas import Generation
from viral.http.access import require_scope
from viral.http.openapi import answers
from viral.wire import ContentId

router = Router()

# The original had no cap (it answered every generation at once); a larger `limit` is clamped, not refused.
Limit = Annotated[int, Query(ge=1, description=f"page size, capped at {storage.MAX_PAGE}")]
Offset = Annotated[int, Query(ge=0, description="rows to skip: the previous answer's `nextOffset`")]


def _page(limit: int, offset: int) -> dict[str, Any]:
    limit = min(limit, storage.MAX_PAGE)
    generations = storage.get_generations(limit=limit, offset=offset)
    total = storage.count_generations()
    return {
        "generations": [g.wire() for g in generations],
        "total": total,
        "limit": limit,
        "offset": offset,
        "nextOffset": offset + limit if offset + limit < total else None,
    }


@router.get(
    "/api/history",
    summary=f"List the tenant's generations, newest first (pages of up to {storage.MAX_PAGE})",
    responses=answers(GenerationPage),
)
def list_history(limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    require_scope(router, "read")
    return _page(limit, offset)


@router.post(
    "/api/history",
    summary="Save (insert or replace) a generation with its concepts",
    responses=answers(SavedGeneration),
)
def save_history(generation: Generation) -> dict[str, Any]:
    require_scope(router, "write")
    saved = storage.save_generation(generation)
    return {"success": True, "id": saved.id}


@router.delete("/api/history", summary="Delete a generation by id", responses=answers(DeletedGeneration))
def delete_history(id: Annotated[ContentId, Query()]) -> dict[str, Any]:
    require_scope(router, "write")
    storage.delete_generation(id)
    return {"success": True, "deletedId": id}


@router.get(
    "/api/user/concepts",
    summary=f"The tenant's generations with their concepts (pages of up to {storage.MAX_PAGE})",
    responses=answers(GenerationPage),
)
def user_concepts(limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    require_scope(router, "read")
    return _page(limit, offset)

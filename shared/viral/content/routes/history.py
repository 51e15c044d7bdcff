"""/api/history and /api/user/concepts: the tenant's generations (the original's client-side history, made real)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from viral.content import storage
from viral.content.schemas import Generation
from viral.errors import InvalidInput
from viral.http.access import require_scope

router = Router()

Limit = Annotated[int, Query(ge=1, le=storage.MAX_PAGE, description="page size")]
Offset = Annotated[int, Query(ge=0, description="rows to skip")]


def _page(limit: int, offset: int) -> dict[str, Any]:
    generations = storage.get_generations(limit=limit, offset=offset)
    return {
        "generations": [g.wire() for g in generations],
        "total": storage.count_generations(),
        "limit": limit,
        "offset": offset,
    }


@router.get("/api/history", summary="List the tenant's generations, newest first")
def list_history(limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    require_scope(router, "read")
    return _page(limit, offset)


@router.post("/api/history", summary="Save (insert or replace) a generation with its concepts")
def save_history(generation: Generation) -> dict[str, Any]:
    require_scope(router, "write")
    saved = storage.save_generation(generation)
    return {"success": True, "id": saved.id}


@router.delete("/api/history", summary="Delete a generation by id")
def delete_history(id: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
    require_scope(router, "write")
    if not id:
        raise InvalidInput("ID is required")
    storage.delete_generation(id)
    return {"success": True, "deletedId": id}


@router.get("/api/user/concepts", summary="The tenant's generations with their concepts")
def user_concepts(limit: Annotated[int, Query(ge=1, le=storage.MAX_PAGE)] = 100, offset: Offset = 0) -> dict[str, Any]:
    require_scope(router, "read")
    page = _page(limit, offset)
    return {"total": page["total"], "generations": page["generations"], "limit": limit, "offset": offset}

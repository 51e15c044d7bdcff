"""New generation routes: one generation, favourites and search (GET /api/analytics is analytics' own)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from viral.content import storage
from viral.content.answers import FavoriteAnswer, SearchAnswer
from viral.content.schemas import Generation
from viral.errors import NotFound
from viral.http.access import require_scope
from viral.http.openapi import answers
from viral.wire import ContentId

router = Router()

GenerationId = Annotated[ContentId, Path()]


@router.get(
    "/api/generations/<generation_id>",
    summary="One generation with its concepts and trends",
    responses=answers(Generation),
)
def get_generation(generation_id: GenerationId) -> dict[str, Any]:
    require_scope(router, "read")
    generation = storage.get_generation(generation_id)
    if generation is None:
        raise NotFound("Generation not found")
    return generation.wire()


@router.post(
    "/api/generations/<generation_id>/favorite",
    summary="Toggle a generation's favourite flag",
    responses=answers(FavoriteAnswer),
)
def toggle_favorite(generation_id: GenerationId) -> dict[str, Any]:
    require_scope(router, "write")
    return {"id": generation_id, "isFavorite": storage.toggle_favorite(generation_id)}


@router.get(
    "/api/search",
    summary="Search generations by concept title, caption, hashtags, trend source or topic",
    responses=answers(SearchAnswer),
)
def search(
    q: Annotated[str, Query(min_length=1, max_length=storage.MAX_QUERY_LENGTH)],
    limit: Annotated[int, Query(ge=1, le=storage.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    require_scope(router, "read")
    results = storage.search_generations(q, limit=limit)
    return {"query": q, "count": len(results), "results": [g.wire() for g in results]}

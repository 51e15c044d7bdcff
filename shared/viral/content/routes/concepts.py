"""/api/generate and /api/trends: the concept engine."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import Field, field_validator

from viral.content.answers import GenerateAnswer, TrendsAnswer
from viral.content.concepts import DEFAULT_CONCEPTS, MAX_CONCEPTS, ConceptRequest
from viral.content.generation import generate
from viral.content.scoring import PLATFORMS
from viral.content.trends import current_trends, refresh_shared_trends, trends_answer
from viral.http.access import require_scope
from viral.http.openapi import answers
from viral.http.rate_limits import rate_limited
from viral.vocabulary import Category, Platform
from viral.wire import CamelModel

router = Router()


class GenerateBody(CamelModel):
    """Optional choices; with no body the call makes 6 concepts (`count` up to 36) across every category."""

    categories: list[Category] | None = Field(default=None, min_length=1, max_length=12)
    platforms: list[Platform] | None = Field(default=None, min_length=1, max_length=3)
    count: int | None = Field(default=None, ge=1, le=MAX_CONCEPTS)

    @field_validator("categories", "platforms")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("values must be unique")
        return value


@router.post(
    "/api/generate",
    summary="Generate viral concepts from current trends (uses quota)",
    middlewares=[rate_limited("generate")],
    responses=answers(GenerateAnswer),
)
def post_generate(body: Annotated[GenerateBody | None, Body()] = None) -> dict[str, Any]:
    require_scope(router, "generate")
    choices = body or GenerateBody()
    request = ConceptRequest(
        count=choices.count or DEFAULT_CONCEPTS,
        categories=frozenset(choices.categories) if choices.categories else None,
        platforms=tuple(choices.platforms or PLATFORMS),
    )
    return generate(request).wire()


@router.get(
    "/api/trends",
    summary="Current trends with their potential labels",
    middlewares=[rate_limited("trends")],
    responses=answers(TrendsAnswer),
)
def get_trends() -> dict[str, Any]:
    require_scope(router, "read")
    trends, fetched_at = current_trends()
    return trends_answer(trends, fetched_at)


@router.post(
    "/api/trends",
    summary="Gather trends now, replacing the cached ones (at most once a minute across all tenants: "
    "`refreshed: false` answers the trends gathered just before)",
    middlewares=[rate_limited("trends")],
    responses=answers(TrendsAnswer),
)
def post_trends() -> dict[str, Any]:
    require_scope(router, "generate")
    refresh = refresh_shared_trends()
    return trends_answer(refresh.trends, refresh.fetched_at, refreshed=refresh.refreshed)

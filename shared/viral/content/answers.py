"""What the content routes answer: generations, trends and pages of them, as the original's types name them."""

from __future__ import annotations

from pydantic import Field

from viral.content.schemas import Generation, TrendData
from viral.wire import CamelModel


class QuotaReportAnswer(CamelModel):
    used: int
    total: int
    remaining: int
    requested: int
    granted: int
    limited: bool = Field(description="true when the quota allowed fewer concepts than asked for")


class GenerateAnswer(Generation):
    """The Generation at top level, as the original answered, plus what the call took from the quota."""

    quota: QuotaReportAnswer


class TrendAnswer(TrendData):
    potential_label: str


class TrendsAnswer(CamelModel):
    trends: list[TrendAnswer]
    fetched_at: str
    refreshed: bool | None = None


class GenerationPage(CamelModel):
    generations: list[Generation]
    total: int
    limit: int
    offset: int
    next_offset: int | None = Field(default=None, description="pass as `offset` for the next page; null at the end")


class SavedGeneration(CamelModel):
    success: bool
    id: str


class DeletedGeneration(CamelModel):
    success: bool
    deleted_id: str


class FavoriteAnswer(CamelModel):
    id: str
    is_favorite: bool


class SearchAnswer(CamelModel):
    query: str
    count: int
    results: list[Generation]

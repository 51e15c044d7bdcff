"""The original app's storage API for generations, in Python: same names and meaning, in the current tenant scope.

Each function joins the caller's unit of work when one is open (so a service can combine several in one
transaction) or opens its own for the tenant bound to this context. With no tenant bound they raise
TenantScopeMissing. Unlike the original, save_generation does not touch the quota.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from viral.content.repository import GenerationRepository, StoredGeneration
from viral.content.schemas import AnalyticsData, Generation
from viral.db.uow import unit_of_work
from viral.errors import InvalidInput, NotFound

MAX_PAGE = 500
MAX_QUERY_LENGTH = 200


def validated(model: type[Any], value: Any) -> Any:
    """Accept a model instance or its JSON-shaped dict; anything else is InvalidInput with field details."""
    if isinstance(value, model):
        return value
    try:
        return TypeAdapter(model).validate_python(value)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput(f"invalid {model.__name__}", details=details) from exc


def page_bounds(limit: int, offset: int = 0) -> tuple[int, int]:
    if not (isinstance(limit, int) and 1 <= limit <= MAX_PAGE) or not (isinstance(offset, int) and offset >= 0):
        raise InvalidInput(f"limit must be 1..{MAX_PAGE} and offset >= 0")
    return limit, offset


def checked_content_id(value: Any, name: str = "id") -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise InvalidInput(f"{name} must be a string of 1 to 64 characters")
    return value


# --- generations -----------------------------------------------------------------------------------------


def save_generation(generation: Generation | dict[str, Any]) -> Generation:
    """Insert or replace a generation with its concepts (no quota side effect)."""
    model: Generation = validated(Generation, generation)
    with unit_of_work() as uow:
        uow.repository(GenerationRepository).upsert(model)
    return model


def get_generations(*, limit: int = 50, offset: int = 0) -> list[StoredGeneration]:
    """The tenant's generations, newest first (as stored: validated when written, not again on read)."""
    limit, offset = page_bounds(limit, offset)
    with unit_of_work() as uow:
        return uow.repository(GenerationRepository).newest(limit=limit, offset=offset)


def count_generations() -> int:
    with unit_of_work() as uow:
        return uow.repository(GenerationRepository).count()


def get_generation(generation_id: str) -> StoredGeneration | None:
    with unit_of_work() as uow:
        return uow.repository(GenerationRepository).get(checked_content_id(generation_id))


def delete_generation(generation_id: str) -> None:
    """Delete a generation and its concepts; NotFound when the tenant has no such generation."""
    with unit_of_work() as uow:
        if not uow.repository(GenerationRepository).delete(checked_content_id(generation_id)):
            raise NotFound("generation not found")


def toggle_favorite(generation_id: str) -> bool:
    """Flip the favourite flag; the new value."""
    with unit_of_work() as uow:
        value = uow.repository(GenerationRepository).toggle_favorite(checked_content_id(generation_id))
    if value is None:
        raise NotFound("generation not found")
    return value


def get_favorites(*, limit: int = 50, offset: int = 0) -> list[StoredGeneration]:
    limit, offset = page_bounds(limit, offset)
    with unit_of_work() as uow:
        return uow.repository(GenerationRepository).newest(limit=limit, offset=offset, favorites_only=True)


def search_generations(query: str, *, limit: int = 50) -> list[StoredGeneration]:
    """Generations whose concepts (title, caption, hashtags, trend source) or trend topics contain `query`."""
    if not isinstance(query, str) or not query.strip() or len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"the search query must be 1 to {MAX_QUERY_LENGTH} characters")
    limit, _ = page_bounds(limit)
    with unit_of_work() as uow:
        return uow.repository(GenerationRepository).search(query.strip(), limit=limit)


def get_generations_by_date_range(start: datetime, end: datetime, *, limit: int = MAX_PAGE) -> list[StoredGeneration]:
    if not isinstance(start, datetime) or not isinstance(end, datetime) or start > end:
        raise InvalidInput("start and end must be datetimes with start <= end")
    limit, _ = page_bounds(limit)
    with unit_of_work() as uow:
        return uow.repository(GenerationRepository).newest(limit=limit, start=start, end=end)


def get_analytics_data() -> AnalyticsData:
    with unit_of_work() as uow:
        return uow.repository(GenerationRepository).analytics()

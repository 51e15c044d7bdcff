"""What a route declares about its answers in the OpenAPI document. The error answers every route shares are added
once, by the API's document builder; a route declares its success model (and its form redirect, if it has one)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """Every error answer: a message for people, a stable code for programs, and details where there are some."""

    model_config = ConfigDict(title="Error")

    error: str = Field(description="what went wrong, for people")
    code: str = Field(description="a stable, machine-readable code, e.g. VALIDATION_FAILED or QUOTA_EXCEEDED")
    details: Any = Field(default=None, description="field errors ([{field, message}]) or more context")


def answers(
    model: type[BaseModel] | Any, *, status: int = 200, description: str = "OK", redirect: str | None = None
) -> dict[int, Any]:
    """The `responses` of a route answering `model` as JSON; `redirect` documents the 303 a dashboard form gets."""
    responses: dict[int, Any] = {
        status: {"description": description, "content": {"application/json": {"model": model}}},
    }
    if redirect is not None:
        responses[303] = {
            "description": redirect,
            "headers": {"Location": {"description": "where the browser goes next", "schema": {"type": "string"}}},
        }
    return responses

"""Requests from the dashboard's HTML forms as well as from API clients: which kind, and their fields."""

from __future__ import annotations

from typing import Any, get_origin

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import model_validator

from viral.wire import CamelModel


def _headers(router: Router) -> dict[str, str]:
    return {k.lower(): v for k, v in (router.current_event.headers or {}).items()}


def is_form_post(router: Router) -> bool:
    """A browser form post (answered with a 303 redirect), not an API client (answered with JSON)."""
    headers = _headers(router)
    content_type = headers.get("content-type", "")
    return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")) or (
        "text/html" in headers.get("accept", "") and "application/json" not in content_type
    )


class FormOrJson(CamelModel):
    """A body the dashboard's HTML forms post (urlencoded or multipart) and API clients send as JSON, through one
    model: a form field arrives as the list of its values, so a field that holds one value takes the last."""

    @model_validator(mode="before")
    @classmethod
    def _one_value_per_form_field(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        single = {
            name
            for field_name, field in cls.model_fields.items()
            for name in (field_name, field.alias)
            if name and get_origin(field.annotation) is not list and "list[" not in str(field.annotation)
        }
        return {k: (v[-1] if k in single and isinstance(v, list) and v else v) for k, v in value.items()}

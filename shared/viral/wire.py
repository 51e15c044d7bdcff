"""The base model every wire-facing schema shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

ContentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")]
"""An id from the original app or ours: 1 to 64 characters of letters, digits and `_ . : -`."""

ShortText = Annotated[str, StringConstraints(max_length=500)]
LongText = Annotated[str, StringConstraints(max_length=10_000)]


class CamelModel(BaseModel):
    """camelCase aliases on the wire (the dashboard reads them), snake_case names in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, allow_inf_nan=False
    )

    def wire(self) -> dict[str, object]:
        """The JSON-ready dict the dashboard reads: camelCase keys; fields never set are left out, while an
        explicit null (the original's `onScreenText: null`) is kept, so stored data round-trips exactly."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

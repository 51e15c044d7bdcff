"""generation-jobs: one concept generation for one tenant."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from viral.wire import CamelModel


class GenerationJobMessage(CamelModel):
    schema_version: Literal[1] = 1
    job_id: uuid.UUID
    tenant_id: uuid.UUID
    trigger: Literal["daily", "api"] = "daily"
    for_date: date
    count: int | None = Field(default=None, ge=1, le=36)

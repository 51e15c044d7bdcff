"""webhook-deliveries: fan a tenant's new events out to its endpoints, and make one attempt of one delivery."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from viral.wire import CamelModel


class DispatchMessage(CamelModel):
    """Fan out this tenant's undispatched events, and re-send its deliveries that are due and not in flight."""

    schema_version: Literal[1] = 1
    kind: Literal["dispatch"] = "dispatch"
    tenant_id: uuid.UUID


class DeliverMessage(CamelModel):
    """Attempt number `attempt` of one delivery: an older or duplicate message (the attempt was made) is dropped."""

    schema_version: Literal[1] = 1
    kind: Literal["deliver"] = "deliver"
    tenant_id: uuid.UUID
    delivery_id: uuid.UUID
    attempt: int = Field(ge=1, le=1000)


WebhookMessage = Annotated[DispatchMessage | DeliverMessage, Field(discriminator="kind")]

"""The JSON body of a verified webhook delivery, read only when its event type is one we handle."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from viral.errors import InvalidInput


def allowed_event(payload: bytes, allowed: frozenset[str]) -> dict[str, Any] | None:
    """The event object, or None when its `type` is not in `allowed` (acknowledged and ignored by the caller).

    Call it after the signature check: the body is trusted to come from the sender, not to be well formed.
    """
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("the body is not JSON") from exc
    if not isinstance(event, dict) or event.get("type") not in allowed:
        return None
    return event


@dataclass(frozen=True)
class WebhookReceipt:
    """What a webhook function answers the sender (always 2xx once verified): the outcome, never internals."""

    status: Literal["queued", "duplicate", "ignored", "processed"]
    event_id: str | None = None

    def wire(self) -> dict[str, Any]:
        return {"received": True, "status": self.status}

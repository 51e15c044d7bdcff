"""CloudFormation custom resources: run the work, then answer CloudFormation at the request's ResponseURL.

CloudFormation waits for that answer (up to the resource's ServiceTimeout), so every request is answered exactly
once: SUCCESS, FAILED with a short reason, or FAILED just before the function would time out.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

# Answer this long before the function's own timeout, so a slow run still fails the deploy cleanly.
TIMEOUT_MARGIN_S = 10.0
REASON_LIMIT = 1000  # CloudFormation shows the reason in the stack's events; the whole answer must stay small


class Context(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def is_custom_resource_request(event: Mapping[str, Any]) -> bool:
    """True for a CloudFormation custom resource request (not a direct invocation)."""
    return isinstance(event.get("RequestType"), str) and isinstance(event.get("ResponseURL"), str)


def send_response(
    event: Mapping[str, Any],
    status: str,
    *,
    physical_id: str,
    reason: str = "",
    data: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> None:
    """PUT the answer to the pre-signed ResponseURL (an S3 URL signed without a content type)."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": (reason or status)[:REASON_LIMIT],
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": dict(data or {}),
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (CloudFormation's https URL; tests use a local http one)
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
        answer.read()


class _Once:
    """Sends at most one answer, whichever of the work and the timeout guard comes first."""

    def __init__(self, event: Mapping[str, Any], physical_id: str) -> None:
        self.event, self.physical_id = event, physical_id
        self._lock = threading.Lock()
        self._sent = False

    def send(self, status: str, reason: str = "", data: Mapping[str, str] | None = None) -> bool:
        with self._lock:
            if self._sent:
                return False
            self._sent = True
        send_response(self.event, status, physical_id=self.physical_id, reason=reason, data=data)
        return True


def handle(
    event: Mapping[str, Any],
    context: Context,
    work: Callable[[], Mapping[str, str]],
    *,
    physical_id: str,
    on_error: Callable[[Exception], str],
) -> str:
    """Answer one custom resource request: Create and Update run `work` (its mapping becomes the resource's
    attributes); Delete does nothing. A raised error answers FAILED with `on_error(error)` as the reason.
    Returns the status sent."""
    physical_id = str(event.get("PhysicalResourceId") or physical_id)
    answer = _Once(event, physical_id)
    if event["RequestType"] == "Delete":
        answer.send("SUCCESS", "nothing to undo")
        return "SUCCESS"
    guard_s = max(0.0, context.get_remaining_time_in_millis() / 1000 - TIMEOUT_MARGIN_S)
    guard = threading.Timer(guard_s, answer.send, args=("FAILED", "timed out before finishing"))
    guard.daemon = True
    guard.start()
    try:
        data = work()
    except Exception as error:
        answer.send("FAILED", on_error(error))
        return "FAILED"
    finally:
        guard.cancel()
    return "SUCCESS" if answer.send("SUCCESS", data=data) else "FAILED"

"""What production brings, injected into a simulated run at set moments, and how each is known to be recovered.

Each fault is injected once, on its day and hour, through the same doors production uses: the video vendor's
and the platform's answers, the platform's tokens, the function's process, and the queue's delivery. A fault
counts as recovered when the system ended where it would have without it (checked at the end of the run,
`Faults.recovered`): the video was made once, the post went out once, the accounts stayed connected, the
queues' dead-letter queues are empty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from local.simulation.stack import SimulatedCrash

log = logging.getLogger("local.simulation")

# (name, day, hour): when each fault is injected; the days leave time to see each recovery within the run.
PLAN: tuple[tuple[str, int, int], ...] = (
    ("vendor-5xx-after-accept", 1, 8),
    ("platform-429", 2, 8),
    ("token-expired", 3, 7),
    ("worker-killed", 4, 8),
    ("duplicate-delivery", 5, 8),
)


@dataclass
class Faults:
    """The faults of a run: which were injected (and where), kept in the run's saved state."""

    enabled: bool
    injected: dict[str, dict[str, Any]] = field(default_factory=dict)
    armed: set[str] = field(default_factory=set)

    def due(self, day: int, hour: int) -> list[str]:
        if not self.enabled:
            return []
        return [name for name, d, h in PLAN if (d, h) <= (day, hour) and name not in self.injected]

    def record(self, name: str, **detail: Any) -> None:
        self.injected[name] = detail
        log.info("fault injected: %s %s", name, detail)

    # --- the video vendor ----------------------------------------------------------------------------------

    def vendor_lost_answer(self, vendor: Any) -> None:
        """The vendor accepts its next job, then answers a gateway's 504 (the caller cannot know it was billed)."""
        from local.fakes.video_vendors import GATEWAY_TIMEOUT

        vendor.lost_answers.append(GATEWAY_TIMEOUT)
        self.record("vendor-5xx-after-accept", vendor="luma", answer=504, jobsBefore=len(vendor.jobs))

    # --- the platform --------------------------------------------------------------------------------------

    def platform_429(self, network: Any) -> None:
        """The sandbox refuses the next upload start with a 429 and a Retry-After."""
        answer = httpx.Response(
            429,
            headers={"Retry-After": "120"},
            json={"error": {"code": "rate_limit_exceeded", "message": "Too many requests"}},
        )
        network.fail_next("POST /v1/uploads", answer)
        self.record("platform-429", route="POST /v1/uploads", retryAfterS=120)

    def token_expired(self, network: Any) -> None:
        """Every access token dies at once (the refresh tokens still work, and rotate when used)."""
        network.expire_access_tokens()
        self.record("token-expired", accounts=len({u for u, _ in network.access_tokens.values()}))

    def arm_worker_kill(self, network: Any) -> None:
        """The post worker's process dies in the middle of its next media transfer (a chunk sent, no answer)."""
        self.armed.add("worker-killed")

        def interceptor(request: httpx.Request) -> None:
            if "worker-killed" in self.armed and request.method == "PUT" and "/v1/uploads/" in request.url.path:
                self.armed.discard("worker-killed")
                self.record("worker-killed", route="PUT /v1/uploads/{id}")
                raise SimulatedCrash("the post worker was killed mid-upload")

        network.interceptor = interceptor

    # --- the queues ----------------------------------------------------------------------------------------

    def arm_duplicate(self) -> None:
        self.armed.add("duplicate-delivery")

    def delivery_hook(self, queue: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """With a duplicate armed, the next batch of post jobs is delivered twice (SQS's at-least-once)."""
        if "duplicate-delivery" in self.armed and queue.endswith("post-jobs"):
            self.armed.discard("duplicate-delivery")
            self.record("duplicate-delivery", queue=queue, messages=len(messages))
            return list(messages)
        return None

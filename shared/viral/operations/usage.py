"""The tenant's plan usage, per-tenant rate limits, and API usage records (batched off the request path)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from viral.billing.plans import API_RATE_WINDOW_S, PLANS, plan_for

# The original's limit, 10 requests per 10 s on generate, trends, feedback and reflexion; per tenant, by plan.
from viral.billing.repository import BillingRepository
from viral.db.uow import system_unit_of_work, unit_of_work
from viral.db.usage_rows import INSERT_ROWS, as_json, pending_usage_rows
from viral.errors import NotFound
from viral.observability import logger
from viral.operations.repository import RateLimitRepository

RATE_WINDOW_S = API_RATE_WINDOW_S
RATE_LIMITS: dict[str, int] = {tier: plan.api_requests_per_window for tier, plan in PLANS.items()}


@dataclass(frozen=True)
class Usage:
    tier: str
    status: str
    total: int
    used: int
    reset_at: datetime
    tenant_id: uuid.UUID
    period_start: datetime | None = None
    billing_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    videos_total: int = 0
    videos_used: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.used)

    def wire(self) -> dict[str, Any]:
        """The original's shape (percentage stays a one-decimal string, as the dashboard read it)."""
        percentage = 0.0 if self.total <= 0 else self.used / self.total * 100
        return {
            "subscription": {
                "tier": self.tier,
                "status": self.status,
                "cancelAtPeriodEnd": self.cancel_at_period_end,
            },
            "quota": {
                "total": self.total,
                "used": self.used,
                "remaining": self.remaining,
                "percentage": f"{percentage:.1f}",
                "resetAt": self.reset_at.isoformat(),
            },
            "tenant": {"id": str(self.tenant_id)},
            "videos": {
                "total": self.videos_total,
                "used": self.videos_used,
                "remaining": max(0, self.videos_total - self.videos_used),
            },
            "plan": plan_for(self.tier).wire(),
            # The quota period: Stripe's billing period for a paying tenant, else a monthly one.
            "period": {
                "start": self.period_start.isoformat() if self.period_start else None,
                "end": self.reset_at.isoformat(),
                "source": "stripe" if self.billing_period_end is not None else "monthly",
            },
        }


def get_usage() -> Usage:
    with unit_of_work() as uow:
        tenant = uow.repository(BillingRepository).state()
    if tenant is None:
        raise NotFound("tenant not found")
    return Usage(
        tier=tenant.tier,
        status=tenant.status,
        total=tenant.monthly_quota,
        used=tenant.used_quota,
        reset_at=tenant.quota_reset_at,
        tenant_id=tenant.tenant_id,
        period_start=tenant.quota_period_start,
        billing_period_end=tenant.billing_period_end,
        cancel_at_period_end=tenant.cancel_at_period_end,
        # As the video service counts it: the larger of the plan's allowance and the tenant's own.
        videos_total=max(plan_for(tenant.tier).videos_per_month, tenant.monthly_video_quota),
        videos_used=tenant.used_video_quota,
    )


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: datetime

    bucket: str = ""
    window_start: datetime | None = None

    @property
    def retry_after_s(self) -> int:
        return max(1, int((self.reset_at - datetime.now(UTC)).total_seconds() + 0.999))

    def refund(self) -> None:
        """Uncount this request (it was refused for a reason that is not the tenant's traffic, e.g. a scope)."""
        if self.window_start is None:
            return
        with unit_of_work() as uow:
            uow.repository(RateLimitRepository).refund(self.bucket, window_start=self.window_start)

    def headers(self) -> dict[str, str]:
        """X-RateLimit-* as the original sent them (reset in epoch milliseconds)."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(self.reset_at.timestamp() * 1000)),
        }


def hit_rate_limit(bucket: str) -> RateLimitDecision:
    """Count this request against the tenant's window for `bucket`, atomically in one statement."""
    # Its own short transaction, committed before the route runs (the route may call vendors and send messages),
    # in one statement: the hit binds the tenant itself.
    with unit_of_work(bind=False) as uow:
        state = uow.repository(RateLimitRepository).hit(bucket, window_seconds=RATE_WINDOW_S)
    limit = RATE_LIMITS.get(state.tier, RATE_LIMITS["FREE"])
    return RateLimitDecision(
        allowed=state.count <= limit,
        limit=limit,
        remaining=max(0, limit - state.count),
        reset_at=state.window_start + timedelta(seconds=RATE_WINDOW_S),
        bucket=bucket,
        window_start=state.window_start,
    )


class UsageRecorder:
    """Records API usage off the request path.

    Each row waits for its tenant's next transaction, whose bind statement writes it (no extra round trip).
    Rows of tenants that do not come back within `max_age_s`, or more than `max_rows` waiting in all, are written
    by one batched insert on the system path. Rows still waiting when an execution environment is reclaimed are
    lost: acceptable for usage analytics, never used for billing.
    """

    def __init__(self, *, max_rows: int = 200, max_age_s: float = 60.0) -> None:
        self.max_rows = max_rows
        self.max_age_s = max_age_s

    def record(
        self,
        *,
        tenant_id: uuid.UUID,
        api_key_id: uuid.UUID | None,
        endpoint: str,
        method: str,
        status_code: int,
        response_time_ms: int,
    ) -> None:
        pending_usage_rows.add(
            tenant_id,
            {
                "api_key_id": api_key_id,
                "endpoint": endpoint[:255],
                "method": method[:8],
                "status_code": status_code,
                "response_time": response_time_ms,
                "timestamp": datetime.now(UTC),
            },
        )
        if pending_usage_rows.size() >= self.max_rows or pending_usage_rows.oldest_age_s() >= self.max_age_s:
            self.flush()

    def flush(self) -> int:
        """Write every waiting row now (one statement on the system path); the number written."""
        taken = pending_usage_rows.take_all()
        if not taken:
            return 0
        rows = [{**row, "tenant_id": tenant} for tenant, row in taken]
        try:
            with system_unit_of_work() as system:
                system.session.execute(INSERT_ROWS, {"rows": as_json(rows)})
        except Exception:  # usage analytics must never fail a request: the rows wait for the next chance
            logger.warning("api usage rows not written yet", extra={"rows": len(rows)}, exc_info=True)
            if pending_usage_rows.size() + len(taken) <= self.max_rows * 10:  # bounded while the database is down
                for tenant, row in taken:
                    pending_usage_rows.give_back(tenant, [row])
            return 0
        return len(rows)


usage_recorder = UsageRecorder()

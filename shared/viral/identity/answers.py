"""What /api/user answers: usage in the original's shape, API keys, settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from viral.wire import CamelModel


class Subscription(CamelModel):
    tier: Literal["FREE", "STARTER", "PRO", "AGENCY"]
    status: str
    cancel_at_period_end: bool


class Quota(CamelModel):
    total: int
    used: int
    remaining: int
    percentage: str = Field(description="one decimal, a string as the original answered it, e.g. '40.0'")
    reset_at: str


class TenantRef(CamelModel):
    id: str


class VideoQuota(CamelModel):
    total: int
    used: int
    remaining: int


class ApiRateLimit(CamelModel):
    requests: int
    window_seconds: int


class PlanLimits(CamelModel):
    concepts_per_month: int
    videos_per_month: int
    posts_per_month: int
    social_accounts: int
    api_rate_limit: ApiRateLimit


class PlanAnswer(CamelModel):
    tier: str
    name: str
    limits: PlanLimits


class Period(CamelModel):
    start: str | None
    end: str
    source: Literal["stripe", "monthly"]


class UsageAnswer(CamelModel):
    subscription: Subscription
    quota: Quota
    tenant: TenantRef
    videos: VideoQuota
    plan: PlanAnswer
    period: Period


class ApiKeyCreated(CamelModel):
    key: str = Field(description="the secret: shown this once, never again")
    id: str
    prefix: str
    name: str
    scopes: list[str]
    created_at: str
    message: str


class RevokedKey(CamelModel):
    id: str
    prefix: str


class ApiKeysRevoked(CamelModel):
    success: bool
    revoked: list[RevokedKey]


class ApiKeyInfo(CamelModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: str
    last_used_at: str | None


class ApiKeyList(CamelModel):
    keys: list[ApiKeyInfo]


class SettingsAnswer(CamelModel):
    daily_generation: bool

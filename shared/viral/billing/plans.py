"""The plans a tenant can be on, with their monthly quotas: defined once, mapped to Stripe prices by settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from viral.settings import Settings

Tier = Literal["FREE", "STARTER", "PRO", "AGENCY"]
PAID_TIERS: tuple[Tier, ...] = ("STARTER", "PRO", "AGENCY")
API_RATE_WINDOW_S = 10
"""The API rate limit counts requests per window of this many seconds (the original: 10 per 10 s)."""


@dataclass(frozen=True)
class Plan:
    """One plan's monthly allowances; `concepts_per_month` becomes tenants.monthly_quota."""

    tier: Tier
    name: str
    concepts_per_month: int
    videos_per_month: int
    posts_per_month: int
    social_accounts: int
    api_requests_per_window: int
    webhook_endpoints: int = 1

    def wire(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "name": self.name,
            "limits": {
                "conceptsPerMonth": self.concepts_per_month,
                "videosPerMonth": self.videos_per_month,
                "postsPerMonth": self.posts_per_month,
                "socialAccounts": self.social_accounts,
                "apiRateLimit": {"requests": self.api_requests_per_window, "windowSeconds": API_RATE_WINDOW_S},
                "webhookEndpoints": self.webhook_endpoints,
            },
        }


# Concept quotas keep the original's FREE 10, PRO 50 and AGENCY 500; its STARTER also had 10 (the same as FREE,
# a listed defect), so STARTER sits between FREE and PRO here.
PLANS: dict[str, Plan] = {
    "FREE": Plan("FREE", "Free", 10, 3, 10, 1, 10, webhook_endpoints=1),
    "STARTER": Plan("STARTER", "Starter", 25, 20, 60, 3, 10, webhook_endpoints=3),
    "PRO": Plan("PRO", "Pro", 50, 100, 300, 10, 30, webhook_endpoints=10),
    "AGENCY": Plan("AGENCY", "Agency", 500, 500, 1500, 50, 100, webhook_endpoints=50),
}


# The video providers a client may pick itself (`provider` of POST /api/video/generate), by plan and by the tier of
# the concept's category. Cheapest first: storyboard (free), luma, veo, runway (the costliest per second). Without a
# pick the tier's provider chain applies, fallbacks included: that is the operator's choice, not the client's.
_EVERY_PROVIDER = ("storyboard", "luma", "veo", "runway")
VIDEO_PICKS: dict[str, dict[str, tuple[str, ...]]] = {
    "FREE": {"economy": ("storyboard",), "standard": ("storyboard",), "premium": ("storyboard",)},
    "STARTER": {
        "economy": ("storyboard", "luma"),
        "standard": ("storyboard", "luma"),
        "premium": ("storyboard", "luma", "veo"),
    },
    "PRO": {
        "economy": ("storyboard", "luma"),
        "standard": ("storyboard", "luma", "veo"),
        "premium": _EVERY_PROVIDER,
    },
    "AGENCY": {"economy": _EVERY_PROVIDER, "standard": _EVERY_PROVIDER, "premium": _EVERY_PROVIDER},
}


def video_picks(tier: str, category_tier: str) -> tuple[str, ...]:
    """The providers a tenant on `tier` may pick for a concept of `category_tier` (unknown: FREE's, fails closed)."""
    picks = VIDEO_PICKS.get(tier, VIDEO_PICKS["FREE"])
    return picks.get(category_tier, picks["economy"])


def plan_for(tier: str) -> Plan:
    """The plan of a tier (an unknown tier gets FREE: access fails closed)."""
    return PLANS.get(tier, PLANS["FREE"])


def is_paid_tier(value: object) -> bool:
    return isinstance(value, str) and value in PAID_TIERS


def price_ids(settings: Settings) -> dict[str, str]:
    """Tier -> Stripe price id, for the tiers whose price is configured."""
    configured = {
        "STARTER": settings.stripe_price_starter,
        "PRO": settings.stripe_price_pro,
        "AGENCY": settings.stripe_price_agency,
    }
    return {tier: price for tier, price in configured.items() if price}


def tier_of_prices(prices: list[str], settings: Settings) -> str | None:
    """The paid tier of a subscription from its price ids, or None when no configured price is among them."""
    by_price = {price: tier for tier, price in price_ids(settings).items()}
    for price in prices:
        if price in by_price:
            return by_price[price]
    return None

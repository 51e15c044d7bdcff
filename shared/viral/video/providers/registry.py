"""Which video providers exist in this environment and in which order a concept tries them.

Routing follows the original's provider router without Sora: a category's tier names an ordered chain
(premium finance/tech/luxury and standard: Veo -> Runway -> Luma; economy: Luma -> Runway -> Veo), only
configured vendors take part, and with no vendor key at all the offline `storyboard` renders everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from viral.errors import InvalidInput
from viral.settings import Settings
from viral.video.providers.base import VideoProvider
from viral.video.providers.luma import LumaProvider
from viral.video.providers.runway import RunwayProvider
from viral.video.providers.storyboard import StoryboardProvider
from viral.video.providers.veo import VeoProvider

VENDORS = ("veo", "runway", "luma")
PROVIDERS = (*VENDORS, "storyboard")
KEY_NAMES = {"veo": "VEO_API_KEY", "runway": "RUNWAY_API_KEY", "luma": "LUMA_API_KEY"}


def _secret_keys(name: str | None) -> dict[str, str]:
    """Vendor keys kept in Secrets Manager (JSON object), cached by Powertools for five minutes."""
    if not name:
        return {}
    from aws_lambda_powertools.utilities import parameters

    value: Any = parameters.get_secret(name, max_age=300)
    loaded = json.loads(value) if isinstance(value, str | bytes) else value
    return {k: str(v) for k, v in loaded.items() if isinstance(v, str) and v} if isinstance(loaded, dict) else {}


def api_keys(settings: Settings) -> dict[str, str | None]:
    """Each vendor's key: its environment variable, else the video secret's entry of the same name."""
    direct = {"veo": settings.veo_api_key, "runway": settings.runway_api_key, "luma": settings.luma_api_key}
    secret = _secret_keys(settings.video_secret_name) if not all(direct.values()) else {}
    return {name: direct[name] or secret.get(KEY_NAMES[name]) for name in VENDORS}


def build_providers(settings: Settings) -> dict[str, VideoProvider]:
    """Every provider, configured from settings (vendors without a key report `configured() == False`)."""
    keys = api_keys(settings)
    limit = settings.video_max_bytes
    return {
        "veo": VeoProvider(keys["veo"], base_url=settings.veo_base_url, model=settings.veo_model, max_bytes=limit),
        "runway": RunwayProvider(
            keys["runway"], base_url=settings.runway_base_url, model=settings.runway_model, max_bytes=limit
        ),
        "luma": LumaProvider(keys["luma"], base_url=settings.luma_base_url, model=settings.luma_model, max_bytes=limit),
        "storyboard": StoryboardProvider(fps=settings.video_storyboard_fps),
    }


_built: dict[int, tuple[Settings, dict[str, VideoProvider]]] = {}


def providers(settings: Settings) -> dict[str, VideoProvider]:
    """The providers of this execution environment (one httpx client each, reused across invocations);
    rebuilt when the settings object changes (tests clear `get_settings`)."""
    cached = _built.get(0)
    if cached is None or cached[0] is not settings:
        cached = _built[0] = (settings, build_providers(settings))
    return cached[1]


def reset_providers() -> None:
    _built.clear()


def tier_of(category: str | None, settings: Settings) -> str:
    return settings.video_category_tiers.get(category or "", "standard")


def provider_chain(
    category: str | None, available: Mapping[str, VideoProvider], settings: Settings, *, requested: str | None = None
) -> list[str]:
    """The providers to try in order for a category; `requested` goes first. Storyboard when no vendor is set up."""
    tiers: dict[str, list[str]] = {tier: list(chain) for tier, chain in settings.video_provider_tiers.items()}
    tier_chain = tiers.get(tier_of(category, settings), list(VENDORS))
    usable = [p for p in dict.fromkeys(tier_chain) if p in available and available[p].configured()]
    if requested is not None:
        if requested not in available or not available[requested].configured():
            raise InvalidInput(f"video provider '{requested}' is not configured", details={"provider": requested})
        return [requested, *(p for p in usable if p != requested)]
    return usable or ["storyboard"]


def cost_of(provider: str, duration_s: float, settings: Settings) -> Decimal:
    """What a video of this length costs from this provider (per-second prices are settings)."""
    per_second = Decimal(str(settings.video_cost_per_second.get(provider, 0.0)))
    return (per_second * Decimal(str(round(duration_s, 3)))).quantize(Decimal("0.0001"))

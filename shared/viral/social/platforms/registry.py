"""Which platforms this environment offers, with the app credentials each needs (environment, else the social
secret in Secrets Manager). The sandbox is offered only in local runs and tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from viral.errors import InvalidInput
from viral.settings import Settings
from viral.social.platforms.base import SocialPlatform

PLATFORMS = ("tiktok", "youtube", "instagram", "sandbox")


@dataclass(frozen=True)
class AppCredentials:
    state_secret: str | None
    tiktok_client_key: str | None
    tiktok_client_secret: str | None
    google_client_id: str | None
    google_client_secret: str | None
    facebook_app_id: str | None
    facebook_app_secret: str | None


def _secret(name: str | None) -> dict[str, str]:
    if not name:
        return {}
    from aws_lambda_powertools.utilities import parameters

    value: Any = parameters.get_secret(name, max_age=300)
    loaded = json.loads(value) if isinstance(value, str | bytes) else value
    return {k: str(v) for k, v in loaded.items() if isinstance(v, str) and v} if isinstance(loaded, dict) else {}


def credentials(settings: Settings) -> AppCredentials:
    secret = _secret(settings.social_secret_name)
    return AppCredentials(
        state_secret=settings.social_state_secret or secret.get("stateSecret"),
        tiktok_client_key=settings.tiktok_client_key or secret.get("tiktokClientKey"),
        tiktok_client_secret=settings.tiktok_client_secret or secret.get("tiktokClientSecret"),
        google_client_id=settings.google_client_id or secret.get("googleClientId"),
        google_client_secret=settings.google_client_secret or secret.get("googleClientSecret"),
        facebook_app_id=settings.facebook_app_id or secret.get("facebookAppId"),
        facebook_app_secret=settings.facebook_app_secret or secret.get("facebookAppSecret"),
    )


def build_platforms(settings: Settings) -> dict[str, SocialPlatform]:
    """The platforms configured here (a platform without app credentials is not offered)."""
    from viral.social.platforms.instagram import InstagramAdapter
    from viral.social.platforms.sandbox import SandboxAdapter, sandbox_network
    from viral.social.platforms.tiktok import TikTokAdapter
    from viral.social.platforms.youtube import YouTubeAdapter

    creds = credentials(settings)
    found: dict[str, SocialPlatform] = {}
    if creds.tiktok_client_key and creds.tiktok_client_secret:
        found["tiktok"] = TikTokAdapter(
            creds.tiktok_client_key,
            creds.tiktok_client_secret,
            base_url=settings.tiktok_base_url,
            authorize_url=settings.tiktok_authorize_url,
        )
    if creds.google_client_id and creds.google_client_secret:
        found["youtube"] = YouTubeAdapter(
            creds.google_client_id,
            creds.google_client_secret,
            base_url=settings.youtube_base_url,
            oauth_base_url=settings.google_oauth_base_url,
            authorize_url=settings.google_authorize_url,
            analytics_base_url=settings.youtube_analytics_base_url,
        )
    if creds.facebook_app_id and creds.facebook_app_secret:
        found["instagram"] = InstagramAdapter(
            creds.facebook_app_id,
            creds.facebook_app_secret,
            base_url=settings.graph_base_url,
            version=settings.graph_version,
            authorize_url=settings.facebook_authorize_url,
        )
    if settings.sandbox_available:
        found["sandbox"] = SandboxAdapter(sandbox_network(), settings.sandbox_authorize_url)
    return found


_built: dict[int, tuple[Settings, dict[str, SocialPlatform]]] = {}


def platforms(settings: Settings) -> dict[str, SocialPlatform]:
    """The platforms of this execution environment (one httpx client each), rebuilt when settings change."""
    cached = _built.get(0)
    if cached is None or cached[0] is not settings:
        cached = _built[0] = (settings, build_platforms(settings))
    return cached[1]


def reset_platforms() -> None:
    _built.clear()


def platform(name: str, settings: Settings) -> SocialPlatform:
    """The adapter of `name`, or InvalidInput naming what is wrong."""
    if name not in PLATFORMS:
        raise InvalidInput(f"Unsupported platform: {name[:32]}", details=[{"field": "platform", "message": "unknown"}])
    found = platforms(settings).get(name)
    if found is None:
        raise InvalidInput(
            f"The {name} platform is not configured here",
            details=[{"field": "platform", "message": "not configured in this environment"}],
        )
    return found

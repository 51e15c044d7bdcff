"""Validated configuration, read from the environment once per execution environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Every setting the package reads; the README's configuration table mirrors this model."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    stage: Literal["local", "test", "dev", "prod"] = Field(
        default="local", description="Where this runs; dev and prod never fall back to the embedded database."
    )

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; overrides DB_SECRET_NAME and the embedded default."
    )
    db_secret_name: str | None = Field(
        default=None,
        description="Secrets Manager secret: {username,password} as RDS manages it; host, port, dbname optional.",
    )
    db_host: str | None = Field(
        default=None, description="Database host (or RDS Proxy endpoint); wins over the secret's `host`."
    )
    db_port: int | None = Field(
        default=None, ge=1, le=65_535, description="Database port; wins over the secret's `port` (else 5432)."
    )
    db_name: str | None = Field(
        default=None, description="Database name; wins over the secret's `dbname` (else postgres)."
    )
    db_pool_mode: Literal["pooled", "null"] = Field(
        default="pooled", description="'null' uses NullPool, for RDS Proxy or a PgBouncer pooler."
    )
    db_pool_size: int = Field(
        default=1, ge=1, le=20, description="Pooled connections per process: 1 in Lambda; `make run` uses more."
    )
    db_runtime_role: str = Field(
        default="viral_app", description="Role the runtime switches to: owns nothing, no BYPASSRLS."
    )
    db_system_role: str = Field(
        default="viral_system", description="Role of the one cross-tenant path (tenant listing, credential lookup)."
    )
    db_connect_timeout_s: float = Field(default=5.0, gt=0, le=60, description="Database connect timeout.")
    db_statement_timeout_ms: int = Field(
        default=10_000, gt=0, le=900_000, description="Server-side statement_timeout of every connection."
    )
    db_sslmode: Literal["disable", "require", "verify-full"] | None = Field(
        default=None,
        description="TLS to the database; the URL's or secret's own sslmode wins; secrets default to verify-full.",
    )
    db_ssl_root_cert: str | None = Field(
        default=None,
        description="CA bundle (PEM) verify-full trusts instead of the system store; relative to the layer's python/.",
    )
    api_base_path: str = Field(
        default="", description="Base path of the API on a custom domain (e.g. v1); taken off request paths."
    )
    clerk_jwt_key: str | None = Field(
        default=None, description="Clerk's PEM public key ('JWKS Public Key'): networkless session verification."
    )
    clerk_jwks_url: str | None = Field(
        default=None, description="Clerk Frontend API JWKS URL, fetched once per environment when no PEM is set."
    )
    clerk_authorized_parties: str = Field(
        default="",
        description="Comma-separated origins allowed in a session token's `azp` claim (required in dev and prod "
        "when session tokens are accepted).",
    )
    clerk_issuer: str | None = Field(
        default=None,
        description="The Clerk Frontend API URL a session token's `iss` must equal (default: the JWKS URL's origin; "
        "required in dev and prod when session tokens are accepted).",
    )
    youtube_api_key: str | None = Field(default=None, description="YouTube Data API key (trending videos).")
    reddit_client_id: str | None = Field(default=None, description="Reddit app id (application-only OAuth).")
    reddit_client_secret: str | None = Field(default=None, description="Reddit app secret.")
    gnews_api_key: str | None = Field(default=None, description="GNews API key (top headlines).")
    google_trends_enabled: bool = Field(default=False, description="Read Google Trends' public RSS feed.")
    trends_region: str = Field(default="US", pattern=r"^[A-Z]{2}$", description="Country whose trends are read.")
    trends_ttl_s: int = Field(default=3600, ge=60, le=86_400, description="How long gathered trends are reused.")
    trends_deadline_s: float = Field(default=8.0, gt=0, le=20, description="Total time allowed to gather trends.")
    media_bucket: str | None = Field(default=None, description="S3 bucket for videos, uploads and imports.")
    import_max_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1024, le=5 * 1024**3, description="Largest Dexie export an upload may import."
    )
    import_url_ttl_s: int = Field(
        default=900, ge=60, le=43_200, description="Lifetime of the presigned URL a Dexie export is uploaded to."
    )
    generation_queue_url: str | None = Field(default=None, description="SQS queue of generation jobs.")
    reflexion_queue_url: str | None = Field(default=None, description="SQS queue of per-tenant reflexion runs.")
    video_queue_url: str | None = Field(default=None, description="SQS queue of video jobs (video-jobs).")
    video_secret_name: str | None = Field(
        default=None,
        description="Secrets Manager secret with JSON {VEO_API_KEY, RUNWAY_API_KEY, LUMA_API_KEY}; variables win.",
    )
    veo_api_key: str | None = Field(default=None, description="Gemini API key for Veo (unset: Veo is skipped).")
    veo_base_url: str = Field(default="https://generativelanguage.googleapis.com", description="Gemini API base URL.")
    veo_model: str = Field(default="veo-3.1-fast-generate-preview", description="Veo model of the Gemini API.")
    runway_api_key: str | None = Field(default=None, description="Runway API secret (unset: Runway is skipped).")
    runway_base_url: str = Field(default="https://api.dev.runwayml.com", description="Runway API base URL.")
    runway_model: str = Field(default="veo3.1_fast", description="Runway text_to_video model.")
    luma_api_key: str | None = Field(default=None, description="Luma API key (unset: Luma is skipped).")
    luma_base_url: str = Field(
        default="https://api.lumalabs.ai/dream-machine/v1", description="Luma Dream Machine API base URL."
    )
    luma_model: str = Field(default="ray-2", description="Luma video model.")
    video_provider_tiers: dict[
        Literal["premium", "standard", "economy"], list[Literal["veo", "runway", "luma", "storyboard"]]
    ] = Field(
        default={
            "premium": ["veo", "runway", "luma"],
            "standard": ["veo", "runway", "luma"],
            "economy": ["luma", "runway", "veo"],
        },
        description="Provider order per tier (JSON); unconfigured vendors are skipped, storyboard when none is set.",
    )
    video_category_tiers: dict[str, Literal["premium", "standard", "economy"]] = Field(
        default={
            "finance": "premium",
            "tech": "premium",
            "luxury": "premium",
            "absurd": "economy",
            "cartoon": "economy",
            "gaming": "economy",
            "food": "economy",
        },
        description="Tier of each concept category (JSON); categories not listed are 'standard'.",
    )
    video_cost_per_second: dict[str, float] = Field(
        default={"veo": 0.033, "runway": 0.05, "luma": 0.025, "storyboard": 0.0},
        description="USD per second of video, per provider (JSON).",
    )
    video_poll_interval_s: int = Field(default=15, ge=0, le=900, description="Delay between polls of a vendor job.")
    video_render_timeout_s: int = Field(
        default=1800, ge=60, le=86_400, description="A vendor job not finished after this long falls back."
    )
    video_retry_limit: int = Field(
        default=4, ge=1, le=4, description="Deliveries of a message before a retryable error counts as a failure."
    )
    video_reconcile_window_s: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="How long a submission of unknown outcome is looked for (or waited on) before falling back.",
    )
    video_url_ttl_s: int = Field(default=900, ge=60, le=43_200, description="Lifetime of a presigned video URL.")
    video_max_bytes: int = Field(default=500 * 1024 * 1024, ge=1024, description="Largest video accepted.")
    video_min_duration_s: float = Field(default=3.0, ge=0, description="Shortest video that passes the checks.")
    video_max_duration_s: float = Field(default=180.0, gt=0, description="Longest video that passes the checks.")
    video_min_width: int = Field(default=720, ge=1, description="Narrowest 9:16 video that passes the checks.")
    video_storyboard_fps: int = Field(default=24, ge=1, le=60, description="Frame rate of storyboard renders.")
    llm_api_key: str | None = Field(default=None, description="Optional LLM critic (Messages API); off when unset.")
    llm_api_url: str = Field(default="https://api.anthropic.com", description="Base URL of the LLM Messages API.")
    llm_model: str = Field(default="claude-sonnet-4-5", description="Model the LLM critic asks.")
    rate_limit_enabled: bool = Field(default=True, description="Per-tenant request limits on the costly routes.")
    stripe_secret_key: str | None = Field(
        default=None, description="Stripe secret API key (local and tests); deployed stacks use STRIPE_SECRET_NAME."
    )
    stripe_webhook_secret: str | None = Field(
        default=None, description="Stripe webhook signing secret (whsec_...); without one every delivery is refused."
    )
    stripe_secret_name: str | None = Field(
        default=None, description="Secrets Manager secret with JSON {secretKey, webhookSecret} for Stripe."
    )
    stripe_api_base: str | None = Field(
        default=None, description="Base URL of the Stripe API (tests and local runs point it at a fake)."
    )
    stripe_timeout_s: float = Field(default=10.0, gt=0, le=60, description="Timeout of one Stripe API request.")
    stripe_max_retries: int = Field(default=2, ge=0, le=5, description="Retries of a failed Stripe request.")
    stripe_price_starter: str | None = Field(default=None, description="Stripe price id of the STARTER plan.")
    stripe_price_pro: str | None = Field(default=None, description="Stripe price id of the PRO plan.")
    stripe_price_agency: str | None = Field(default=None, description="Stripe price id of the AGENCY plan.")
    billing_queue_url: str | None = Field(default=None, description="SQS queue of billing events (Stripe, reconcile).")
    dashboard_url: str = Field(
        default="http://localhost:3000", description="The web dashboard's base URL (Checkout and portal returns)."
    )
    clerk_webhook_secret: str | None = Field(
        default=None, description="Clerk (Svix) webhook signing secret, whsec_<base64>; without one, refused."
    )
    clerk_webhook_secret_name: str | None = Field(
        default=None, description="Secrets Manager secret holding the Clerk webhook signing secret."
    )
    webhook_queue_url: str | None = Field(
        default=None, description="SQS queue of outbound webhook work (webhook-deliveries): dispatches and attempts."
    )
    webhook_secret_key: str | None = Field(
        default=None,
        description="Base64 32-byte key sealing webhook signing secrets (local, tests); deployed: WEBHOOK_KMS_KEY_ID.",
    )
    webhook_kms_key_id: str | None = Field(
        default=None, description="KMS key (id, ARN or alias) sealing webhook signing secrets in deployed stacks."
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, le=15, description="Connect and read timeout of one outbound webhook attempt."
    )
    webhook_retry_base_s: float = Field(
        default=5.0, ge=0, le=300, description="First retry delay of a failed webhook; each next one is 3x (jittered)."
    )
    # Analytics (viral.analytics).
    analytics_queue_url: str | None = Field(
        default=None, description="SQS queue of per-tenant analytics collection runs (analytics-jobs)."
    )
    analytics_feedback_age_h: int = Field(
        default=72,
        ge=1,
        le=720,
        description="A post's age (hours) whose snapshot becomes performance feedback for its concept.",
    )
    # The autopilot (viral.autopilot).
    autopilot_queue_url: str | None = Field(
        default=None, description="SQS queue of per-tenant autopilot steps (autopilot-jobs)."
    )
    analytics_tiktok_app_per_minute: int = Field(
        default=600,
        ge=1,
        le=1_000_000,
        description="TikTok video/query calls a minute for the whole app (all tenants).",
    )
    analytics_tiktok_account_per_minute: int = Field(
        default=60, ge=1, le=1_000_000, description="TikTok video/query calls a minute per connected account."
    )
    analytics_youtube_daily_units: int = Field(
        default=10_000,
        ge=1,
        le=100_000_000,
        description="YouTube Data API units a day the collector may spend for the app (resets at midnight Pacific).",
    )
    analytics_youtube_reports_per_day: int = Field(
        default=10_000, ge=1, le=100_000_000, description="YouTube Analytics API report queries a day for the app."
    )
    analytics_youtube_account_per_minute: int = Field(
        default=60, ge=1, le=1_000_000, description="YouTube analytics calls a minute per connected channel."
    )
    analytics_instagram_app_per_hour: int = Field(
        default=10_000,
        ge=1,
        le=100_000_000,
        description="Instagram insights calls an hour for the app (Meta scales its limit with users: set yours).",
    )
    analytics_instagram_account_per_hour: int = Field(
        default=200, ge=1, le=1_000_000, description="Instagram insights calls an hour per connected account."
    )
    analytics_sandbox_per_minute: int = Field(
        default=6_000, ge=1, le=1_000_000, description="Sandbox metrics calls a minute, per app and per account."
    )
    youtube_analytics_base_url: str = Field(
        default="https://youtubeanalytics.googleapis.com", description="YouTube Analytics API base URL."
    )
    # Social accounts and publishing (viral.social).
    post_queue_url: str | None = Field(default=None, description="SQS queue of post jobs (post-jobs).")
    social_secret_name: str | None = Field(
        default=None,
        description="Secrets Manager secret with the platforms' app credentials and the OAuth state key (JSON).",
    )
    social_state_secret: str | None = Field(
        default=None, description="Key that signs OAuth states (local and tests; deployed stacks use the secret)."
    )
    social_redirect_base: str = Field(
        default="http://127.0.0.1:3000", description="Public base URL of this API (OAuth redirect URIs)."
    )
    token_kms_key_id: str | None = Field(
        default=None, description="KMS key that wraps the data keys of social tokens (required in dev and prod)."
    )
    token_key_file: Path = Field(
        default=REPO_ROOT / ".local" / "token-key",
        description="Local key file that wraps social tokens' data keys when no KMS key is set (local, tests).",
    )
    sandbox_enabled: bool = Field(
        default=True, description="Offer the sandbox platform (local and test stages only, never dev or prod)."
    )
    sandbox_processing_s: float = Field(
        default=3.0, ge=0, le=3600, description="How long the sandbox platform processes an upload."
    )
    sandbox_authorize_url: str = Field(
        default="http://127.0.0.1:3000/_local/sandbox/authorize", description="The sandbox's local consent page."
    )
    tiktok_client_key: str | None = Field(default=None, description="TikTok app client key (unset: no TikTok).")
    tiktok_client_secret: str | None = Field(default=None, description="TikTok app client secret.")
    tiktok_base_url: str = Field(default="https://open.tiktokapis.com", description="TikTok Open API base URL.")
    tiktok_authorize_url: str = Field(
        default="https://www.tiktok.com/v2/auth/authorize/", description="TikTok's OAuth consent page."
    )
    tiktok_daily_posts: int = Field(
        default=15, ge=1, le=1000, description="Posts a TikTok creator may publish per 24 h through the API."
    )
    google_client_id: str | None = Field(default=None, description="Google OAuth client id (unset: no YouTube).")
    google_client_secret: str | None = Field(default=None, description="Google OAuth client secret.")
    google_oauth_base_url: str = Field(default="https://oauth2.googleapis.com", description="Google token endpoint.")
    google_authorize_url: str = Field(
        default="https://accounts.google.com/o/oauth2/v2/auth", description="Google's OAuth consent page."
    )
    youtube_base_url: str = Field(default="https://www.googleapis.com", description="YouTube Data API base URL.")
    youtube_daily_uploads: int = Field(
        default=100, ge=1, le=100_000, description="videos.insert calls per day for the whole app (all tenants)."
    )
    youtube_channel_daily_posts: int = Field(
        default=15, ge=1, le=1000, description="Uploads per channel per 24 h before YouTube's uploadLimitExceeded."
    )
    facebook_app_id: str | None = Field(default=None, description="Meta app id (unset: no Instagram).")
    facebook_app_secret: str | None = Field(default=None, description="Meta app secret.")
    graph_base_url: str = Field(default="https://graph.facebook.com", description="Meta Graph API base URL.")
    graph_version: str = Field(default="v25.0", pattern=r"^v\d+\.\d+$", description="Meta Graph API version.")
    facebook_authorize_url: str = Field(
        default="https://www.facebook.com/v25.0/dialog/oauth", description="Facebook Login's consent page."
    )
    post_poll_interval_s: int = Field(
        default=30, ge=0, le=900, description="Delay between checks of a post the platform is processing."
    )
    post_processing_timeout_s: int = Field(
        default=86_400, ge=60, le=7 * 86_400, description="A post still processing after this long is unconfirmed."
    )
    embedded_pg_data: Path = Field(
        default=REPO_ROOT / ".local" / "pgdata", description="Data folder of the embedded PostgreSQL."
    )

    @field_validator("db_host", "db_port", "db_name", "db_ssl_root_cert", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # The template passes an empty parameter through as an empty variable.
        return None if value == "" else value

    @property
    def sandbox_available(self) -> bool:
        """The sandbox platform runs in local runs and tests, never in a deployed stage."""
        return self.sandbox_enabled and self.stage in ("local", "test")

    @property
    def authorized_parties(self) -> list[str]:
        return [p.strip() for p in self.clerk_authorized_parties.split(",") if p.strip()]

    @property
    def accepts_session_tokens(self) -> bool:
        return bool(self.clerk_jwt_key or self.clerk_jwks_url)

    @property
    def session_issuer(self) -> str | None:
        """The issuer session tokens must name: the configured one, else the origin of Clerk's JWKS URL."""
        if self.clerk_issuer:
            return self.clerk_issuer.rstrip("/")
        if self.clerk_jwks_url:
            scheme, _, rest = self.clerk_jwks_url.partition("://")
            return f"{scheme}://{rest.split('/', 1)[0]}"
        return None

    @model_validator(mode="after")
    def _deployed_sessions_are_pinned(self) -> Settings:
        """In dev and prod, session tokens are only accepted with their `azp` and `iss` checks on: an empty value
        would silently switch a check off, so the function refuses to start instead.
        """
        if self.stage in ("dev", "prod") and self.accepts_session_tokens:
            missing = [
                name
                for name, value in (
                    ("CLERK_AUTHORIZED_PARTIES", self.authorized_parties),
                    ("CLERK_ISSUER", self.session_issuer),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"Clerk session tokens are accepted but {' and '.join(missing)} is not set")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this execution environment (cached: environment variables are read once)."""
    return Settings()

"""Validated configuration, read from the environment once per execution environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Every setting the package reads; the README's configuration table mirrors this model."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    stage: Literal["local", "test", "dev", "prod"] = "local"

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; overrides DB_SECRET_NAME and the embedded default."
    )
    db_secret_name: str | None = Field(
        default=None, description="Secrets Manager secret with RDS-style JSON {host,port,username,password,dbname}."
    )
    db_pool_mode: Literal["pooled", "null"] = Field(
        default="pooled", description="'null' uses NullPool, for RDS Proxy or a PgBouncer pooler."
    )
    db_runtime_role: str = Field(
        default="viral_app", description="Role the runtime switches to: owns nothing, no BYPASSRLS."
    )
    db_system_role: str = Field(
        default="viral_system", description="Role of the one cross-tenant path (tenant listing, credential lookup)."
    )
    db_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    db_statement_timeout_ms: int = Field(default=10_000, gt=0, le=900_000)
    db_sslmode: Literal["disable", "require", "verify-full"] | None = Field(
        default=None, description="TLS to the database; the URL's own sslmode wins when it has one."
    )
    clerk_jwt_key: str | None = Field(
        default=None, description="Clerk's PEM public key ('JWKS Public Key'): networkless session verification."
    )
    clerk_jwks_url: str | None = Field(
        default=None, description="Clerk Frontend API JWKS URL, fetched once per environment when no PEM is set."
    )
    clerk_authorized_parties: str = Field(
        default="", description="Comma-separated origins allowed in a session token's `azp` claim."
    )
    youtube_api_key: str | None = Field(default=None, description="YouTube Data API key (trending videos).")
    reddit_client_id: str | None = Field(default=None, description="Reddit app id (application-only OAuth).")
    reddit_client_secret: str | None = Field(default=None, description="Reddit app secret.")
    gnews_api_key: str | None = Field(default=None, description="GNews API key (top headlines).")
    google_trends_enabled: bool = Field(default=False, description="Read Google Trends' public RSS feed.")
    trends_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    trends_ttl_s: int = Field(default=3600, ge=60, le=86_400, description="How long gathered trends are reused.")
    trends_deadline_s: float = Field(default=8.0, gt=0, le=20, description="Total time allowed to gather trends.")
    generation_queue_url: str | None = Field(default=None, description="SQS queue of generation jobs.")
    rate_limit_enabled: bool = Field(default=True, description="Per-tenant request limits on the costly routes.")
    embedded_pg_data: Path = Field(
        default=REPO_ROOT / ".local" / "pgdata", description="Data folder of the embedded PostgreSQL."
    )

    @property
    def authorized_parties(self) -> list[str]:
        return [p.strip() for p in self.clerk_authorized_parties.split(",") if p.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this execution environment (cached: environment variables are read once)."""
    return Settings()

"""Typed SQLAlchemy 2 models: the schema the Alembic history builds (one source of truth for both)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from viral.vocabulary import CATEGORY_VALUES, PLATFORM_VALUES

# Ids that came from the original app (generations, concepts, critiques, ...) are strings it chose; they are
# unique per tenant, so those tables key on (tenant_id, id) and one tenant's ids never collide with another's.
CONTENT_ID = String(64)
# The constraints repeat the wire vocabulary, defined once in viral.vocabulary.
CATEGORIES = CATEGORY_VALUES
PLATFORMS = PLATFORM_VALUES
TIERS = ("FREE", "STARTER", "PRO", "AGENCY")
# Stripe's subscription statuses (billing, 0004); "active" is also the state of a tenant that never paid.
SUBSCRIPTION_STATUSES = (
    "active",
    "trialing",
    "past_due",
    "canceled",
    "unpaid",
    "incomplete",
    "incomplete_expired",
    "paused",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB, uuid.UUID: UUID(as_uuid=True)}


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))


class TenantOwned:
    """Marks a model whose rows belong to one tenant: repositories filter on it, RLS enforces it."""

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)


# --- tenants and identities ---------------------------------------------------------------------------


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint(_in("subscription_tier", TIERS), name="ck_tenants_tier"),
        CheckConstraint("used_quota >= 0 AND monthly_quota >= 0", name="ck_tenants_quota_non_negative"),
        CheckConstraint(
            "used_video_quota >= 0 AND monthly_video_quota >= 0", name="ck_tenants_video_quota_non_negative"
        ),
        CheckConstraint(_in("subscription_status", SUBSCRIPTION_STATUSES), name="ck_tenants_subscription_status"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    subscription_tier: Mapped[str] = mapped_column(String(16), server_default="FREE")
    subscription_status: Mapped[str] = mapped_column(String(32), server_default="active")
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    clerk_org_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    daily_generation_enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    monthly_quota: Mapped[int] = mapped_column(Integer, server_default="10")
    used_quota: Mapped[int] = mapped_column(Integer, server_default="0")
    quota_reset_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now() + interval '30 days'")
    )
    # Videos per month (0005), beside the concept quota; reset with it.
    monthly_video_quota: Mapped[int] = mapped_column(Integer, server_default="3")
    used_video_quota: Mapped[int] = mapped_column(Integer, server_default="0")
    # Billing (0004): the Stripe period (NULL: none, the monthly reset applies), the start of the period
    # used_quota counts, and when the Stripe and Clerk states applied here were current (older ones are ignored).
    billing_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    quota_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    stripe_state_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clerk_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class User(TenantOwned, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('ADMIN', 'MEMBER')", name="ck_users_role"),
        Index("ix_users_tenant_id", "tenant_id"),
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "id", name="uq_users_tenant_id_id"),
        # A Clerk user may belong to several organisations (tenants): one row per membership.
        UniqueConstraint("tenant_id", "clerk_id", name="uq_users_tenant_clerk"),
        Index("ix_users_clerk_id", "clerk_id"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    clerk_id: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    image_url: Mapped[str | None] = mapped_column(String(2048))
    role: Mapped[str] = mapped_column(String(16), server_default="MEMBER")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the Clerk user or membership state applied here was current (billing/accounts, 0004).
    clerk_updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKey(TenantOwned, Base):
    """An API key, stored only as its SHA-256 hash; `prefix` finds the row without revealing the secret."""

    __tablename__ = "api_keys"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        Index("ix_api_keys_tenant_id", "tenant_id"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(String(100), server_default="default")
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_at: Mapped[datetime] = _now()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# --- content: generations, concepts, learning -----------------------------------------------------------


class Generation(TenantOwned, Base):
    __tablename__ = "generations"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        Index("ix_generations_tenant_date", "tenant_id", text("date DESC")),
        Index("ix_generations_tenant_favorite", "tenant_id", "is_favorite"),
        # Analytics counts trend topics from this index alone, never reading the wide rows.
        Index("ix_generations_tenant_topics", "tenant_id", postgresql_include=["trend_topics"]),
        Index(
            "ix_generations_search_doc_trgm",
            "search_doc",
            postgresql_using="gin",
            postgresql_ops={"search_doc": "gin_trgm_ops"},
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[str] = mapped_column(CONTENT_ID, primary_key=True)
    date: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    trends: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    is_favorite: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Lower-cased trend topics joined by spaces.
    trend_text: Mapped[str] = mapped_column(Text, server_default="")
    # What search matches, for the trigram index: trend_text and each concept's search_text joined by \x1f.
    search_doc: Mapped[str] = mapped_column(Text, server_default="")
    # The trend topics as written, for analytics.
    trend_topics: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    created_at: Mapped[datetime] = _now()


class Concept(TenantOwned, Base):
    """One concept of a generation; `data` keeps the full ViralConcept, the columns what we query on."""

    __tablename__ = "concepts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "generation_id"], ["generations.tenant_id", "generations.id"], ondelete="CASCADE"
        ),
        CheckConstraint(_in("category", CATEGORIES), name="ck_concepts_category"),
        Index("ix_concepts_generation", "tenant_id", "generation_id", "position"),
        Index("ix_concepts_tenant_category", "tenant_id", "category"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[str] = mapped_column(CONTENT_ID, primary_key=True)
    generation_id: Mapped[str] = mapped_column(CONTENT_ID)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(32))
    trend_source: Mapped[str] = mapped_column(String(500))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Lower-cased title, caption, hashtags and trend source (its generation's search_doc is built from it).
    search_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class PerformanceFeedback(TenantOwned, Base):
    __tablename__ = "performance_feedback"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "concept_id"], ["concepts.tenant_id", "concepts.id"], ondelete="CASCADE"),
        CheckConstraint(_in("platform", PLATFORMS), name="ck_feedback_platform"),
        CheckConstraint(_in("category", CATEGORIES), name="ck_feedback_category"),
        CheckConstraint("views >= 0 AND likes >= 0 AND shares >= 0 AND comments >= 0", name="ck_feedback_counts"),
        CheckConstraint("data_source IN ('manual', 'scraped', 'api', 'import')", name="ck_feedback_source"),
        Index("ix_feedback_tenant_category", "tenant_id", "category"),
        Index("ix_feedback_tenant_concept", "tenant_id", "concept_id"),
        Index("ix_feedback_tenant_platform_reported", "tenant_id", "platform", "reported_at"),
        # One feedback derived from the platform's figures per concept and platform (0012).
        Index(
            "uq_feedback_derived",
            "tenant_id",
            "concept_id",
            "platform",
            unique=True,
            postgresql_where=text("data_source = 'api'"),
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[str] = mapped_column(CONTENT_ID, primary_key=True)
    concept_id: Mapped[str] = mapped_column(CONTENT_ID)
    concept_title: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(32))
    variant_id: Mapped[str | None] = mapped_column(String(64))
    views: Mapped[int] = mapped_column(BigInteger)
    likes: Mapped[int] = mapped_column(BigInteger)
    shares: Mapped[int] = mapped_column(BigInteger)
    comments: Mapped[int] = mapped_column(BigInteger)
    engagement_rate: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    reported_at: Mapped[datetime] = _now()
    data_source: Mapped[str] = mapped_column(String(16), server_default="manual")
    snapshot_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # the snapshot a derived entry read


class SelfCritique(TenantOwned, Base):
    __tablename__ = "self_critiques"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "concept_id"], ["concepts.tenant_id", "concepts.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(
            ["tenant_id", "feedback_id"],
            ["performance_feedback.tenant_id", "performance_feedback.id"],
            ondelete="SET NULL (feedback_id)",
        ),
        CheckConstraint("confidence_level IN ('low', 'medium', 'high')", name="ck_critiques_confidence"),
        # One critique per concept and feedback (the same feedback delivered twice critiques once).
        UniqueConstraint("tenant_id", "concept_id", "feedback_id", name="uq_critiques_concept_feedback"),
        Index("ix_critiques_tenant_created", "tenant_id", "created_at"),
        Index("ix_critiques_tenant_concept", "tenant_id", "concept_id"),
        Index("ix_critiques_tenant_confidence", "tenant_id", "confidence_level"),
        Index("ix_critiques_tenant_unapplied", "tenant_id", "created_at", postgresql_where=text("applied_at IS NULL")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[str] = mapped_column(CONTENT_ID, primary_key=True)
    concept_id: Mapped[str] = mapped_column(CONTENT_ID)
    feedback_id: Mapped[str | None] = mapped_column(CONTENT_ID)
    performance_gap: Mapped[dict[str, Any]] = mapped_column(JSONB)
    critique: Mapped[str] = mapped_column(Text)
    hypothesized_reasons: Mapped[list[Any]] = mapped_column(JSONB)
    scoring_issues: Mapped[list[Any]] = mapped_column(JSONB)
    adjustment_plan: Mapped[str] = mapped_column(Text)
    confidence_level: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = _now()
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReflexionInsight(TenantOwned, Base):
    __tablename__ = "reflexion_insights"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "category", "platform", "pattern", name="uq_insights_pattern"),
        CheckConstraint("impact IN ('positive', 'negative', 'neutral')", name="ck_insights_impact"),
        CheckConstraint("evidence_count >= 1", name="ck_insights_evidence"),
        Index("ix_insights_tenant_applied", "tenant_id", "applied_to_scoring"),
        Index("ix_insights_tenant_last_seen", "tenant_id", text("last_seen_at DESC")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[str] = mapped_column(CONTENT_ID, primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(32))
    pattern: Mapped[str] = mapped_column(Text)
    evidence_count: Mapped[int] = mapped_column(Integer, server_default="1")
    impact: Mapped[str] = mapped_column(String(8))
    recommendation: Mapped[str] = mapped_column(Text)
    applied_to_scoring: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    discovered_at: Mapped[datetime] = _now()
    last_seen_at: Mapped[datetime] = _now()


class ScoringAdjustment(TenantOwned, Base):
    __tablename__ = "scoring_adjustments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "critique_id"], ["self_critiques.tenant_id", "self_critiques.id"], ondelete="CASCADE"
        ),
        CheckConstraint(
            "adjustment_type IN ('category-weight', 'hook-effectiveness', 'platform-multiplier', 'recency-boost')",
            name="ck_adjustments_type",
        ),
        Index("ix_adjustments_tenant_category", "tenant_id", "category"),
        Index("ix_adjustments_tenant_critique", "tenant_id", "critique_id"),
        Index("ix_adjustments_tenant_applied", "tenant_id", text("applied_at DESC")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[str] = mapped_column(CONTENT_ID, primary_key=True)
    critique_id: Mapped[str] = mapped_column(CONTENT_ID)
    category: Mapped[str] = mapped_column(String(32))
    adjustment_type: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    new_value: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    reason: Mapped[str] = mapped_column(Text)
    applied_at: Mapped[datetime] = _now()
    score_model_version: Mapped[int | None] = mapped_column(Integer)


class ScoreModel(TenantOwned, Base):
    """A version of a tenant's viral-score model; the highest version is the current one."""

    __tablename__ = "score_models"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        CheckConstraint("version >= 1", name="ck_score_models_version"),
        CheckConstraint("source IN ('initial', 'adjustment', 'rollback')", name="ck_score_models_source"),
        CheckConstraint("jsonb_typeof(weights) = 'object'", name="ck_score_models_weights_object"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    weights: Mapped[dict[str, Any]] = mapped_column(JSONB)
    source: Mapped[str] = mapped_column(String(32), server_default="initial")
    based_on_version: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


# --- production line: videos, social accounts and posts, analytics, jobs --------------------------------


VIDEO_IN_FLIGHT = ("queued", "submitting", "reconciling", "rendering", "downloading", "validating")
VIDEO_STATUSES = (*VIDEO_IN_FLIGHT, "ready", "failed")


class Video(TenantOwned, Base):
    """A video and its state machine (0005, `reconciling` since 0009; the table is viral/video/state_machine.py).
    `step` numbers the queue message that currently owns the video (stale ones are dropped)."""

    __tablename__ = "videos"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "concept_id"], ["concepts.tenant_id", "concepts.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "id", name="uq_videos_tenant_id_id"),
        CheckConstraint(_in("platform", PLATFORMS), name="ck_videos_platform"),
        CheckConstraint("generation_cost >= 0", name="ck_videos_cost"),
        CheckConstraint(_in("status", VIDEO_STATUSES), name="ck_videos_status"),
        CheckConstraint("step >= 0 AND attempts >= 0", name="ck_videos_counters"),
        Index("ix_videos_tenant_status", "tenant_id", "status"),
        Index("ix_videos_tenant_concept", "tenant_id", "concept_id"),
        Index("ix_videos_tenant_platform", "tenant_id", "platform"),
        Index("ix_videos_tenant_created", "tenant_id", text("created_at DESC")),
        # One video in flight per concept and platform: a repeated request joins it instead of paying twice.
        Index(
            "uq_videos_in_flight",
            "tenant_id",
            "concept_id",
            "platform",
            unique=True,
            postgresql_where=text(_in("status", VIDEO_IN_FLIGHT)),
        ),
        # An uploaded object (key and ETag) is registered once, however often S3 notifies.
        Index(
            "uq_videos_upload_source",
            "tenant_id",
            "s3_key",
            "source_etag",
            unique=True,
            postgresql_where=text("source_etag IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    concept_id: Mapped[str | None] = mapped_column(CONTENT_ID)  # NULL for an upload not tied to a concept
    category: Mapped[str | None] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(32))
    provider_job_id: Mapped[str | None] = mapped_column(String(255))
    provider_chain: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    provider_history: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    step: Mapped[int] = mapped_column(Integer, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    s3_key: Mapped[str | None] = mapped_column(String(1024))
    source_etag: Mapped[str | None] = mapped_column(String(128))
    duration_s: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    codec: Mapped[str | None] = mapped_column(String(32))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    quality_report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    video_url: Mapped[str | None] = mapped_column(String(2048))
    cdn_url: Mapped[str | None] = mapped_column(String(2048))
    thumbnail_url: Mapped[str | None] = mapped_column(String(2048))
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    error_message: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    generation_cost: Mapped[Decimal] = mapped_column(Numeric(10, 4), server_default="0")
    generated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


SOCIAL_PLATFORMS = ("tiktok", "youtube", "instagram", "sandbox")
ACCOUNT_STATUSES = ("active", "reconnect_required", "disconnected")
# The post state machine (0010); the transitions are in viral/social/lifecycle.py, in one table.
POST_STATUSES = ("scheduled", "publishing", "processing", "published", "failed", "unconfirmed", "canceled")
SNAPSHOT_BUCKETS = ("1h", "6h", "24h", "72h", "7d", "30d")
POST_OPEN = ("scheduled", "publishing", "processing")


class SocialAccount(TenantOwned, Base):
    """A connected platform account (0010): tokens only as envelope ciphertext, with the id of the wrapping key."""

    __tablename__ = "social_accounts"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "platform", "username", name="uq_social_accounts_handle"),
        UniqueConstraint("tenant_id", "id", name="uq_social_accounts_tenant_id_id"),
        Index("ix_social_accounts_tenant_platform_active", "tenant_id", "platform", "is_active"),
        CheckConstraint(_in("platform", SOCIAL_PLATFORMS), name="ck_social_accounts_platform"),
        CheckConstraint(_in("status", ACCOUNT_STATUSES), name="ck_social_accounts_status"),
        # A reconnect of the same platform account updates its row instead of adding one.
        Index(
            "uq_social_accounts_platform_account",
            "tenant_id",
            "platform",
            "platform_account_id",
            unique=True,
            postgresql_where=text("platform_account_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    platform: Mapped[str] = mapped_column(String(32))
    username: Mapped[str] = mapped_column(String(255))
    access_token: Mapped[str | None] = mapped_column(Text, comment="encrypted at rest (never plaintext)")
    refresh_token: Mapped[str | None] = mapped_column(Text, comment="encrypted at rest (never plaintext)")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    daily_limit: Mapped[int] = mapped_column(Integer, server_default="10")
    used_today: Mapped[int] = mapped_column(Integer, server_default="0")
    last_reset: Mapped[datetime] = _now()
    niche: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    platform_account_id: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(24), server_default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    token_key_id: Mapped[str | None] = mapped_column(String(255))
    refresh_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scopes: Mapped[str | None] = mapped_column(Text)
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    refresh_lease: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    refresh_lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disconnected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SocialPost(TenantOwned, Base):
    """One video posted to one account (0010): its state machine, the platform's upload id and the outcome."""

    __tablename__ = "social_posts"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "video_id"], ["videos.tenant_id", "videos.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(
            ["tenant_id", "account_id"], ["social_accounts.tenant_id", "social_accounts.id"], ondelete="CASCADE"
        ),
        Index("ix_social_posts_tenant_video", "tenant_id", "video_id"),
        Index("ix_social_posts_tenant_account_status", "tenant_id", "account_id", "status"),
        Index("ix_social_posts_tenant_platform_posted", "tenant_id", "platform", "posted_at"),
        CheckConstraint(_in("status", POST_STATUSES), name="ck_social_posts_status"),
        CheckConstraint(_in("platform", SOCIAL_PLATFORMS), name="ck_social_posts_platform"),
        CheckConstraint("step >= 0 AND attempts >= 0", name="ck_social_posts_counters"),
        UniqueConstraint("tenant_id", "id", name="uq_social_posts_tenant_id_id"),
        # The schedule's one query: due posts of every tenant, oldest first.
        Index("ix_social_posts_due", "scheduled_for", postgresql_where=text("status = 'scheduled'")),
        Index("ix_social_posts_tenant_account_scheduled", "tenant_id", "account_id", "scheduled_for"),
        Index("ix_social_posts_tenant_created", "tenant_id", text("created_at DESC")),
        # The analytics schedule's one query (0016): each age bucket's window of published posts, every tenant.
        Index(
            "ix_social_posts_published_posted",
            "posted_at",
            postgresql_include=["tenant_id", "id", "platform"],
            postgresql_where=text("status = 'published' AND platform_post_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    video_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    platform: Mapped[str] = mapped_column(String(32))
    post_url: Mapped[str | None] = mapped_column(String(2048))
    platform_post_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), server_default="scheduled")
    error_message: Mapped[str | None] = mapped_column(Text)
    scheduled_for: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    caption: Mapped[str] = mapped_column(Text, server_default="")
    hashtags: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    privacy: Mapped[str | None] = mapped_column(String(32))
    disclosure: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    step: Mapped[int] = mapped_column(Integer, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    upload_id: Mapped[str | None] = mapped_column(String(2048))
    upload_state: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    publishing_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_code: Mapped[str | None] = mapped_column(String(64))
    history: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


class OAuthState(TenantOwned, Base):
    """A connect flow in progress (0010): its nonce is spent once, by the callback, before it expires."""

    __tablename__ = "oauth_states"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        CheckConstraint(_in("platform", SOCIAL_PLATFORMS), name="ck_oauth_states_platform"),
        Index("ix_oauth_states_expires", "tenant_id", "expires_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


class AnalyticsSnapshot(TenantOwned, Base):
    """A published post's figures at one age after publishing (0012): the platform's raw answer, the normalised
    figures (None where the platform gave none) and the platform definition they follow."""

    __tablename__ = "analytics_snapshots"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "post_id"],
            ["social_posts.tenant_id", "social_posts.id"],
            ondelete="CASCADE",
            name="fk_snapshots_post",
        ),
        CheckConstraint(_in("bucket", SNAPSHOT_BUCKETS), name="ck_snapshots_bucket"),
        UniqueConstraint("tenant_id", "post_id", "bucket", name="uq_snapshots_post_bucket"),
        UniqueConstraint("tenant_id", "id", name="uq_snapshots_tenant_id_id"),
        Index("ix_snapshots_tenant_collected", "tenant_id", "collected_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    platform: Mapped[str] = mapped_column(String(32))
    views: Mapped[int | None] = mapped_column(BigInteger)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    shares: Mapped[int | None] = mapped_column(BigInteger)
    comments: Mapped[int | None] = mapped_column(BigInteger)
    post_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    bucket: Mapped[str] = mapped_column(String(8))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB)
    saves: Mapped[int | None] = mapped_column(BigInteger)
    watch_time_s: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    avg_view_duration_s: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    completion_rate: Mapped[Decimal | None] = mapped_column(Numeric(6, 4))
    methodology: Mapped[str] = mapped_column(String(120))
    collected_at: Mapped[datetime] = _now()


class Job(TenantOwned, Base):
    """The ledger of one asynchronous job, as users see it; SQS is only the transport."""

    __tablename__ = "job_queue"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        CheckConstraint("status IN ('pending', 'running', 'completed', 'failed')", name="ck_jobs_status"),
        Index("ix_jobs_tenant_status_priority", "tenant_id", "status", "priority", "scheduled_for"),
        Index("ix_jobs_tenant_type_status", "tenant_id", "job_type", "status"),
        # The same job requested twice (a schedule firing again, a redelivered message) is one job.
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_idempotency"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    job_type: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    priority: Mapped[int] = mapped_column(Integer, server_default="5")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, server_default="3")
    scheduled_for: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


class ApiUsage(TenantOwned, Base):
    """One API request; `api_key_id` names the key by id (the original stored the key itself)."""

    __tablename__ = "api_usage"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        Index("ix_api_usage_tenant_timestamp", "tenant_id", "timestamp"),
        Index("ix_api_usage_tenant_key_timestamp", "tenant_id", "api_key_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    endpoint: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    status_code: Mapped[int] = mapped_column(Integer)
    response_time: Mapped[int] = mapped_column(Integer, comment="milliseconds")
    timestamp: Mapped[datetime] = _now()


class RateLimitWindow(TenantOwned, Base):
    """The current fixed window of one tenant's requests to one group of routes (updated in one statement)."""

    __tablename__ = "rate_limits"
    __table_args__ = (ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = _now()
    count: Mapped[int] = mapped_column(Integer, server_default="0")


# --- global tables (not tenant data, on purpose) --------------------------------------------------------


class WebhookEvent(Base):
    """A delivery from Stripe or Clerk, recorded once by (provider, event_id) so a redelivery does nothing."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_webhook_events_provider_event"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(128))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), server_default="received")
    received_at: Mapped[datetime] = _now()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ClerkTombstone(Base):
    """A Clerk user, organisation or membership that was deleted: a late event about it must not bring it back."""

    __tablename__ = "clerk_tombstones"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    clerk_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    deleted_at: Mapped[datetime] = _now()


class SocialAppUsage(Base):
    """Calls of a platform app shared by every tenant (0010), per budget and window: reserved when a post is
    scheduled (e.g. YouTube's 100 videos.insert a day per project), so a post that would break it is refused early."""

    __tablename__ = "social_app_usage"
    __table_args__ = (CheckConstraint("used >= 0", name="ck_social_app_usage_used"),)

    budget: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, server_default="0")


class PlatformBudget(Base):
    """A token bucket of a platform app or of one connected account (0014), shared by every execution environment:
    each analytics call draws from its app's and its account's bucket in one statement; a 429 pauses one."""

    __tablename__ = "platform_budgets"
    __table_args__ = (
        CheckConstraint("tokens >= 0 AND capacity >= 0 AND refill_per_s >= 0", name="ck_platform_budgets_amounts"),
    )

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    capacity: Mapped[float] = mapped_column(Float)
    refill_per_s: Mapped[float] = mapped_column(Float)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resets_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    pause_reason: Mapped[str | None] = mapped_column(String(200))


class TrendSnapshot(Base):
    """Trends as gathered at one moment, shared by every tenant and execution environment (the cache)."""

    __tablename__ = "trend_snapshots"
    __table_args__ = (Index("ix_trend_snapshots_region_fetched", "region", text("fetched_at DESC")),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    region: Mapped[str] = mapped_column(String(8), server_default="US")
    fetched_at: Mapped[datetime] = _now()
    trends: Mapped[list[Any]] = mapped_column(JSONB)
    sources: Mapped[dict[str, Any]] = mapped_column(JSONB)


class TrendRefresh(Base):
    """When a region's trends were last gathered from the vendors (0009). A refresh first claims the row with one
    conditional upsert, so the shared vendor quotas are spent at most once per interval whoever asks."""

    __tablename__ = "trend_refreshes"

    region: Mapped[str] = mapped_column(String(8), primary_key=True)
    claimed_at: Mapped[datetime] = _now()


class AudioTrend(Base):
    __tablename__ = "audio_trends"
    __table_args__ = (UniqueConstraint("platform", "sound_id", name="uq_audio_trends_sound"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    platform: Mapped[str] = mapped_column(String(32))
    sound_id: Mapped[str] = mapped_column(String(255))
    sound_name: Mapped[str] = mapped_column(String(500))
    artist_name: Mapped[str | None] = mapped_column(String(255))
    usage_count: Mapped[int] = mapped_column(BigInteger)
    trend_score: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    category: Mapped[str | None] = mapped_column(String(32))
    discovered_at: Mapped[datetime] = _now()
    last_seen_at: Mapped[datetime] = _now()
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class CompetitorVideo(Base):
    __tablename__ = "competitor_videos"
    __table_args__ = (
        UniqueConstraint("platform", "video_id", name="uq_competitor_videos_video"),
        Index("ix_competitor_videos_category_engagement", "category", "engagement_rate"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    platform: Mapped[str] = mapped_column(String(32))
    creator_username: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(32))
    video_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    views: Mapped[int] = mapped_column(BigInteger)
    likes: Mapped[int] = mapped_column(BigInteger)
    comments: Mapped[int] = mapped_column(BigInteger)
    engagement_rate: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    duration: Mapped[int] = mapped_column(Integer, comment="seconds")
    hashtags: Mapped[list[Any] | None] = mapped_column(JSONB)
    sound_id: Mapped[str | None] = mapped_column(String(255))
    hook_text: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    scraped_at: Mapped[datetime] = _now()


class SystemMetric(Base):
    __tablename__ = "system_metrics"
    __table_args__ = (Index("ix_system_metrics_type_recorded", "metric_type", "recorded_at"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    metric_type: Mapped[str] = mapped_column(String(64))
    value: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    recorded_at: Mapped[datetime] = _now()


# --- outbound webhooks (0011) -------------------------------------------------------------------------------


class WebhookEndpoint(TenantOwned, Base):
    """A tenant's URL subscribed to event types; its signing secrets are stored sealed (never in clear)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "id", name="uq_webhook_endpoints_tenant_id_id"),
        CheckConstraint("status IN ('enabled', 'disabled')", name="ck_webhook_endpoints_status"),
        Index("ix_webhook_endpoints_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    secret_sealed: Mapped[str] = mapped_column(Text)
    # After a rotation the old secret still signs (beside the new one) until it expires.
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), server_default="enabled")
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The first failed attempt since the last success; an endpoint failing for days is disabled.
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class OutboundEvent(TenantOwned, Base):
    """The outbox: one row per event, written in the transaction of the change it reports."""

    __tablename__ = "outbound_events"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "id", name="uq_outbound_events_tenant_id_id"),
        # The dispatcher's queue: only events not yet fanned out to endpoints.
        Index(
            "ix_outbound_events_undispatched",
            "tenant_id",
            "created_at",
            postgresql_where=text("dispatched_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Set for a test event: delivered to this endpoint only, whatever it subscribed to.
    endpoint_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _now()
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(TenantOwned, Base):
    """One event to one endpoint: retried with the same webhook-id until it succeeds or is given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "endpoint_id"],
            ["webhook_endpoints.tenant_id", "webhook_endpoints.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "event_id"], ["outbound_events.tenant_id", "outbound_events.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("tenant_id", "id", name="uq_webhook_deliveries_tenant_id_id"),
        UniqueConstraint("tenant_id", "endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'cancelled')", name="ck_webhook_deliveries_status"
        ),
        CheckConstraint("attempts >= 0", name="ck_webhook_deliveries_attempts"),
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    endpoint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = _now()
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(TenantOwned, Base):
    """One HTTP attempt of a delivery: what the endpoint answered (the body cut to a few hundred bytes)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "delivery_id"],
            ["webhook_deliveries.tenant_id", "webhook_deliveries.id"],
            ondelete="CASCADE",
        ),
        Index("ix_webhook_attempts_endpoint_created", "tenant_id", "endpoint_id", text("created_at DESC")),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    response_body: Mapped[str | None] = mapped_column(String(512))
    next_retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


# --- the autopilot (0015) ----------------------------------------------------------------------------------

AUTOPILOT_DISTRIBUTIONS = ("round_robin", "all_accounts")
AUTOPILOT_POSTING = ("asap", "hours")
AUTOPILOT_PICK_KINDS = ("top", "exploration")
# picked: claimed, not yet submitted; rendering: its video requested; posted: its posts scheduled; refused: the
# video quota said no (today's picks end there); failed: the video failed or could not be requested.
AUTOPILOT_PICK_STATUSES = ("picked", "rendering", "posted", "refused", "failed")
AUTOPILOT_POST_STATUSES = ("claimed", "scheduled", "failed")


class AutopilotSettings(TenantOwned, Base):
    """A tenant's autopilot: whether it runs, how many videos a day, where they go and when; plus its last run."""

    __tablename__ = "autopilot_settings"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        CheckConstraint("videos_per_day BETWEEN 1 AND 20", name="ck_autopilot_videos_per_day"),
        CheckConstraint("exploration_share BETWEEN 0 AND 1", name="ck_autopilot_exploration_share"),
        CheckConstraint(_in("distribution", AUTOPILOT_DISTRIBUTIONS), name="ck_autopilot_distribution"),
        CheckConstraint(_in("posting", AUTOPILOT_POSTING), name="ck_autopilot_posting"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    videos_per_day: Mapped[int] = mapped_column(Integer, server_default="3")
    # NULL: every connected account (also those connected later).
    account_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    # NULL: automatic (one pick in three once there are three picks a day, else none).
    exploration_share: Mapped[Decimal | None] = mapped_column(Numeric(4, 3))
    distribution: Mapped[str] = mapped_column(String(16), server_default="round_robin")
    posting: Mapped[str] = mapped_column(String(16), server_default="asap")
    posting_hours: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'::integer[]"))
    run_lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class AutopilotPick(TenantOwned, Base):
    """One concept the autopilot chose on a day, in a slot: rendered once (unique per day and slot, and per concept)."""

    __tablename__ = "autopilot_picks"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "concept_id"], ["concepts.tenant_id", "concepts.id"], ondelete="CASCADE"),
        UniqueConstraint("tenant_id", "day", "slot", name="uq_autopilot_picks_day_slot"),
        UniqueConstraint("tenant_id", "concept_id", name="uq_autopilot_picks_concept"),
        UniqueConstraint("tenant_id", "id", name="uq_autopilot_picks_tenant_id_id"),
        Index("ix_autopilot_picks_tenant_status", "tenant_id", "status"),
        CheckConstraint("slot >= 0", name="ck_autopilot_picks_slot"),
        CheckConstraint(_in("kind", AUTOPILOT_PICK_KINDS), name="ck_autopilot_picks_kind"),
        CheckConstraint(_in("status", AUTOPILOT_PICK_STATUSES), name="ck_autopilot_picks_status"),
        CheckConstraint(_in("platform", PLATFORMS), name="ck_autopilot_picks_platform"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    day: Mapped[date] = mapped_column(Date)
    slot: Mapped[int] = mapped_column(Integer)
    concept_id: Mapped[str] = mapped_column(CONTENT_ID)
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(32))
    score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    # The account a round-robin pick goes to (NULL: every chosen account of the video's platform).
    account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), server_default="picked")
    video_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class AutopilotPost(TenantOwned, Base):
    """One account a pick's video is posted to: claimed once (unique per pick and account), then its post's id."""

    __tablename__ = "autopilot_posts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "pick_id"], ["autopilot_picks.tenant_id", "autopilot_picks.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("tenant_id", "pick_id", "account_id", name="uq_autopilot_posts_pick_account"),
        CheckConstraint(_in("status", AUTOPILOT_POST_STATUSES), name="ck_autopilot_posts_status"),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    pick_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    post_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), server_default="claimed")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


TENANT_TABLES: tuple[str, ...] = tuple(
    sorted(m.__tablename__ for m in Base.__subclasses__() if issubclass(m, TenantOwned))
)
"""Every table holding one tenant's rows (all have tenant_id NOT NULL and forced row-level security)."""

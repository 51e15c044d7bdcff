"""Initial schema: every table of the original's Prisma schema, plus concepts, api_keys, webhook_events and
score_models; tenant_id NOT NULL everywhere; row-level security forced on every tenant table; the two roles.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# The runtime role owns nothing and has no BYPASSRLS; the system role is the one cross-tenant path and may
# only read tenants, users and API keys (viral.settings: DB_RUNTIME_ROLE, DB_SYSTEM_ROLE).
RUNTIME_ROLE = "viral_app"
SYSTEM_ROLE = "viral_system"
TENANT_POLICY = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
TENANT_TABLES = (
    "analytics_snapshots",
    "api_keys",
    "api_usage",
    "concepts",
    "generations",
    "job_queue",
    "performance_feedback",
    "reflexion_insights",
    "score_models",
    "scoring_adjustments",
    "self_critiques",
    "social_accounts",
    "social_posts",
    "users",
    "videos",
)
GLOBAL_READ_TABLES = ("audio_trends", "competitor_videos", "system_metrics")
SYSTEM_READ_TABLES = ("tenants", "users", "api_keys")


def _create_role(name: str) -> None:
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN
            CREATE ROLE {name} NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
        END $$""")
    op.execute(f"GRANT {name} TO CURRENT_USER")


def _secure() -> None:
    for role in (RUNTIME_ROLE, SYSTEM_ROLE):
        op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    for table in (*TENANT_TABLES, "tenants"):
        column = "id" if table == "tenants" else "tenant_id"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING ({column} = {TENANT_POLICY}) WITH CHECK ({column} = {TENANT_POLICY})"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {RUNTIME_ROLE}")
    for table in SYSTEM_READ_TABLES:
        op.execute(f"CREATE POLICY system_read ON {table} FOR SELECT TO {SYSTEM_ROLE} USING (true)")
        op.execute(f"GRANT SELECT ON {table} TO {SYSTEM_ROLE}")
    for table in GLOBAL_READ_TABLES:
        op.execute(f"GRANT SELECT ON {table} TO {RUNTIME_ROLE}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SYSTEM_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON webhook_events TO {SYSTEM_ROLE}")
    # The health check reads the schema revision as the runtime role.
    op.execute(f"GRANT SELECT ON alembic_version TO {RUNTIME_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {RUNTIME_ROLE}, {SYSTEM_ROLE}")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    _create_role(RUNTIME_ROLE)
    _create_role(SYSTEM_ROLE)
    op.create_table(
        "audio_trends",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("sound_id", sa.String(length=255), nullable=False),
        sa.Column("sound_name", sa.String(length=500), nullable=False),
        sa.Column("artist_name", sa.String(length=255), nullable=True),
        sa.Column("usage_count", sa.BigInteger(), nullable=False),
        sa.Column("trend_score", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("discovered_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "sound_id", name="uq_audio_trends_sound"),
    )
    op.create_table(
        "competitor_videos",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("creator_username", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("video_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("likes", sa.BigInteger(), nullable=False),
        sa.Column("comments", sa.BigInteger(), nullable=False),
        sa.Column("engagement_rate", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False, comment="seconds"),
        sa.Column("hashtags", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("sound_id", sa.String(length=255), nullable=True),
        sa.Column("hook_text", sa.Text(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scraped_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "video_id", name="uq_competitor_videos_video"),
    )
    op.create_index(
        "ix_competitor_videos_category_engagement", "competitor_videos", ["category", "engagement_rate"], unique=False
    )
    op.create_table(
        "system_metrics",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("metric_type", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_system_metrics_type_recorded", "system_metrics", ["metric_type", "recorded_at"], unique=False)
    op.create_table(
        "tenants",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subscription_tier", sa.String(length=16), server_default="FREE", nullable=False),
        sa.Column("subscription_status", sa.String(length=32), server_default="active", nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("monthly_quota", sa.Integer(), server_default="10", nullable=False),
        sa.Column("used_quota", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "quota_reset_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now() + interval '30 days'"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("subscription_tier IN ('FREE', 'STARTER', 'PRO', 'AGENCY')", name="ck_tenants_tier"),
        sa.CheckConstraint("used_quota >= 0 AND monthly_quota >= 0", name="ck_tenants_quota_non_negative"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stripe_customer_id"),
        sa.UniqueConstraint("stripe_subscription_id"),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="received", nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "event_id", name="uq_webhook_events_provider_event"),
    )
    op.create_table(
        "api_usage",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("api_key_id", sa.UUID(), nullable=True),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_time", sa.Integer(), nullable=False, comment="milliseconds"),
        sa.Column("timestamp", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_api_usage_tenant_key_timestamp", "api_usage", ["tenant_id", "api_key_id", "timestamp"], unique=False
    )
    op.create_index("ix_api_usage_tenant_timestamp", "api_usage", ["tenant_id", "timestamp"], unique=False)
    op.create_table(
        "generations",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("date", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "trends", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("is_favorite", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("trend_text", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_generations_tenant_date", "generations", ["tenant_id", sa.literal_column("date DESC")], unique=False
    )
    op.create_index("ix_generations_tenant_favorite", "generations", ["tenant_id", "is_favorite"], unique=False)
    op.create_index(
        "ix_generations_trend_text_trgm",
        "generations",
        ["trend_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"trend_text": "gin_trgm_ops"},
    )
    op.create_table(
        "job_queue",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("job_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="5", nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'running', 'completed', 'failed')", name="ck_jobs_status"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_jobs_tenant_status_priority",
        "job_queue",
        ["tenant_id", "status", "priority", "scheduled_for"],
        unique=False,
    )
    op.create_index("ix_jobs_tenant_type_status", "job_queue", ["tenant_id", "job_type", "status"], unique=False)
    op.create_table(
        "reflexion_insights",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("pattern", sa.Text(), nullable=False),
        sa.Column("evidence_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("impact", sa.String(length=8), nullable=False),
        sa.Column("recommendation", sa.Text(), nullable=False),
        sa.Column("applied_to_scoring", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("discovered_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("impact IN ('positive', 'negative', 'neutral')", name="ck_insights_impact"),
        sa.CheckConstraint("evidence_count >= 1", name="ck_insights_evidence"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "category", "platform", "pattern", name="uq_insights_pattern"),
    )
    op.create_index(
        "ix_insights_tenant_applied", "reflexion_insights", ["tenant_id", "applied_to_scoring"], unique=False
    )
    op.create_index(
        "ix_insights_tenant_last_seen",
        "reflexion_insights",
        ["tenant_id", sa.literal_column("last_seen_at DESC")],
        unique=False,
    )
    op.create_table(
        "score_models",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("weights", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("source", sa.String(length=32), server_default="initial", nullable=False),
        sa.Column("based_on_version", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("version >= 1", name="ck_score_models_version"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "version"),
    )
    op.create_table(
        "social_accounts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False, comment="encrypted at rest (never plaintext)"),
        sa.Column("refresh_token", sa.Text(), nullable=True, comment="encrypted at rest (never plaintext)"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("daily_limit", sa.Integer(), server_default="10", nullable=False),
        sa.Column("used_today", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_reset", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("niche", sa.String(length=64), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_social_accounts_tenant_id_id"),
        sa.UniqueConstraint("tenant_id", "platform", "username", name="uq_social_accounts_handle"),
    )
    op.create_index(
        "ix_social_accounts_tenant_platform_active",
        "social_accounts",
        ["tenant_id", "platform", "is_active"],
        unique=False,
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("clerk_id", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("image_url", sa.String(length=2048), nullable=True),
        sa.Column("role", sa.String(length=16), server_default="MEMBER", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.CheckConstraint("role IN ('ADMIN', 'MEMBER')", name="ck_users_role"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clerk_id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_users_tenant_id_id"),
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.String(length=100), server_default="default", nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "scopes", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
        sa.UniqueConstraint("prefix"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"], unique=False)
    op.create_table(
        "concepts",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("generation_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("trend_source", sa.String(length=500), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "category IN ('news', 'absurd', 'luxury', 'emotional', 'tech', 'cartoon', 'gaming', 'fitness', 'food', 'finance', 'music', 'relationships')",
            name="ck_concepts_category",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "generation_id"], ["generations.tenant_id", "generations.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index("ix_concepts_generation", "concepts", ["tenant_id", "generation_id", "position"], unique=False)
    op.create_index(
        "ix_concepts_search_text_trgm",
        "concepts",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index("ix_concepts_tenant_category", "concepts", ["tenant_id", "category"], unique=False)
    op.create_table(
        "performance_feedback",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("concept_id", sa.String(length=64), nullable=False),
        sa.Column("concept_title", sa.String(length=500), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("variant_id", sa.String(length=64), nullable=True),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("likes", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.BigInteger(), nullable=False),
        sa.Column("comments", sa.BigInteger(), nullable=False),
        sa.Column("engagement_rate", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("data_source", sa.String(length=16), server_default="manual", nullable=False),
        sa.CheckConstraint(
            "category IN ('news', 'absurd', 'luxury', 'emotional', 'tech', 'cartoon', 'gaming', 'fitness', 'food', 'finance', 'music', 'relationships')",
            name="ck_feedback_category",
        ),
        sa.CheckConstraint("data_source IN ('manual', 'scraped', 'api', 'import')", name="ck_feedback_source"),
        sa.CheckConstraint("platform IN ('tiktok', 'youtube-shorts', 'instagram-reels')", name="ck_feedback_platform"),
        sa.CheckConstraint("views >= 0 AND likes >= 0 AND shares >= 0 AND comments >= 0", name="ck_feedback_counts"),
        sa.ForeignKeyConstraint(["tenant_id", "concept_id"], ["concepts.tenant_id", "concepts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index("ix_feedback_tenant_category", "performance_feedback", ["tenant_id", "category"], unique=False)
    op.create_index("ix_feedback_tenant_concept", "performance_feedback", ["tenant_id", "concept_id"], unique=False)
    op.create_index(
        "ix_feedback_tenant_platform_reported",
        "performance_feedback",
        ["tenant_id", "platform", "reported_at"],
        unique=False,
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("concept_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("video_url", sa.String(length=2048), nullable=True),
        sa.Column("cdn_url", sa.String(length=2048), nullable=True),
        sa.Column("thumbnail_url", sa.String(length=2048), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("generation_cost", sa.Numeric(precision=10, scale=4), server_default="0", nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.CheckConstraint("platform IN ('tiktok', 'youtube-shorts', 'instagram-reels')", name="ck_videos_platform"),
        sa.CheckConstraint("generation_cost >= 0", name="ck_videos_cost"),
        sa.ForeignKeyConstraint(["tenant_id", "concept_id"], ["concepts.tenant_id", "concepts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_videos_tenant_id_id"),
    )
    op.create_index("ix_videos_tenant_concept", "videos", ["tenant_id", "concept_id"], unique=False)
    op.create_index("ix_videos_tenant_platform", "videos", ["tenant_id", "platform"], unique=False)
    op.create_index("ix_videos_tenant_status", "videos", ["tenant_id", "status"], unique=False)
    op.create_table(
        "analytics_snapshots",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("video_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("likes", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.BigInteger(), nullable=False),
        sa.Column("comments", sa.BigInteger(), nullable=False),
        sa.Column("watch_time", sa.Integer(), nullable=True),
        sa.Column("engagement_rate", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id", "video_id"], ["videos.tenant_id", "videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_snapshots_tenant_platform_at", "analytics_snapshots", ["tenant_id", "platform", "snapshot_at"], unique=False
    )
    op.create_index(
        "ix_snapshots_tenant_video_at", "analytics_snapshots", ["tenant_id", "video_id", "snapshot_at"], unique=False
    )
    op.create_table(
        "self_critiques",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("concept_id", sa.String(length=64), nullable=False),
        sa.Column("feedback_id", sa.String(length=64), nullable=True),
        sa.Column("performance_gap", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("critique", sa.Text(), nullable=False),
        sa.Column("hypothesized_reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("scoring_issues", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("adjustment_plan", sa.Text(), nullable=False),
        sa.Column("confidence_level", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("confidence_level IN ('low', 'medium', 'high')", name="ck_critiques_confidence"),
        sa.ForeignKeyConstraint(["tenant_id", "concept_id"], ["concepts.tenant_id", "concepts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "feedback_id"],
            ["performance_feedback.tenant_id", "performance_feedback.id"],
            ondelete="SET NULL (feedback_id)",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "concept_id", "feedback_id", name="uq_critiques_concept_feedback"),
    )
    op.create_index("ix_critiques_tenant_concept", "self_critiques", ["tenant_id", "concept_id"], unique=False)
    op.create_index("ix_critiques_tenant_confidence", "self_critiques", ["tenant_id", "confidence_level"], unique=False)
    op.create_index("ix_critiques_tenant_created", "self_critiques", ["tenant_id", "created_at"], unique=False)
    op.create_index(
        "ix_critiques_tenant_unapplied",
        "self_critiques",
        ["tenant_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("applied_at IS NULL"),
    )
    op.create_table(
        "social_posts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("video_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("post_url", sa.String(length=2048), nullable=True),
        sa.Column("platform_post_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "account_id"], ["social_accounts.tenant_id", "social_accounts.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tenant_id", "video_id"], ["videos.tenant_id", "videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_social_posts_tenant_account_status", "social_posts", ["tenant_id", "account_id", "status"], unique=False
    )
    op.create_index(
        "ix_social_posts_tenant_platform_posted", "social_posts", ["tenant_id", "platform", "posted_at"], unique=False
    )
    op.create_index("ix_social_posts_tenant_video", "social_posts", ["tenant_id", "video_id"], unique=False)
    op.create_table(
        "scoring_adjustments",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("critique_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("adjustment_type", sa.String(length=32), nullable=False),
        sa.Column("old_value", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("new_value", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("score_model_version", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "adjustment_type IN ('category-weight', 'hook-effectiveness', 'platform-multiplier', 'recency-boost')",
            name="ck_adjustments_type",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "critique_id"], ["self_critiques.tenant_id", "self_critiques.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
    )
    op.create_index(
        "ix_adjustments_tenant_applied",
        "scoring_adjustments",
        ["tenant_id", sa.literal_column("applied_at DESC")],
        unique=False,
    )
    op.create_index("ix_adjustments_tenant_category", "scoring_adjustments", ["tenant_id", "category"], unique=False)
    op.create_index("ix_adjustments_tenant_critique", "scoring_adjustments", ["tenant_id", "critique_id"], unique=False)
    _secure()


def downgrade() -> None:
    op.drop_index("ix_adjustments_tenant_critique", table_name="scoring_adjustments")
    op.drop_index("ix_adjustments_tenant_category", table_name="scoring_adjustments")
    op.drop_index("ix_adjustments_tenant_applied", table_name="scoring_adjustments")
    op.drop_table("scoring_adjustments")
    op.drop_index("ix_social_posts_tenant_video", table_name="social_posts")
    op.drop_index("ix_social_posts_tenant_platform_posted", table_name="social_posts")
    op.drop_index("ix_social_posts_tenant_account_status", table_name="social_posts")
    op.drop_table("social_posts")
    op.drop_index(
        "ix_critiques_tenant_unapplied", table_name="self_critiques", postgresql_where=sa.text("applied_at IS NULL")
    )
    op.drop_index("ix_critiques_tenant_created", table_name="self_critiques")
    op.drop_index("ix_critiques_tenant_confidence", table_name="self_critiques")
    op.drop_index("ix_critiques_tenant_concept", table_name="self_critiques")
    op.drop_table("self_critiques")
    op.drop_index("ix_snapshots_tenant_video_at", table_name="analytics_snapshots")
    op.drop_index("ix_snapshots_tenant_platform_at", table_name="analytics_snapshots")
    op.drop_table("analytics_snapshots")
    op.drop_index("ix_videos_tenant_status", table_name="videos")
    op.drop_index("ix_videos_tenant_platform", table_name="videos")
    op.drop_index("ix_videos_tenant_concept", table_name="videos")
    op.drop_table("videos")
    op.drop_index("ix_feedback_tenant_platform_reported", table_name="performance_feedback")
    op.drop_index("ix_feedback_tenant_concept", table_name="performance_feedback")
    op.drop_index("ix_feedback_tenant_category", table_name="performance_feedback")
    op.drop_table("performance_feedback")
    op.drop_index("ix_concepts_tenant_category", table_name="concepts")
    op.drop_index(
        "ix_concepts_search_text_trgm",
        table_name="concepts",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index("ix_concepts_generation", table_name="concepts")
    op.drop_table("concepts")
    op.drop_index("ix_api_keys_tenant_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_users_tenant_id", table_name="users")
    op.drop_table("users")
    op.drop_index("ix_social_accounts_tenant_platform_active", table_name="social_accounts")
    op.drop_table("social_accounts")
    op.drop_table("score_models")
    op.drop_index("ix_insights_tenant_last_seen", table_name="reflexion_insights")
    op.drop_index("ix_insights_tenant_applied", table_name="reflexion_insights")
    op.drop_table("reflexion_insights")
    op.drop_index("ix_jobs_tenant_type_status", table_name="job_queue")
    op.drop_index("ix_jobs_tenant_status_priority", table_name="job_queue")
    op.drop_table("job_queue")
    op.drop_index(
        "ix_generations_trend_text_trgm",
        table_name="generations",
        postgresql_using="gin",
        postgresql_ops={"trend_text": "gin_trgm_ops"},
    )
    op.drop_index("ix_generations_tenant_favorite", table_name="generations")
    op.drop_index("ix_generations_tenant_date", table_name="generations")
    op.drop_table("generations")
    op.drop_index("ix_api_usage_tenant_timestamp", table_name="api_usage")
    op.drop_index("ix_api_usage_tenant_key_timestamp", table_name="api_usage")
    op.drop_table("api_usage")
    op.drop_table("webhook_events")
    op.drop_table("tenants")
    op.drop_index("ix_system_metrics_type_recorded", table_name="system_metrics")
    op.drop_table("system_metrics")
    op.drop_index("ix_competitor_videos_category_engagement", table_name="competitor_videos")
    op.drop_table("competitor_videos")
    op.drop_table("audio_trends")
    op.execute(f"REVOKE SELECT ON alembic_version FROM {RUNTIME_ROLE}")
    for role in (RUNTIME_ROLE, SYSTEM_ROLE):
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
    # Roles are cluster-wide and may serve other databases, so they stay; everything they were granted here is gone.

"""The autopilot: per-tenant settings, the concepts it picked each day (rendered once) and the accounts their videos
were posted to (posted once).

Every table is tenant-owned with forced row-level security. The system role may read, of the settings, only which
tenants have the autopilot on (tenant id and the flag), so the schedule can list them without seeing anything else.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

RUNTIME_ROLE = "viral_app"
SYSTEM_ROLE = "viral_system"
TENANT_POLICY = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
TABLES = ("autopilot_settings", "autopilot_picks", "autopilot_posts")
PLATFORMS = "platform IN ('tiktok', 'youtube-shorts', 'instagram-reels')"


def _timestamps() -> list[sa.Column[sa.DateTime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "autopilot_settings",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("videos_per_day", sa.Integer(), server_default="3", nullable=False),
        sa.Column("account_ids", postgresql.ARRAY(sa.UUID()), nullable=True),
        sa.Column("exploration_share", sa.Numeric(4, 3), nullable=True),
        sa.Column("distribution", sa.String(length=16), server_default="round_robin", nullable=False),
        sa.Column("posting", sa.String(length=16), server_default="asap", nullable=False),
        sa.Column(
            "posting_hours", postgresql.ARRAY(sa.Integer()), server_default=sa.text("'{}'::integer[]"), nullable=False
        ),
        sa.Column("run_lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "last_run", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        *_timestamps(),
        sa.CheckConstraint("videos_per_day BETWEEN 1 AND 20", name="ck_autopilot_videos_per_day"),
        sa.CheckConstraint("exploration_share BETWEEN 0 AND 1", name="ck_autopilot_exploration_share"),
        sa.CheckConstraint("distribution IN ('round_robin', 'all_accounts')", name="ck_autopilot_distribution"),
        sa.CheckConstraint("posting IN ('asap', 'hours')", name="ck_autopilot_posting"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )

    op.create_table(
        "autopilot_picks",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("concept_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Numeric(6, 2), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="picked", nullable=False),
        sa.Column("video_id", sa.UUID(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("slot >= 0", name="ck_autopilot_picks_slot"),
        sa.CheckConstraint("kind IN ('top', 'exploration')", name="ck_autopilot_picks_kind"),
        sa.CheckConstraint(
            "status IN ('picked', 'rendering', 'posted', 'refused', 'failed')", name="ck_autopilot_picks_status"
        ),
        sa.CheckConstraint(PLATFORMS, name="ck_autopilot_picks_platform"),
        sa.ForeignKeyConstraint(["tenant_id", "concept_id"], ["concepts.tenant_id", "concepts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "day", "slot", name="uq_autopilot_picks_day_slot"),
        sa.UniqueConstraint("tenant_id", "concept_id", name="uq_autopilot_picks_concept"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_autopilot_picks_tenant_id_id"),
    )
    op.create_index("ix_autopilot_picks_tenant_status", "autopilot_picks", ["tenant_id", "status"])

    op.create_table(
        "autopilot_posts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("pick_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("post_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="claimed", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("status IN ('claimed', 'scheduled', 'failed')", name="ck_autopilot_posts_status"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "pick_id"], ["autopilot_picks.tenant_id", "autopilot_picks.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "pick_id", "account_id", name="uq_autopilot_posts_pick_account"),
    )

    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            f"USING (tenant_id = {TENANT_POLICY}) WITH CHECK (tenant_id = {TENANT_POLICY})"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {RUNTIME_ROLE}")
    # The schedule's listing: which tenants have the autopilot on, nothing more.
    op.execute(f"GRANT SELECT (tenant_id, enabled) ON autopilot_settings TO {SYSTEM_ROLE}")
    op.execute(f"CREATE POLICY system_enabled_read ON autopilot_settings FOR SELECT TO {SYSTEM_ROLE} USING (true)")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)

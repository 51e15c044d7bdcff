"""Token buckets shared by every Lambda that calls a platform's analytics APIs: one row per app (YouTube's daily
units, TikTok's requests a minute) and one per connected account (its user token).

App-wide data, not tenant data: a row holds a key (`tiktok:app:<client key>`, `tiktok:account:<account id>`), its
capacity, refill rate, tokens, window end and pause, and nothing a tenant wrote. Like social_app_usage (0010) the
table is global and has no tenant_id, so row-level security does not apply; the runtime role may read, add and
update rows (never delete them), and the system role may also delete stale account rows.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

RUNTIME_ROLE = "viral_app"
SYSTEM_ROLE = "viral_system"


def upgrade() -> None:
    op.create_table(
        "platform_budgets",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("capacity", sa.Float(), nullable=False),
        sa.Column("refill_per_s", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resets_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pause_reason", sa.String(length=200), nullable=True),
        sa.CheckConstraint("tokens >= 0 AND capacity >= 0 AND refill_per_s >= 0", name="ck_platform_budgets_amounts"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON platform_budgets TO {RUNTIME_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON platform_budgets TO {SYSTEM_ROLE}")


def downgrade() -> None:
    op.drop_table("platform_budgets")

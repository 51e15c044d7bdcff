"""Concept engine: the shared trend cache, the per-tenant daily generation switch, idempotent job keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RUNTIME_ROLE = "viral_app"
SYSTEM_ROLE = "viral_system"


def upgrade() -> None:
    op.add_column(
        "tenants", sa.Column("daily_generation_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.create_table(
        "trend_snapshots",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("region", sa.String(length=8), server_default="US", nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("trends", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sources", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_trend_snapshots_region_fetched", "trend_snapshots", ["region", sa.literal_column("fetched_at DESC")]
    )
    op.add_column("job_queue", sa.Column("idempotency_key", sa.String(length=200), nullable=True))
    op.create_unique_constraint("uq_jobs_idempotency", "job_queue", ["tenant_id", "idempotency_key"])
    # Trends are public data, not a tenant's: any request may read the cache and refresh it.
    op.execute(f"GRANT SELECT, INSERT ON trend_snapshots TO {RUNTIME_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, DELETE ON trend_snapshots TO {SYSTEM_ROLE}")


def downgrade() -> None:
    op.drop_constraint("uq_jobs_idempotency", "job_queue", type_="unique")
    op.drop_column("job_queue", "idempotency_key")
    op.drop_index("ix_trend_snapshots_region_fetched", table_name="trend_snapshots")
    op.drop_table("trend_snapshots")
    op.drop_column("tenants", "daily_generation_enabled")

"""Analytics snapshots of published posts at fixed ages, and feedback derived from them.

analytics_snapshots (RLS forced since 0001) was never written by any code: it is reshaped here around posts
instead of videos (one snapshot per post and age bucket, the platform's raw answer, normalised figures and the
definition they follow). performance_feedback gains the snapshot a derived entry came from, and one derived entry
per concept and platform.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BUCKETS = "bucket IN ('1h', '6h', '24h', '72h', '7d', '30d')"
OLD_COLUMNS = ("video_id", "watch_time", "engagement_rate", "snapshot_at")
NEW_COLUMNS = (
    ("views", sa.BigInteger()),
    ("likes", sa.BigInteger()),
    ("shares", sa.BigInteger()),
    ("comments", sa.BigInteger()),
)


def upgrade() -> None:
    op.execute("DELETE FROM analytics_snapshots")  # never written: nothing to keep
    for name in OLD_COLUMNS:  # their indexes and the foreign key to videos go with them
        op.drop_column("analytics_snapshots", name)
    for name, kind in NEW_COLUMNS:  # counts are absent when a platform has not reported them yet
        op.alter_column("analytics_snapshots", name, existing_type=kind, nullable=True)
    op.add_column("analytics_snapshots", sa.Column("post_id", sa.UUID(), nullable=False))
    op.add_column("analytics_snapshots", sa.Column("bucket", sa.String(length=8), nullable=False))
    op.add_column("analytics_snapshots", sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False))
    op.add_column("analytics_snapshots", sa.Column("saves", sa.BigInteger(), nullable=True))
    op.add_column("analytics_snapshots", sa.Column("watch_time_s", sa.Numeric(14, 2), nullable=True))
    op.add_column("analytics_snapshots", sa.Column("avg_view_duration_s", sa.Numeric(10, 2), nullable=True))
    op.add_column("analytics_snapshots", sa.Column("completion_rate", sa.Numeric(6, 4), nullable=True))
    op.add_column("analytics_snapshots", sa.Column("methodology", sa.String(length=120), nullable=False))
    op.add_column(
        "analytics_snapshots",
        sa.Column("collected_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_foreign_key(
        "fk_snapshots_post",
        "analytics_snapshots",
        "social_posts",
        ["tenant_id", "post_id"],
        ["tenant_id", "id"],
        ondelete="CASCADE",
    )
    op.create_check_constraint("ck_snapshots_bucket", "analytics_snapshots", BUCKETS)
    op.create_unique_constraint("uq_snapshots_post_bucket", "analytics_snapshots", ["tenant_id", "post_id", "bucket"])
    op.create_unique_constraint("uq_snapshots_tenant_id_id", "analytics_snapshots", ["tenant_id", "id"])
    op.create_index("ix_snapshots_tenant_collected", "analytics_snapshots", ["tenant_id", "collected_at"])

    op.add_column("performance_feedback", sa.Column("snapshot_id", sa.UUID(), nullable=True))
    op.create_index(
        "uq_feedback_derived",
        "performance_feedback",
        ["tenant_id", "concept_id", "platform"],
        unique=True,
        postgresql_where=sa.text("data_source = 'api'"),
    )


def downgrade() -> None:
    op.drop_index("uq_feedback_derived", table_name="performance_feedback")
    op.drop_column("performance_feedback", "snapshot_id")
    op.execute("DELETE FROM analytics_snapshots")
    op.drop_index("ix_snapshots_tenant_collected", table_name="analytics_snapshots")
    op.drop_constraint("uq_snapshots_tenant_id_id", "analytics_snapshots", type_="unique")
    op.drop_constraint("uq_snapshots_post_bucket", "analytics_snapshots", type_="unique")
    op.drop_constraint("ck_snapshots_bucket", "analytics_snapshots", type_="check")
    op.drop_constraint("fk_snapshots_post", "analytics_snapshots", type_="foreignkey")
    for name in (
        "collected_at",
        "methodology",
        "completion_rate",
        "avg_view_duration_s",
        "watch_time_s",
        "saves",
        "raw",
        "bucket",
        "post_id",
    ):
        op.drop_column("analytics_snapshots", name)
    for name, kind in NEW_COLUMNS:
        op.alter_column("analytics_snapshots", name, existing_type=kind, nullable=False)
    op.add_column("analytics_snapshots", sa.Column("video_id", sa.UUID(), nullable=False))
    op.add_column("analytics_snapshots", sa.Column("watch_time", sa.Integer(), nullable=True))
    op.add_column("analytics_snapshots", sa.Column("engagement_rate", sa.Numeric(10, 4), nullable=False))
    op.add_column(
        "analytics_snapshots",
        sa.Column("snapshot_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_foreign_key(
        None, "analytics_snapshots", "videos", ["tenant_id", "video_id"], ["tenant_id", "id"], ondelete="CASCADE"
    )
    op.create_index("ix_snapshots_tenant_platform_at", "analytics_snapshots", ["tenant_id", "platform", "snapshot_at"])
    op.create_index("ix_snapshots_tenant_video_at", "analytics_snapshots", ["tenant_id", "video_id", "snapshot_at"])

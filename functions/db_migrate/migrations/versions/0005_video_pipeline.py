"""Video pipeline: video state machine, media objects and provider jobs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

IN_FLIGHT = "status IN ('queued', 'submitting', 'rendering', 'downloading', 'validating')"
STATUSES = "status IN ('queued', 'submitting', 'rendering', 'downloading', 'validating', 'ready', 'failed')"

NEW_COLUMNS = (
    ("provider_job_id", sa.String(length=255), None),
    ("provider_chain", postgresql.JSONB(astext_type=sa.Text()), sa.text("'[]'::jsonb")),
    ("provider_history", postgresql.JSONB(astext_type=sa.Text()), sa.text("'[]'::jsonb")),
    ("step", sa.Integer(), sa.text("0")),
    ("attempts", sa.Integer(), sa.text("0")),
    ("lease_until", sa.DateTime(timezone=True), None),
    ("submitted_at", sa.DateTime(timezone=True), None),
    ("next_poll_at", sa.DateTime(timezone=True), None),
    ("s3_key", sa.String(length=1024), None),
    ("source_etag", sa.String(length=128), None),
    ("duration_s", sa.Numeric(precision=10, scale=3), None),
    ("width", sa.Integer(), None),
    ("height", sa.Integer(), None),
    ("codec", sa.String(length=32), None),
    ("size_bytes", sa.BigInteger(), None),
    ("quality_report", postgresql.JSONB(astext_type=sa.Text()), None),
)


def upgrade() -> None:
    op.add_column("tenants", sa.Column("monthly_video_quota", sa.Integer(), server_default="3", nullable=False))
    op.add_column("tenants", sa.Column("used_video_quota", sa.Integer(), server_default="0", nullable=False))
    op.create_check_constraint(
        "ck_tenants_video_quota_non_negative", "tenants", "used_video_quota >= 0 AND monthly_video_quota >= 0"
    )

    for name, type_, default in NEW_COLUMNS:
        op.add_column("videos", sa.Column(name, type_, server_default=default, nullable=default is None))
    # Uploads need not belong to a concept.
    op.alter_column("videos", "concept_id", existing_type=sa.String(length=64), nullable=True)
    op.alter_column("videos", "category", existing_type=sa.String(length=32), nullable=True)
    # Rows written with the original's statuses map onto the state machine before it is enforced.
    op.execute("UPDATE videos SET status = 'ready' WHERE status = 'completed'")
    op.execute("UPDATE videos SET status = 'rendering' WHERE status = 'generating'")
    op.execute(f"UPDATE videos SET status = 'failed' WHERE NOT ({STATUSES})")
    op.create_check_constraint("ck_videos_status", "videos", STATUSES)
    op.create_check_constraint("ck_videos_counters", "videos", "step >= 0 AND attempts >= 0")
    op.create_index("ix_videos_tenant_created", "videos", ["tenant_id", sa.literal_column("created_at DESC")])
    op.create_index(
        "uq_videos_in_flight",
        "videos",
        ["tenant_id", "concept_id", "platform"],
        unique=True,
        postgresql_where=sa.text(IN_FLIGHT),
    )
    op.create_index(
        "uq_videos_upload_source",
        "videos",
        ["tenant_id", "s3_key", "source_etag"],
        unique=True,
        postgresql_where=sa.text("source_etag IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_videos_upload_source", table_name="videos")
    op.drop_index("uq_videos_in_flight", table_name="videos")
    op.drop_index("ix_videos_tenant_created", table_name="videos")
    op.drop_constraint("ck_videos_counters", "videos", type_="check")
    op.drop_constraint("ck_videos_status", "videos", type_="check")
    # Uploads without a concept cannot exist in the older schema.
    op.execute("DELETE FROM videos WHERE concept_id IS NULL OR category IS NULL")
    op.alter_column("videos", "category", existing_type=sa.String(length=32), nullable=False)
    op.alter_column("videos", "concept_id", existing_type=sa.String(length=64), nullable=False)
    for name, _, _ in reversed(NEW_COLUMNS):
        op.drop_column("videos", name)
    op.drop_constraint("ck_tenants_video_quota_non_negative", "tenants", type_="check")
    op.drop_column("tenants", "used_video_quota")
    op.drop_column("tenants", "monthly_video_quota")

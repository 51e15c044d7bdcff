"""Hardening: Clerk deletions are remembered (clerk_tombstones), so a late event cannot undo them; the shared trend
refresh is claimed (trend_refreshes); a video whose submission has an unknown outcome is `reconciling`.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

RUNTIME_ROLE = "viral_app"
SYSTEM_ROLE = "viral_system"


# --- money and vendors: the trend-refresh claim and the video state `reconciling` ---------------------------

VIDEO_IN_FLIGHT_0005 = "status IN ('queued', 'submitting', 'rendering', 'downloading', 'validating')"
VIDEO_STATUSES_0005 = "status IN ('queued', 'submitting', 'rendering', 'downloading', 'validating', 'ready', 'failed')"
VIDEO_IN_FLIGHT = "status IN ('queued', 'submitting', 'reconciling', 'rendering', 'downloading', 'validating')"
VIDEO_STATUSES = (
    "status IN ('queued', 'submitting', 'reconciling', 'rendering', 'downloading', 'validating', 'ready', 'failed')"
)


def _video_statuses(statuses: str, in_flight: str) -> None:
    op.drop_index("uq_videos_in_flight", table_name="videos")
    op.drop_constraint("ck_videos_status", "videos", type_="check")
    op.create_check_constraint("ck_videos_status", "videos", statuses)
    op.create_index(
        "uq_videos_in_flight",
        "videos",
        ["tenant_id", "concept_id", "platform"],
        unique=True,
        postgresql_where=sa.text(in_flight),
    )


def upgrade_money_and_vendors() -> None:
    op.create_table(
        "trend_refreshes",
        sa.Column("region", sa.String(length=8), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("region"),
    )
    # Trends are public data: any request may claim a refresh (the claim itself limits how often).
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON trend_refreshes TO {RUNTIME_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON trend_refreshes TO {SYSTEM_ROLE}")
    _video_statuses(VIDEO_STATUSES, VIDEO_IN_FLIGHT)


def downgrade_money_and_vendors() -> None:
    # A video whose submission is being reconciled goes back to `submitting`: the older worker never resubmits it.
    op.execute("UPDATE videos SET status = 'submitting' WHERE status = 'reconciling'")
    _video_statuses(VIDEO_STATUSES_0005, VIDEO_IN_FLIGHT_0005)
    op.drop_table("trend_refreshes")


# ------------------------------------------------------------------------------------------------------------


# --- Clerk tombstones: global (Clerk ids are global), read and written by the system role only ---------------


def upgrade_clerk_tombstones() -> None:
    op.create_table(
        "clerk_tombstones",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("clerk_id", sa.String(255), primary_key=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.execute(f"GRANT SELECT, INSERT ON clerk_tombstones TO {SYSTEM_ROLE}")


# ------------------------------------------------------------------------------------------------------------


def upgrade() -> None:
    upgrade_clerk_tombstones()
    upgrade_money_and_vendors()


def downgrade() -> None:
    downgrade_money_and_vendors()
    op.drop_table("clerk_tombstones")

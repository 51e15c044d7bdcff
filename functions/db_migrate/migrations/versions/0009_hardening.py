"""Hardening: Clerk deletions are remembered (clerk_tombstones), so a late event cannot undo them.

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

SYSTEM_ROLE = "viral_system"


def upgrade() -> None:
    # --- Clerk tombstones: global (Clerk ids are global), read and written by the system role only ---------------
    op.create_table(
        "clerk_tombstones",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("clerk_id", sa.String(255), primary_key=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.execute(f"GRANT SELECT, INSERT ON clerk_tombstones TO {SYSTEM_ROLE}")


def downgrade() -> None:
    op.drop_table("clerk_tombstones")

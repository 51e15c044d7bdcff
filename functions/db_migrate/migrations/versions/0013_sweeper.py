"""The sweeper's system path: which videos, jobs and posts look stuck (ids, status and timing columns only).

The sweeper lists stuck work of every tenant in one statement per kind as the system role, then acts on each row
in its tenant's own unit of work. The system role may read only the columns that finding stuck work needs (never
the content: no payload, prompt, caption or error) and changes nothing: every fix runs as the tenant.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SYSTEM_ROLE = "viral_system"
SWEEP_COLUMNS = {
    "videos": "tenant_id, id, status, step, created_at, updated_at",
    "job_queue": "tenant_id, id, job_type, status, attempts, max_attempts, scheduled_for, started_at, created_at",
}


def upgrade() -> None:
    for table, columns in SWEEP_COLUMNS.items():
        op.execute(f"GRANT SELECT ({columns}) ON {table} TO {SYSTEM_ROLE}")
        op.execute(f"CREATE POLICY system_sweep_read ON {table} FOR SELECT TO {SYSTEM_ROLE} USING (true)")
    # social_posts already has a system read policy (DuePosts, 0010); the sweeper also needs when a post last moved.
    op.execute(f"GRANT SELECT (updated_at) ON social_posts TO {SYSTEM_ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE SELECT (updated_at) ON social_posts FROM {SYSTEM_ROLE}")
    for table, columns in SWEEP_COLUMNS.items():
        op.execute(f"DROP POLICY system_sweep_read ON {table}")
        op.execute(f"REVOKE SELECT ({columns}) ON {table} FROM {SYSTEM_ROLE}")

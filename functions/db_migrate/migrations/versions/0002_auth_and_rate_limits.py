"""Authentication and rate limits: per-tenant Clerk memberships, organisation tenants, rate-limit windows,
the system role's narrow rights on API keys (last use) and API usage (batched inserts).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RUNTIME_ROLE = "viral_app"
SYSTEM_ROLE = "viral_system"
TENANT_POLICY = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def upgrade() -> None:
    op.drop_constraint("users_clerk_id_key", "users", type_="unique")
    op.drop_constraint("users_email_key", "users", type_="unique")
    op.alter_column("users", "email", existing_type=sa.String(320), nullable=True)
    op.create_unique_constraint("uq_users_tenant_clerk", "users", ["tenant_id", "clerk_id"])
    op.create_index("ix_users_clerk_id", "users", ["clerk_id"])
    op.add_column("tenants", sa.Column("clerk_org_id", sa.String(255), nullable=True))
    op.create_unique_constraint("tenants_clerk_org_id_key", "tenants", ["clerk_org_id"])

    op.create_table(
        "rate_limits",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("bucket", sa.String(64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "bucket"),
    )
    op.execute("ALTER TABLE rate_limits ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE rate_limits FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON rate_limits "
        f"USING (tenant_id = {TENANT_POLICY}) WITH CHECK (tenant_id = {TENANT_POLICY})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limits TO {RUNTIME_ROLE}")

    # The authorizer finds a key by its hash and stamps its last use in the same statement, as the system role.
    op.execute(f"GRANT UPDATE (last_used_at) ON api_keys TO {SYSTEM_ROLE}")
    op.execute(f"CREATE POLICY system_touch ON api_keys FOR UPDATE TO {SYSTEM_ROLE} USING (true) WITH CHECK (true)")
    # API usage rows of many tenants are flushed in one batched insert; the system role may only add rows.
    op.execute(f"GRANT INSERT ON api_usage TO {SYSTEM_ROLE}")
    op.execute(f"CREATE POLICY system_append ON api_usage FOR INSERT TO {SYSTEM_ROLE} WITH CHECK (true)")


def downgrade() -> None:
    op.execute("DROP POLICY system_append ON api_usage")
    op.execute(f"REVOKE INSERT ON api_usage FROM {SYSTEM_ROLE}")
    op.execute("DROP POLICY system_touch ON api_keys")
    op.execute(f"REVOKE UPDATE (last_used_at) ON api_keys FROM {SYSTEM_ROLE}")
    op.drop_table("rate_limits")
    op.drop_constraint("tenants_clerk_org_id_key", "tenants", type_="unique")
    op.drop_column("tenants", "clerk_org_id")
    op.drop_index("ix_users_clerk_id", table_name="users")
    op.drop_constraint("uq_users_tenant_clerk", "users", type_="unique")
    op.execute("DELETE FROM users WHERE email IS NULL")
    op.alter_column("users", "email", existing_type=sa.String(320), nullable=False)
    op.create_unique_constraint("users_email_key", "users", ["email"])
    op.create_unique_constraint("users_clerk_id_key", "users", ["clerk_id"])

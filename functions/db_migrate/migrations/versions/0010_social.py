"""Social accounts and publishing: account status and token envelope, the post state machine, single-use OAuth
states, per-app usage shared by every tenant, and the system role's narrow due-post path.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

RUNTIME_ROLE = "viral_app"
SYSTEM_ROLE = "viral_system"
TENANT_POLICY = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
PLATFORMS = "platform IN ('tiktok', 'youtube', 'instagram', 'sandbox')"
ACCOUNT_STATUSES = "status IN ('active', 'reconnect_required', 'disconnected')"
POST_STATUSES = "status IN ('scheduled', 'publishing', 'processing', 'published', 'failed', 'unconfirmed', 'canceled')"
JSONB = postgresql.JSONB(astext_type=sa.Text())

ACCOUNT_COLUMNS = (
    ("platform_account_id", sa.String(length=255), None),
    ("display_name", sa.String(length=255), None),
    ("status", sa.String(length=24), sa.text("'active'")),
    ("status_reason", sa.Text(), None),
    ("token_key_id", sa.String(length=255), None),
    ("refresh_expires_at", sa.DateTime(timezone=True), None),
    ("scopes", sa.Text(), None),
    ("capabilities", JSONB, sa.text("'{}'::jsonb")),
    ("refresh_lease", sa.UUID(), None),
    ("refresh_lease_until", sa.DateTime(timezone=True), None),
    ("disconnected_at", sa.DateTime(timezone=True), None),
)
POST_COLUMNS = (
    ("caption", sa.Text(), sa.text("''")),
    ("hashtags", JSONB, sa.text("'[]'::jsonb")),
    ("privacy", sa.String(length=32), None),
    ("disclosure", JSONB, sa.text("'{}'::jsonb")),
    ("job_id", sa.UUID(), None),
    ("step", sa.Integer(), sa.text("0")),
    ("attempts", sa.Integer(), sa.text("0")),
    ("lease_until", sa.DateTime(timezone=True), None),
    ("dispatched_at", sa.DateTime(timezone=True), None),
    ("upload_id", sa.String(length=2048), None),
    ("upload_state", JSONB, sa.text("'{}'::jsonb")),
    ("publishing_started_at", sa.DateTime(timezone=True), None),
    ("error_code", sa.String(length=64), None),
    ("history", JSONB, sa.text("'[]'::jsonb")),
)


def upgrade() -> None:
    # --- accounts -----------------------------------------------------------------------------------------
    for name, type_, default in ACCOUNT_COLUMNS:
        op.add_column("social_accounts", sa.Column(name, type_, server_default=default, nullable=default is None))
    # A disconnected account keeps no token at all.
    op.alter_column("social_accounts", "access_token", existing_type=sa.Text(), nullable=True)
    op.execute("UPDATE social_accounts SET status = 'disconnected' WHERE NOT is_active")
    op.execute(f"DELETE FROM social_accounts WHERE NOT ({PLATFORMS})")
    op.create_check_constraint("ck_social_accounts_platform", "social_accounts", PLATFORMS)
    op.create_check_constraint("ck_social_accounts_status", "social_accounts", ACCOUNT_STATUSES)
    op.create_index(
        "uq_social_accounts_platform_account",
        "social_accounts",
        ["tenant_id", "platform", "platform_account_id"],
        unique=True,
        postgresql_where=sa.text("platform_account_id IS NOT NULL"),
    )

    # --- posts --------------------------------------------------------------------------------------------
    for name, type_, default in POST_COLUMNS:
        op.add_column("social_posts", sa.Column(name, type_, server_default=default, nullable=default is None))
    # The original's statuses map onto the state machine before it is enforced.
    op.execute("UPDATE social_posts SET status = 'scheduled' WHERE status = 'pending'")
    op.execute("UPDATE social_posts SET status = 'published' WHERE status = 'posted'")
    op.execute(f"UPDATE social_posts SET status = 'failed' WHERE NOT ({POST_STATUSES})")
    op.execute(f"DELETE FROM social_posts WHERE NOT ({PLATFORMS})")
    op.alter_column("social_posts", "status", existing_type=sa.String(length=16), server_default="scheduled")
    op.execute("UPDATE social_posts SET scheduled_for = created_at WHERE scheduled_for IS NULL")
    op.alter_column(
        "social_posts",
        "scheduled_for",
        existing_type=sa.DateTime(timezone=True),
        nullable=False,
        server_default=sa.text("now()"),
    )
    op.create_check_constraint("ck_social_posts_status", "social_posts", POST_STATUSES)
    op.create_check_constraint("ck_social_posts_platform", "social_posts", PLATFORMS)
    op.create_check_constraint("ck_social_posts_counters", "social_posts", "step >= 0 AND attempts >= 0")
    op.create_unique_constraint("uq_social_posts_tenant_id_id", "social_posts", ["tenant_id", "id"])
    op.create_index(
        "ix_social_posts_due", "social_posts", ["scheduled_for"], postgresql_where=sa.text("status = 'scheduled'")
    )
    op.create_index(
        "ix_social_posts_tenant_account_scheduled", "social_posts", ["tenant_id", "account_id", "scheduled_for"]
    )
    op.create_index(
        "ix_social_posts_tenant_created", "social_posts", ["tenant_id", sa.literal_column("created_at DESC")]
    )

    # The schedule finds every tenant's due posts in one statement and stamps them dispatched, as the system role:
    # it may read only the columns that finding them needs, and change only `dispatched_at` of scheduled posts.
    op.execute(
        f"GRANT SELECT (tenant_id, id, status, scheduled_for, step, dispatched_at) ON social_posts TO {SYSTEM_ROLE}"
    )
    op.execute(f"GRANT UPDATE (dispatched_at) ON social_posts TO {SYSTEM_ROLE}")
    op.execute(f"CREATE POLICY system_due_read ON social_posts FOR SELECT TO {SYSTEM_ROLE} USING (true)")
    op.execute(
        f"CREATE POLICY system_dispatch ON social_posts FOR UPDATE TO {SYSTEM_ROLE} "
        "USING (status = 'scheduled') WITH CHECK (status = 'scheduled')"
    )

    # --- single-use OAuth states (tenant data) ------------------------------------------------------------
    op.create_table(
        "oauth_states",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(PLATFORMS, name="ck_oauth_states_platform"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "nonce"),
    )
    op.create_index("ix_oauth_states_expires", "oauth_states", ["tenant_id", "expires_at"])
    op.execute("ALTER TABLE oauth_states ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE oauth_states FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON oauth_states "
        f"USING (tenant_id = {TENANT_POLICY}) WITH CHECK (tenant_id = {TENANT_POLICY})"
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON oauth_states TO {RUNTIME_ROLE}")

    # --- per-app budgets shared by every tenant (global on purpose) ---------------------------------------
    op.create_table(
        "social_app_usage",
        sa.Column("budget", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("used >= 0", name="ck_social_app_usage_used"),
        sa.PrimaryKeyConstraint("budget", "window_start"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON social_app_usage TO {RUNTIME_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON social_app_usage TO {SYSTEM_ROLE}")


def downgrade() -> None:
    op.drop_table("social_app_usage")
    op.drop_table("oauth_states")

    op.execute("DROP POLICY system_dispatch ON social_posts")
    op.execute("DROP POLICY system_due_read ON social_posts")
    op.execute(f"REVOKE UPDATE (dispatched_at) ON social_posts FROM {SYSTEM_ROLE}")
    op.execute(
        f"REVOKE SELECT (tenant_id, id, status, scheduled_for, step, dispatched_at) ON social_posts FROM {SYSTEM_ROLE}"
    )
    op.drop_index("ix_social_posts_tenant_created", table_name="social_posts")
    op.drop_index("ix_social_posts_tenant_account_scheduled", table_name="social_posts")
    op.drop_index("ix_social_posts_due", table_name="social_posts")
    op.drop_constraint("uq_social_posts_tenant_id_id", "social_posts", type_="unique")
    op.drop_constraint("ck_social_posts_counters", "social_posts", type_="check")
    op.drop_constraint("ck_social_posts_platform", "social_posts", type_="check")
    op.drop_constraint("ck_social_posts_status", "social_posts", type_="check")
    op.alter_column(
        "social_posts", "scheduled_for", existing_type=sa.DateTime(timezone=True), nullable=True, server_default=None
    )
    op.alter_column("social_posts", "status", existing_type=sa.String(length=16), server_default="pending")
    op.execute("UPDATE social_posts SET status = 'pending' WHERE status IN ('scheduled', 'publishing', 'processing')")
    op.execute("UPDATE social_posts SET status = 'posted' WHERE status = 'published'")
    for name, _, _ in reversed(POST_COLUMNS):
        op.drop_column("social_posts", name)

    op.drop_index("uq_social_accounts_platform_account", table_name="social_accounts")
    op.drop_constraint("ck_social_accounts_status", "social_accounts", type_="check")
    op.drop_constraint("ck_social_accounts_platform", "social_accounts", type_="check")
    # The older schema requires a token on every account: disconnected ones (which hold none) go.
    op.execute("DELETE FROM social_accounts WHERE access_token IS NULL")
    op.alter_column("social_accounts", "access_token", existing_type=sa.Text(), nullable=False)
    for name, _, _ in reversed(ACCOUNT_COLUMNS):
        op.drop_column("social_accounts", name)

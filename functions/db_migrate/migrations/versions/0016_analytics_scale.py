"""Analytics at scale: the hourly schedule finds every tenant's posts due for a snapshot in one statement.

A partial index on published posts by `posted_at` (with the tenant, id and platform included) serves each age
bucket's window of posts. The schedule runs the choice as the system role, which may read of the posts only what
the choice needs (when a post was published and whether the platform gave it an id, besides the tenant, id and
status granted in 0010), and of the snapshots only the post and the bucket: never figures, raw answers, captions or
tokens. The snapshots' unique constraint (tenant_id, post_id, bucket) already serves the "no snapshot yet" probe.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

SYSTEM_ROLE = "viral_system"
INDEX = "ix_social_posts_published_posted"


def upgrade() -> None:
    op.create_index(
        INDEX,
        "social_posts",
        ["posted_at"],
        postgresql_include=["tenant_id", "id", "platform"],
        postgresql_where=sa.text("status = 'published' AND platform_post_id IS NOT NULL"),
    )
    op.execute(f"GRANT SELECT (posted_at, platform_post_id) ON social_posts TO {SYSTEM_ROLE}")
    op.execute(f"GRANT SELECT (tenant_id, post_id, bucket) ON analytics_snapshots TO {SYSTEM_ROLE}")
    op.execute(f"CREATE POLICY system_due_read ON analytics_snapshots FOR SELECT TO {SYSTEM_ROLE} USING (true)")


def downgrade() -> None:
    op.execute("DROP POLICY system_due_read ON analytics_snapshots")
    op.execute(f"REVOKE SELECT (tenant_id, post_id, bucket) ON analytics_snapshots FROM {SYSTEM_ROLE}")
    op.execute(f"REVOKE SELECT (posted_at, platform_post_id) ON social_posts FROM {SYSTEM_ROLE}")
    op.drop_index(INDEX, table_name="social_posts")

"""Billing: Stripe subscriptions, plan quotas and webhook bookkeeping.

Tenants gain their Stripe billing period, the start of the period their quota counts, and the time of the
Stripe and Clerk states last applied to them (so a late, older webhook never overwrites newer state); users gain
the Clerk time of their last applied state. Subscription statuses are limited to Stripe's.

webhook_events needs nothing new: it is global, and only the system role may read and write it (0001).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SUBSCRIPTION_STATUSES = (
    "active",
    "trialing",
    "past_due",
    "canceled",
    "unpaid",
    "incomplete",
    "incomplete_expired",
    "paused",
)


def upgrade() -> None:
    op.add_column("tenants", sa.Column("billing_period_end", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tenants", sa.Column("quota_period_start", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "tenants",
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("tenants", sa.Column("stripe_state_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tenants", sa.Column("clerk_updated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("clerk_updated_at", sa.DateTime(timezone=True), nullable=True))
    # Until this revision only "active" was ever written, so existing rows already satisfy the constraint.
    op.create_check_constraint(
        "ck_tenants_subscription_status",
        "tenants",
        f"subscription_status IN ({', '.join(repr(s) for s in SUBSCRIPTION_STATUSES)})",
    )


def downgrade() -> None:
    op.drop_constraint("ck_tenants_subscription_status", "tenants", type_="check")
    op.drop_column("users", "clerk_updated_at")
    op.drop_column("tenants", "clerk_updated_at")
    op.drop_column("tenants", "stripe_state_at")
    op.drop_column("tenants", "cancel_at_period_end")
    op.drop_column("tenants", "quota_period_start")
    op.drop_column("tenants", "billing_period_end")

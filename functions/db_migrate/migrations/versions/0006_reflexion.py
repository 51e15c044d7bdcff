"""Reflexion: score-model versions name their origin and always hold a weights object.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A score-model version says where it came from, and its weights are always a JSON object.
    op.create_check_constraint(
        "ck_score_models_source", "score_models", "source IN ('initial', 'adjustment', 'rollback')"
    )
    op.create_check_constraint("ck_score_models_weights_object", "score_models", "jsonb_typeof(weights) = 'object'")


def downgrade() -> None:
    op.drop_constraint("ck_score_models_weights_object", "score_models", type_="check")
    op.drop_constraint("ck_score_models_source", "score_models", type_="check")

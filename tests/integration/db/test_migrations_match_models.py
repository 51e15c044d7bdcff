"""The Alembic history and the SQLAlchemy models describe the same schema (no drift either way)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from viral.db.models import Base


def test_models_and_migrations_agree(owner_engine: Engine) -> None:
    with owner_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []

"""Alembic environment: runs on the connection the caller hands over (see viral.db.migrate)."""

from __future__ import annotations

from alembic import context
from viral.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()

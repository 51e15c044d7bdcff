"""Liveness and readiness: is the database reachable and migrated?"""

from __future__ import annotations

import time

from pydantic import Field
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from viral.db.engine import get_engine
from viral.db.uow import translate_database_errors
from viral.errors import DomainError, Retryable
from viral.wire import CamelModel


class Health(CamelModel):
    status: str
    database: str
    schema_revision: str | None = None
    latency_ms: float = Field(ge=0)


def check_health() -> Health:
    """One round trip: the migration revision proves both reachability and schema."""
    started = time.perf_counter()
    try:
        with translate_database_errors(), get_engine().connect() as connection:
            revision = connection.execute(text("select version_num from alembic_version")).scalar_one_or_none()
    except Retryable:
        return Health(status="degraded", database="unreachable", latency_ms=_ms(started))
    except (DomainError, sa_exc.DBAPIError):
        # Reachable, but not ready: not migrated (no alembic_version), the runtime role not created yet, or not granted.
        return Health(status="degraded", database="not ready", latency_ms=_ms(started))
    return Health(status="ok", database="ok", schema_revision=revision, latency_ms=_ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)

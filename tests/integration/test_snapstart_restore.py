"""After a SnapStart restore the runtime engine opens a new connection instead of reusing the snapshot's."""

from __future__ import annotations

from sqlalchemy import URL, text
from viral.db.engine import get_engine
from viral.snapstart import reset_after_restore


def test_the_restore_hook_makes_the_engine_open_a_new_connection(database_url: URL) -> None:
    engine = get_engine()
    with engine.connect() as connection:
        before = connection.execute(text("select pg_backend_pid()")).scalar_one()
    with engine.connect() as connection:
        assert connection.execute(text("select pg_backend_pid()")).scalar_one() == before, "pooled: reused"

    reset_after_restore()

    with engine.connect() as connection:
        after = connection.execute(text("select pg_backend_pid()")).scalar_one()
    assert after != before

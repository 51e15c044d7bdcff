"""Run the Alembic migration history (the same one in tests, `make migrate`, `make run` and the migrate function)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import URL

from viral.db.engine import build_engine
from viral.settings import REPO_ROOT, Settings

DEFAULT_SCRIPTS = REPO_ROOT / "functions" / "db_migrate" / "migrations"


def _config(connection: object, scripts: Path) -> object:
    from alembic.config import Config  # alembic is imported only where migrations run

    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["connection"] = connection
    return config


def upgrade(url: URL, settings: Settings, *, revision: str = "head", scripts: Path = DEFAULT_SCRIPTS) -> str:
    """Upgrade the database at `url` as its owner (not the runtime role); the revision reached."""
    return _run("upgrade", url, settings, revision, scripts)


def downgrade(url: URL, settings: Settings, *, revision: str, scripts: Path = DEFAULT_SCRIPTS) -> str:
    return _run("downgrade", url, settings, revision, scripts)


def _run(direction: str, url: URL, settings: Settings, revision: str, scripts: Path) -> str:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    engine = build_engine(url, settings, runtime_role=None)
    try:
        with engine.begin() as connection:
            getattr(command, direction)(_config(connection, scripts), revision)
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision() or "base"
    finally:
        engine.dispose()


def head_revision(scripts: Path = DEFAULT_SCRIPTS) -> str:
    """The newest revision of the migration history."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(scripts)).get_current_head()
    assert head is not None
    return head

"""Invoked after each deploy (or by hand): upgrade the database to the newest migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.db.engine import database_url
from viral.db.migrate import upgrade
from viral.observability import logger
from viral.settings import get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    revision = upgrade(database_url(settings), settings, scripts=MIGRATIONS)
    logger.info("database migrated", extra={"revision": revision})
    return {"status": "migrated", "revision": revision}

"""After each deploy (a CloudFormation custom resource) or by hand: upgrade the database to the newest migration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.aws import custom_resource
from viral.db.engine import database_url
from viral.db.migrate import upgrade
from viral.observability import logger
from viral.settings import get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PHYSICAL_ID = "viral-database-schema"


def migrate() -> dict[str, str]:
    settings = get_settings()
    revision = upgrade(database_url(settings), settings, scripts=MIGRATIONS)
    logger.info("database migrated", extra={"revision": revision})
    return {"Revision": revision}


def _failure_reason(error: Exception) -> str:
    logger.exception("migration failed")
    # The type only: a driver's message may carry connection details, and stack events are widely readable.
    return f"migration failed ({type(error).__name__}); see the function's log"


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if custom_resource.is_custom_resource_request(event):
        logger.append_keys(request_type=event["RequestType"])
        status = custom_resource.handle(event, context, migrate, physical_id=PHYSICAL_ID, on_error=_failure_reason)
        return {"status": status}
    return {"status": "migrated", "revision": migrate()["Revision"]}

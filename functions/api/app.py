"""API Gateway (REST) proxy events: every /api route, served by one Powertools resolver."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.api.app import build_app
from viral.http.errors import without_base_path
from viral.observability import logger, metrics, tracer
from viral.settings import get_settings
from viral.snapstart import register_after_restore, reset_after_restore

app = build_app()
register_after_restore(reset_after_restore)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(without_base_path(event, get_settings().api_base_path), context)

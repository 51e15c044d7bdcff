"""API Gateway (REST) proxy events: the /api routes, served by one Powertools resolver."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.observability import logger, metrics, tracer
from viral.services.health import check_health

app = APIGatewayRestResolver(enable_validation=True)


@app.get("/api/health")
def health() -> Response[dict[str, Any]]:
    result = check_health()
    status = HTTPStatus.OK if result.status == "ok" else HTTPStatus.SERVICE_UNAVAILABLE
    return Response(status_code=status, content_type="application/json", body=result.wire())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

"""API Gateway POST /api/webhooks/stripe (no authorizer): verify the signature, record once, enqueue, answer 2xx."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from viral.http import json_response, raw_body, register_error_handlers, without_base_path
from viral.observability import logger, metrics, tracer
from viral.services.billing import receive_stripe_webhook
from viral.settings import get_settings

app = APIGatewayRestResolver()
register_error_handlers(app)


@app.post("/api/webhooks/stripe")
def stripe_webhook() -> Response[str]:
    event = app.current_event
    raw = raw_body(event)
    receipt = receive_stripe_webhook(raw, event.headers)
    metrics.add_metric(name=f"StripeWebhook{receipt.status.capitalize()}", unit="Count", value=1)
    return json_response(HTTPStatus.OK, receipt.wire())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(without_base_path(event, get_settings().api_base_path), context)

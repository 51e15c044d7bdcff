"""The one skeleton of an inbound webhook function: raw body in, a receive service, a 2xx receipt out.

Stripe and Clerk (Svix) deliveries reach their own functions without our authorizer: the signature on the exact
raw body is what authenticates them, so the handler hands the untouched bytes and headers to the service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from viral.http.errors import json_response, raw_body, register_error_handlers, without_base_path
from viral.observability import logger, metrics, tracer
from viral.settings import get_settings
from viral.webhooks.payload import WebhookReceipt

Receive = Callable[[bytes, Mapping[str, str] | None], WebhookReceipt]
LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def webhook_function(path: str, receive: Receive, *, metric_prefix: str) -> LambdaHandler:
    """The Lambda handler of `POST path`: `receive(raw_body, headers)` decides; errors map to 4xx/5xx once."""
    app = APIGatewayRestResolver()
    register_error_handlers(app)

    @app.post(path)
    def webhook() -> Response[str]:
        event = app.current_event
        receipt = receive(raw_body(event), event.headers)
        metrics.add_metric(name=f"{metric_prefix}{receipt.status.capitalize()}", unit="Count", value=1)
        return json_response(HTTPStatus.OK, receipt.wire())

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(without_base_path(event, get_settings().api_base_path), context)

    return lambda_handler

"""The Api function's resolver: routers, middlewares and error mapping assembled once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from viral.analytics import routes as analytics_routes
from viral.api.middleware import authenticated
from viral.api.openapi import openapi_document
from viral.autopilot import routes as autopilot_routes
from viral.billing import routes as billing_routes
from viral.content.routes import concepts, generations, history
from viral.http.errors import error_body, register_error_handlers
from viral.http.openapi import answers
from viral.http.rate_limits import use_rate_limiter
from viral.http.requests import RequestRefused, screen
from viral.identity import routes as identity_routes
from viral.imports import routes as import_routes
from viral.learning.routes import feedback, reflexion
from viral.observability import logger
from viral.operations import routes as operations_routes
from viral.operations.health import Health, check_health
from viral.operations.usage import hit_rate_limit
from viral.outbound import routes as outbound_routes
from viral.social import routes as social_routes
from viral.video import routes as video_routes

__all__ = ["ApiResolver", "build_app", "openapi_document"]


class ApiResolver(APIGatewayRestResolver):
    """The REST resolver behind a front door: a request whose body or parameters cannot be read is answered with a
    4xx here, before request validation (which would otherwise answer 500 for some of them)."""

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            readable = screen(dict(event))
        except RequestRefused as refused:
            logger.info("request refused", extra={"status": int(refused.status), "code": refused.code})
            return {
                "statusCode": int(refused.status),
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps(error_body(refused.message, refused.code, refused.details)),
                "isBase64Encoded": False,
            }
        return super().resolve(readable, context)


@cache
def build_app() -> APIGatewayRestResolver:
    """The process's one resolver, built on first use and shared by every caller (the handler, the docs, the CLI).

    The routers are module globals and Powertools binds each to the resolver that includes it: a second resolver
    would take them over, and the first one's routes would then read the second one's (empty) request. So the app
    is built once, and building another over routers already bound elsewhere is refused.
    """
    app = ApiResolver(enable_validation=True)
    register_error_handlers(app, invalid_input=HTTPStatus.UNPROCESSABLE_ENTITY)
    use_rate_limiter(hit_rate_limit)
    app.use(middlewares=[authenticated])

    @app.get(
        "/api/health",
        summary="Liveness and database readiness (no credentials needed)",
        responses={
            **answers(Health),
            503: {"description": "Not ready", "content": {"application/json": {"model": Health}}},
        },
    )
    def health() -> Response[dict[str, Any]]:
        result = check_health()
        status = HTTPStatus.OK if result.status == "ok" else HTTPStatus.SERVICE_UNAVAILABLE
        return Response(status_code=status, content_type="application/json", body=result.wire())

    domain_routes = (history, generations, identity_routes, feedback, operations_routes, concepts, reflexion)
    for module in (
        *domain_routes,
        billing_routes,
        video_routes,
        import_routes,
        outbound_routes,
        social_routes,
        analytics_routes,
        autopilot_routes,
    ):
        if module.router.api_resolver is not None:
            raise RuntimeError(f"{module.__name__}.router already belongs to another resolver")
        app.include_router(module.router)
    return app

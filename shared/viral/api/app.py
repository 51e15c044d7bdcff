"""The Api function's resolver: routers, middlewares and error mapping assembled once."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from viral.api.middleware import authenticated
from viral.billing import routes as billing_routes
from viral.content.routes import concepts, generations, history
from viral.http.errors import register_error_handlers
from viral.identity import routes as identity_routes
from viral.imports import routes as import_routes
from viral.learning.routes import feedback, reflexion
from viral.operations import routes as operations_routes
from viral.operations.health import check_health
from viral.social import routes as social_routes
from viral.video import routes as video_routes

TITLE = "Viral Dashboard API"
VERSION = "1.0.0"


def build_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    register_error_handlers(app)
    app.use(middlewares=[authenticated])

    @app.get("/api/health", summary="Liveness and database readiness (no credentials needed)")
    def health() -> Response[dict[str, Any]]:
        result = check_health()
        status = HTTPStatus.OK if result.status == "ok" else HTTPStatus.SERVICE_UNAVAILABLE
        return Response(status_code=status, content_type="application/json", body=result.wire())

    domain_routes = (history, generations, identity_routes, feedback, operations_routes, concepts, reflexion)
    for module in (*domain_routes, billing_routes, video_routes, import_routes, social_routes):
        app.include_router(module.router)
    return app


def openapi_document(app: APIGatewayRestResolver) -> str:
    """The OpenAPI 3.1 document of the API (written to docs/openapi.json)."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    return app.get_openapi_json_schema(
        title=TITLE,
        version=VERSION,
        description="The Viral Dashboard backend: the original dashboard's /api contract plus new routes.",
        security_schemes={"bearer": HTTPBearer(description="API key (vd_...) or Clerk session token")},
        security=[{"bearer": []}],
    )

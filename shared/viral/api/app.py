"""The Api function's resolver: routers, middlewares and error mapping assembled once."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from viral.api.middleware import authenticated
from viral.api.routes import billing as billing_routes
from viral.api.routes import concepts, feedback, generations, history, jobs, reflexion, user
from viral.api.routes import imports as import_routes
from viral.api.routes import videos as video_routes
from viral.http import register_error_handlers
from viral.services.health import check_health

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

    for module in (history, generations, user, feedback, jobs, concepts, reflexion):
        app.include_router(module.router)
    app.include_router(billing_routes.router)
    app.include_router(video_routes.router)
    app.include_router(import_routes.router)
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

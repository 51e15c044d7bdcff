"""Swagger UI for `make run` only (the deployed API does not serve it): /swagger and /swagger.json."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from local.apigw import ApiGateway, HttpRequest, HttpResponse

DOC_PATHS = frozenset({"/swagger", "/swagger.json"})


class DocsGateway:
    """Serves the API's OpenAPI document and a self-contained Swagger UI in front of the gateway."""

    def __init__(self, gateway: ApiGateway) -> None:
        self.gateway = gateway

    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.method.upper() != "GET" or request.path not in DOC_PATHS:
            return self.gateway.handle(request)
        if request.path == "/swagger.json":
            return HttpResponse(200, [("Content-Type", "application/json")], self._document.encode())
        return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], self._page.encode())

    @cached_property
    def _document(self) -> str:
        from viral.api.app import build_app, openapi_document

        return openapi_document(build_app())

    @cached_property
    def _page(self) -> str:
        from aws_lambda_powertools.event_handler.openapi import swagger_ui
        from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

        assets = Path(swagger_ui.__file__).parent
        return generate_swagger_html(
            self._document,
            (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
            (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
            swagger_base_url="",
            oauth2_config=None,
            persist_authorization=True,
        )

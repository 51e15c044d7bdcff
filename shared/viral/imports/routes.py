"""/api/imports: bring a browser's ViralDashboard data (a Dexie export file) into the tenant."""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from viral.http.access import require_scope
from viral.http.openapi import answers
from viral.http.rate_limits import rate_limited
from viral.imports.service import ImportUpload, ImportView, get_import, request_import

router = Router()


@router.post(
    "/api/imports",
    summary="Start a Dexie import: a presigned URL to PUT the export file to; its upload runs the import",
    middlewares=[rate_limited("imports")],
    responses=answers(ImportUpload, status=201, description="Created"),
)
def create_import() -> Response[dict[str, Any]]:
    require_scope(router, "write")
    upload = request_import()
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type=content_types.APPLICATION_JSON,
        body=upload.model_dump(mode="json", by_alias=True),
    )


@router.get(
    "/api/imports/<import_id>", summary="An import's status and integrity report", responses=answers(ImportView)
)
def read_import(
    import_id: Annotated[uuid.UUID, Path(description="the id POST /api/imports returned")],
) -> dict[str, Any]:
    require_scope(router, "read")
    return get_import(import_id).model_dump(mode="json", by_alias=True)

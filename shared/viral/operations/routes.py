"""/api/jobs: the tenant's asynchronous job ledger."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from viral.http.access import require_scope
from viral.operations.jobs import job_wire, list_jobs

router = Router()


@router.get("/api/jobs", summary="The tenant's jobs, newest first")
def jobs(
    status: Annotated[Literal["pending", "running", "completed", "failed"] | None, Query()] = None,
    job_type: Annotated[str | None, Query(alias="jobType", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    require_scope(router, "read")
    found = list_jobs(limit=limit, offset=offset, status=status, job_type=job_type)
    return {"jobs": [job_wire(j) for j in found], "limit": limit, "offset": offset}

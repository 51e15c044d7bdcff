"""/api/jobs: the tenant's asynchronous job ledger."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from viral.http.access import require_scope
from viral.http.openapi import answers
from viral.operations.jobs import job_wire, list_jobs
from viral.wire import CamelModel

router = Router()
JobStatus = Literal["pending", "running", "completed", "failed"]


class JobAnswer(CamelModel):
    id: str
    job_type: str
    status: JobStatus
    priority: int
    payload: dict[str, Any] | None
    result: dict[str, Any] | None
    error_message: str | None
    attempts: int
    max_attempts: int
    scheduled_for: str | None
    started_at: str | None
    completed_at: str | None
    created_at: str | None


class JobsPage(CamelModel):
    jobs: list[JobAnswer]
    limit: int
    offset: int


@router.get("/api/jobs", summary="The tenant's jobs, newest first", responses=answers(JobsPage))
def jobs(
    status: Annotated[JobStatus | None, Query()] = None,
    job_type: Annotated[str | None, Query(alias="jobType", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    require_scope(router, "read")
    found = list_jobs(limit=limit, offset=offset, status=status, job_type=job_type)
    return {"jobs": [job_wire(j) for j in found], "limit": limit, "offset": offset}

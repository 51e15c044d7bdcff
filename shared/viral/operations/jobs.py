"""The tenant's job ledger as users see it."""

from __future__ import annotations

from typing import Any

from viral.db.uow import unit_of_work
from viral.operations.repository import JobRecord, JobRepository

JOB_STATUSES = ("pending", "running", "completed", "failed")


def job_wire(job: JobRecord) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": str(job.id),
        "jobType": job.job_type,
        "status": job.status,
        "priority": job.priority,
        "payload": job.payload,
        "result": job.result,
        "errorMessage": job.error_message,
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "scheduledFor": iso(job.scheduled_for),
        "startedAt": iso(job.started_at),
        "completedAt": iso(job.completed_at),
        "createdAt": iso(job.created_at),
    }


def list_jobs(
    *, limit: int, offset: int = 0, status: str | None = None, job_type: str | None = None
) -> list[JobRecord]:
    with unit_of_work() as uow:
        return uow.repository(JobRepository).newest(limit=limit, offset=offset, status=status, job_type=job_type)

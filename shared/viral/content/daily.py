"""Daily generation: the schedule lists tenants and enqueues one job each; the worker runs each job once."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from viral.aws.sqs import send
from viral.content.concepts import MAX_CONCEPTS, ConceptRequest
from viral.content.generation import generate
from viral.content.messages import GenerationJobMessage
from viral.content.trends import current_trends
from viral.db.uow import unit_of_work
from viral.errors import QuotaExceeded
from viral.identity.tenant_repository import TenantRecord
from viral.identity.tenants import list_tenants
from viral.observability import logger
from viral.operations.repository import JobRepository
from viral.settings import get_settings
from viral.tenancy import tenant_scope

JOB_TYPE = "generate-concepts"


@dataclass
class ScheduleReport:
    enqueued: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def paced_count(tenant: TenantRecord, now: datetime) -> int:
    """Today's share of the month's concepts left: what remains spread over the days to the quota's reset (at
    least one, at most a full batch), so a tenant generating every day, as the autopilot does, still has concepts
    on the last day of its period instead of spending the month in two days."""
    remaining = max(0, tenant.monthly_quota - tenant.used_quota)
    days_left = max(1, math.ceil((tenant.quota_reset_at - now).total_seconds() / 86_400))
    return min(MAX_CONCEPTS, max(1, math.ceil(remaining / days_left)))


def schedule_daily_generation(*, now: datetime | None = None) -> ScheduleReport:
    """Enqueue today's generation for every tenant that enabled it; one failing tenant never stops the others."""
    now = now or datetime.now(UTC)
    report = ScheduleReport()
    queue_url = get_settings().generation_queue_url
    for tenant in list_tenants(daily_generation_only=True):
        try:
            with tenant_scope(tenant.id):
                with unit_of_work() as uow:
                    count = paced_count(tenant, now)
                    job, _ = uow.repository(JobRepository).enqueue(
                        job_type=JOB_TYPE,
                        payload={"trigger": "daily", "forDate": now.date().isoformat(), "count": count},
                        idempotency_key=f"daily:{now.date().isoformat()}",
                    )
                # A job that exists but is still pending is sent again: the worker runs each job once.
                if job.status == "pending":
                    message = GenerationJobMessage(job_id=job.id, tenant_id=tenant.id, for_date=now.date(), count=count)
                    send(queue_url, message)
            report.enqueued.append(str(tenant.id))
        except Exception as error:  # isolate tenants: record and go on
            logger.exception("daily generation not enqueued", extra={"tenant_id": str(tenant.id)})
            report.failed[str(tenant.id)] = type(error).__name__
    return report


def run_generation_job(message: GenerationJobMessage, *, now: datetime | None = None) -> str:
    """Run one generation job in its tenant's scope, exactly once; the job's final status.

    Claim, work, finish: the claim marks the job running in its own short transaction; the trend cache is warmed
    with no transaction held (gathering trends is network); then one transaction locks the job again, writes the
    concepts, takes the quota and finishes the job, so a duplicate delivery waits on the lock and then sees it
    done, and a crash before that commit leaves nothing half-written (the sweeper retries a job left running).
    Quota exhaustion is permanent (the job fails, the message is acknowledged); other errors propagate so SQS
    retries them.
    """
    with tenant_scope(message.tenant_id):
        claimed = _claim(message.job_id)
        if claimed != "running":
            return claimed
        current_trends()  # network, if the cache is cold: outside any transaction
        with unit_of_work() as uow:
            jobs = uow.repository(JobRepository)
            job = jobs.lock(message.job_id)
            if job is None or job.status in ("completed", "failed"):
                return "missing" if job is None else job.status
            generation_id = str(uuid.uuid5(message.job_id, "generation"))
            try:
                with uow.session.begin_nested():
                    result = generate(
                        ConceptRequest(count=message.count or MAX_CONCEPTS),
                        now=now,
                        generation_id=generation_id,
                        refresh_trends_if_cold=False,
                    )
            except QuotaExceeded as exceeded:
                jobs.finish(job.id, status="failed", error=exceeded.message)
                return "failed"
            jobs.finish(
                job.id,
                status="completed",
                result={
                    "generationId": generation_id,
                    "concepts": len(result.generation.concepts),
                    "quota": result.quota.wire(),
                },
            )
            return "completed"


def _claim(job_id: uuid.UUID) -> str:
    """Mark the job running (its own transaction); its status, or "missing"."""
    with unit_of_work() as uow:
        jobs = uow.repository(JobRepository)
        job = jobs.lock(job_id)
        if job is None:
            logger.warning("generation job not found", extra={"job_id": str(job_id)})
            return "missing"
        if job.status in ("completed", "failed"):
            return job.status
        jobs.start(job_id)
        return "running"

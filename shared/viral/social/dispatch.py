"""The DuePosts schedule (every minute): find every tenant's due posts in one statement and send them to
post-jobs in batches of ten. It does little itself: the worker does the publishing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from viral.aws import client
from viral.db.uow import system_unit_of_work
from viral.errors import Permanent
from viral.observability import logger
from viral.settings import get_settings
from viral.social.messages import PostJobMessage
from viral.social.repository import DuePost, DuePostSystemRepository

BATCH = 10  # SQS SendMessageBatch's limit
LIMIT = 5000  # posts per run; more wait for the next minute
REDISPATCH_S = 600  # a dispatched post still scheduled after this long is sent again (the send or message was lost)


@dataclass
class DispatchReport:
    sent: int = 0
    failed: list[str] = field(default_factory=list)


def dispatch_due_posts(*, now: datetime | None = None, limit: int = LIMIT) -> DispatchReport:
    """Claim the due posts (stamped dispatched in the same statement), then send them after the commit."""
    now = now or datetime.now(UTC)
    with system_unit_of_work() as system:
        due = DuePostSystemRepository(system.session).claim_due(
            until=now + timedelta(seconds=1), limit=limit, redispatch_s=REDISPATCH_S
        )
    return send_batches(due)


def send_batches(due: list[DuePost], *, queue_url: str | None = None) -> DispatchReport:
    """Send the due posts' messages, ten per SendMessageBatch; what was sent and what was not."""
    queue = queue_url or get_settings().post_queue_url
    if not queue:
        raise Permanent("the post queue is not configured")
    report = DispatchReport()
    sqs = client("sqs")
    for start in range(0, len(due), BATCH):
        chunk = due[start : start + BATCH]
        entries = [
            {
                "Id": str(i),
                "MessageBody": PostJobMessage(tenant_id=d.tenant_id, post_id=d.post_id, step=d.step).model_dump_json(
                    by_alias=True
                ),
            }
            for i, d in enumerate(chunk)
        ]
        try:
            answer = sqs.send_message_batch(QueueUrl=queue, Entries=entries)
        except Exception:
            # Stamped but not sent: the schedule finds them again once the stamp is stale.
            logger.warning("a batch of due posts was not sent", exc_info=True)
            report.failed.extend(str(d.post_id) for d in chunk)
            continue
        failed = {int(f["Id"]) for f in answer.get("Failed") or []}
        report.sent += len(chunk) - len(failed)
        report.failed.extend(str(chunk[i].post_id) for i in sorted(failed))
    if report.failed:
        logger.warning(
            "due posts not sent", extra={"count": len(report.failed), "sample": json.dumps(report.failed[:5])}
        )
    return report

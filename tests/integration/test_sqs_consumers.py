"""Every SQS consumer answers a batch whose records all failed (each listed), instead of raising: one poison
message costs one record failure, not a Lambda error that would re-deliver the whole batch."""

from __future__ import annotations

import pytest

from tests.events import LambdaContext, load_event, load_handler

CONSUMERS = {
    "billing_worker": "sqs_billing_stripe_event_v1",
    "generation_worker": "sqs_generation_job_v1",
    "video_worker": "sqs_video_job_v1",
    "reflexion_worker": "sqs_reflexion_job_v1",
    "post_worker": "sqs_post_job_v1",
    "webhook_delivery": "sqs_webhook_deliver_v1",
    "analytics_worker": "sqs_analytics_job_v1",
    "autopilot_worker": "sqs_autopilot_job_v1",
}


@pytest.mark.parametrize("function", sorted(CONSUMERS))
def test_an_all_poison_batch_is_reported_record_by_record(function: str, database_url: object) -> None:
    template = load_event(CONSUMERS[function])["Records"][0]
    poison = [{**template, "messageId": f"poison-{i}", "body": '{"schemaVersion": 99}'} for i in range(3)]
    answer = load_handler(function).lambda_handler({"Records": poison}, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"poison-{i}"} for i in range(3)]}

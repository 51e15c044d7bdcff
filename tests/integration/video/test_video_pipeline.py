"""The video worker: one step per message, safe on duplicates and crashes, polling by re-enqueueing, with fallback.

Real PostgreSQL, moto in process for S3 and SQS, and real local fake vendor servers (httpx is not intercepted
by moto). The worker handler is called with SQS-shaped batches, as Lambda's event source would.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.content import storage
from viral.errors import Retryable
from viral.operations.jobs import list_jobs
from viral.tenancy import tenant_scope
from viral.video.quality import Requirements, inspect
from viral.video.service import request_video

from tests import factories
from tests.events import LambdaContext, load_handler
from tests.fakes.video_vendors import (
    EXPIRED,
    GATEWAY_TIMEOUT,
    KEY,
    RATE_LIMITED,
    UNAVAILABLE,
    FakeLuma,
    FakeRunway,
    FakeVeo,
    sample_mp4,
    video_aws,
)


@pytest.fixture
def worker() -> Any:
    return load_handler("video_worker").lambda_handler


@pytest.fixture
def runway() -> Iterator[FakeRunway]:
    with FakeRunway(polls_until_done=2).running() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def veo() -> Iterator[FakeVeo]:
    with FakeVeo(polls_until_done=1).running() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def luma() -> Iterator[FakeLuma]:
    with FakeLuma(polls_until_done=1).running() as fake:
        yield fake  # type: ignore[misc]


def vendors(**fakes: Any) -> dict[str, str]:
    """Environment pointing the pipeline at the given fakes (veo=..., runway=..., luma=...)."""
    env: dict[str, str] = {}
    if "veo" in fakes:
        env.update(VEO_API_KEY=KEY, VEO_BASE_URL=fakes["veo"].url, VEO_MODEL=fakes["veo"].model)
    if "runway" in fakes:
        env.update(RUNWAY_API_KEY=KEY, RUNWAY_BASE_URL=fakes["runway"].url)
    if "luma" in fakes:
        env.update(LUMA_API_KEY=KEY, LUMA_BASE_URL=fakes["luma"].base_url)
    return env


def concept_of(tenant: uuid.UUID, category: str = "tech") -> str:
    concept = factories.concept(category=category)
    with tenant_scope(tenant):
        storage.save_generation(factories.generation(concepts=[concept]))  # type: ignore[arg-type]
    return str(concept["id"])


def requested(tenant: uuid.UUID, category: str = "tech", **kwargs: Any) -> tuple[str, str]:
    """A concept of the tenant and the id of the video requested for it."""
    concept_id = concept_of(tenant, category)
    with tenant_scope(tenant):
        result = request_video(concept_id, **kwargs)
    return concept_id, str(result.video.id)


def video_row(engine: Engine, video_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        row = connection.execute(text("select * from videos where id = :v"), {"v": video_id}).mappings().one()
    return dict(row)


def used_video_quota(engine: Engine, tenant: uuid.UUID) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(text("select used_video_quota from tenants where id = :t"), {"t": tenant}).scalar_one()
        )


def business_metrics(out: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Business metrics in EMF records printed to stdout: name -> [(dimensions, value)]."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record = json.loads(line)
        [directive] = record["_aws"]["CloudWatchMetrics"]
        dimensions = {name: record[name] for name in directive["Dimensions"][0]} if directive["Dimensions"] else {}
        for metric in directive["Metrics"]:
            if metric["Name"] in ("Videos", "VendorCostUSD"):
                found.setdefault(metric["Name"], []).extend((dimensions, v) for v in record[metric["Name"]])
    return found


def test_without_vendor_keys_the_storyboard_renders_a_checked_mp4_into_s3(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine, worker: Any
) -> None:
    with video_aws(monkeypatch) as aws:
        _, video_id = requested(tenant_a, category="food")
        answers = aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
        stored = aws.object(f"videos/{tenant_a}/{video_id}.mp4")
    assert all(a == {"batchItemFailures": []} for a in answers)
    assert (video["status"], video["provider"]) == ("ready", "storyboard")
    assert (video["width"], video["height"], video["codec"]) == (720, 1280, "h264")
    assert 10 <= float(video["duration_s"]) <= 30
    assert video["size_bytes"] == len(stored)
    assert video["quality_report"]["passed"] is True
    assert float(video["generation_cost"]) == 0.0
    assert inspect(io.BytesIO(stored), len(stored), Requirements()).passed
    with tenant_scope(tenant_a):
        [job] = list_jobs(limit=5, job_type="generate-video")
    assert job.status == "completed"
    assert job.result is not None
    assert job.result["s3Key"] == video["s3_key"]


def test_the_same_message_delivered_twice_submits_once(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine, worker: Any, runway: FakeRunway
) -> None:
    with video_aws(monkeypatch, **vendors(runway=runway)) as aws:
        _, video_id = requested(tenant_a)
        [first] = aws.receive()
        twin = dict(first)
        assert aws.deliver(worker, [first]) == {"batchItemFailures": []}
        assert aws.deliver(worker, [twin]) == {"batchItemFailures": []}  # SQS delivered it again
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert runway.submissions == 1
    assert (video["status"], video["provider"]) == ("ready", "runway")
    assert video["provider_job_id"] in runway.jobs


def test_concurrent_duplicates_submit_once(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine, worker: Any, runway: FakeRunway
) -> None:
    from viral.video.messages import VideoJobMessage
    from viral.video.service import advance_video

    with video_aws(monkeypatch, **vendors(runway=runway)) as aws:
        _, video_id = requested(tenant_a)
        [record] = aws.receive()
        message = VideoJobMessage.model_validate_json(record["body"])
        barrier = threading.Barrier(3)
        outcomes: list[str] = []

        def deliver() -> None:  # three execution environments got the same message at once
            barrier.wait(timeout=10)
            try:
                outcomes.append(advance_video(message))
            except Retryable as busy:
                outcomes.append(f"retry: {busy.message}")

        threads = [threading.Thread(target=deliver) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        aws.delete([record])
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert all(o == "submitted" or o == "stale" or o.startswith("retry") for o in outcomes), outcomes
    assert outcomes.count("submitted") == 1
    assert runway.submissions == 1
    assert video["status"] == "ready"


def test_a_worker_dying_after_the_submission_was_recorded_resumes_without_resubmitting(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine, worker: Any, runway: FakeRunway
) -> None:
    from viral.video import service as videos

    with video_aws(monkeypatch, **vendors(runway=runway)) as aws:
        _, video_id = requested(tenant_a)
        [record] = aws.receive()
        working_send = videos.send

        def dying_send(*args: Any, **kwargs: Any) -> str:
            raise RuntimeError("the execution environment died")

        monkeypatch.setattr(videos, "send", dying_send)
        crashed = worker({"Records": [record]}, LambdaContext())
        after_crash = video_row(owner_engine, video_id)
        monkeypatch.setattr(videos, "send", working_send)
        redelivered = aws.deliver(
            worker, [{**record, "attributes": {**record["attributes"], "ApproximateReceiveCount": "2"}}]
        )
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert crashed == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert (after_crash["status"], after_crash["provider_job_id"]) == ("rendering", next(iter(runway.jobs)))
    assert redelivered == {"batchItemFailures": []}
    assert runway.submissions == 1
    assert video["status"] == "ready"


def test_a_submission_cut_short_before_the_job_id_is_never_sent_to_the_same_vendor_again(
    monkeypatch: pytest.MonkeyPatch,
    tenant_a: uuid.UUID,
    owner_engine: Engine,
    worker: Any,
    runway: FakeRunway,
    luma: FakeLuma,
) -> None:
    with video_aws(monkeypatch, **vendors(runway=runway, luma=luma)) as aws:
        _, video_id = requested(tenant_a, category="food")  # economy: luma, then runway
        with owner_engine.begin() as connection:  # a delivery died while Luma was being asked
            connection.execute(
                text(
                    "update videos set status = 'submitting', lease_until = now() - interval '1 second' where id = :v"
                ),
                {"v": video_id},
            )
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert luma.submissions == 0
    assert runway.submissions == 1
    assert (video["status"], video["provider"]) == ("ready", "runway")
    assert video["provider_history"][0]["provider"] == "luma"
    assert "unknown" in video["provider_history"][0]["reason"]


def test_polls_are_re_enqueued_with_a_delay_until_the_vendor_is_done(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine, worker: Any
) -> None:
    with (
        FakeLuma(polls_until_done=3).running() as luma,
        video_aws(monkeypatch, VIDEO_POLL_INTERVAL_S="1", **vendors(luma=luma)) as aws,
    ):
        _, video_id = requested(tenant_a, category="food")
        aws.run_until_idle(worker, wait_s=3)
        video = video_row(owner_engine, video_id)
    [job] = luma.jobs.values()  # type: ignore[attr-defined]
    delays = [delay for body, delay in aws.sent if body["videoId"] == video_id]
    assert delays == [0, 1, 1, 1], "the request, then one delayed message per poll that found it running"
    assert job.polls == 3
    assert video["status"] == "ready"
    assert video["step"] == 3


def test_a_permanent_failure_falls_back_to_the_next_provider(
    monkeypatch: pytest.MonkeyPatch,
    tenant_a: uuid.UUID,
    owner_engine: Engine,
    worker: Any,
    veo: FakeVeo,
    runway: FakeRunway,
    capsys: pytest.CaptureFixture[str],
) -> None:
    veo.outcome = "filtered"
    capsys.readouterr()
    with video_aws(monkeypatch, **vendors(veo=veo, runway=runway)) as aws:
        _, video_id = requested(tenant_a, category="finance")  # premium: veo, then runway
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert (veo.submissions, runway.submissions) == (1, 1)
    assert (video["status"], video["provider"]) == ("ready", "runway")
    assert [(h["provider"], h["event"]) for h in video["provider_history"]] == [("veo", "failed")]
    assert float(video["generation_cost"]) == pytest.approx(0.05 * float(video["duration_s"]), abs=1e-3)
    emitted = business_metrics(capsys.readouterr().out)
    assert emitted["Videos"] == [({"provider": "runway", "status": "ready"}, 1.0)]
    [(dimensions, cost)] = emitted["VendorCostUSD"]
    assert (dimensions, cost) == ({"provider": "runway"}, pytest.approx(float(video["generation_cost"]), abs=1e-3))


def test_when_every_provider_fails_the_video_fails_with_the_reason_and_the_quota_is_refunded(
    monkeypatch: pytest.MonkeyPatch,
    tenant_a: uuid.UUID,
    owner_engine: Engine,
    worker: Any,
    runway: FakeRunway,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runway.outcome = "fail"
    capsys.readouterr()
    with video_aws(monkeypatch, **vendors(runway=runway)) as aws:
        _, video_id = requested(tenant_a)
        assert used_video_quota(owner_engine, tenant_a) == 1
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert video["status"] == "failed"
    assert business_metrics(capsys.readouterr().out)["Videos"] == [({"provider": "runway", "status": "failed"}, 1.0)]
    assert video["error_message"] == "Input rejected"
    assert used_video_quota(owner_engine, tenant_a) == 0
    with tenant_scope(tenant_a):
        [job] = list_jobs(limit=5, job_type="generate-video")
    assert (job.status, job.error_message) == ("failed", "Input rejected")


def test_a_rate_limited_submission_fails_the_record_so_sqs_retries_it(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine, worker: Any, runway: FakeRunway
) -> None:
    from viral.aws import client

    runway.submit_failures.append(RATE_LIMITED["runway"])
    with video_aws(monkeypatch, **vendors(runway=runway)) as aws:
        _, video_id = requested(tenant_a)
        [record] = aws.receive()
        visibility: list[int] = []
        sqs = client("sqs")
        real_change = sqs.change_message_visibility

        def spy(**kwargs: Any) -> Any:
            visibility.append(kwargs["VisibilityTimeout"])
            return real_change(**kwargs)

        monkeypatch.setattr(sqs, "change_message_visibility", spy)
        answer = worker({"Records": [record]}, LambdaContext())
        after = video_row(owner_engine, video_id)
        again = aws.deliver(
            worker, [{**record, "attributes": {**record["attributes"], "ApproximateReceiveCount": "2"}}]
        )
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert (after["status"], after["provider_job_id"], after["lease_until"]) == ("queued", None, None)
    assert len(visibility) == 1
    assert 10 <= visibility[0] <= 20, "backoff before the second try"
    assert again == {"batchItemFailures": []}
    assert runway.submissions == 1
    assert video["status"] == "ready"


def test_a_vendor_outage_past_the_retry_limit_counts_as_that_provider_failing(
    monkeypatch: pytest.MonkeyPatch,
    tenant_a: uuid.UUID,
    owner_engine: Engine,
    worker: Any,
    veo: FakeVeo,
    runway: FakeRunway,
) -> None:
    with video_aws(monkeypatch, **vendors(veo=veo, runway=runway)) as aws:
        _, video_id = requested(tenant_a)
        [record] = aws.receive()
        aws.deliver(worker, [record])  # veo accepted the job
        veo.poll_failures.extend([UNAVAILABLE] * 5)
        [poll] = aws.receive()
        last_try = {**poll, "attributes": {**poll["attributes"], "ApproximateReceiveCount": "4"}}
        assert aws.deliver(worker, [last_try]) == {"batchItemFailures": []}
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert (video["status"], video["provider"]) == ("ready", "runway")
    assert video["provider_history"][0]["reason"].startswith("kept failing: Veo answered 503")


def test_an_expired_result_url_is_refreshed_by_polling_again(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine, worker: Any, runway: FakeRunway
) -> None:
    runway.download_failures.append(EXPIRED)
    with video_aws(monkeypatch, **vendors(runway=runway)) as aws:
        _, video_id = requested(tenant_a)
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert runway.submissions == 1
    assert video["status"] == "ready"
    assert [h["event"] for h in video["provider_history"]] == ["result-expired"]


def test_a_result_that_fails_the_quality_checks_falls_back(
    monkeypatch: pytest.MonkeyPatch,
    tenant_a: uuid.UUID,
    owner_engine: Engine,
    worker: Any,
    luma: FakeLuma,
    runway: FakeRunway,
) -> None:
    luma.video = sample_mp4(width=1280, height=720)
    with video_aws(monkeypatch, **vendors(luma=luma, runway=runway)) as aws:
        _, video_id = requested(tenant_a, category="food")
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert (video["status"], video["provider"]) == ("ready", "runway")
    assert "aspect" in video["provider_history"][0]["reason"]


def test_a_message_naming_another_tenant_touches_nothing(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine, worker: Any
) -> None:
    with video_aws(monkeypatch) as aws:
        _, video_id = requested(tenant_a)
        [record] = aws.receive()
        body = json.loads(record["body"])
        forged = {**record, "body": json.dumps({**body, "tenantId": str(tenant_b)})}
        answer = worker({"Records": [forged]}, LambdaContext())
        video = video_row(owner_engine, video_id)
    assert answer == {"batchItemFailures": []}
    assert (video["status"], video["attempts"]) == ("queued", 0)


def test_a_malformed_message_fails_alone(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine, worker: Any
) -> None:
    with video_aws(monkeypatch) as aws:
        _, video_id = requested(tenant_a)
        [record] = aws.receive()
        poison = {**record, "messageId": "poison-1", "body": '{"schemaVersion": 99}'}
        answer = worker({"Records": [poison, record]}, LambdaContext())
        video = video_row(owner_engine, video_id)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    assert (video["status"], video["step"]) == ("rendering", 1), "the good record was processed"


def events_of(video: dict[str, Any]) -> list[tuple[str, str]]:
    return [(h["provider"], h["event"]) for h in video["provider_history"]]


def test_a_vendor_that_creates_the_job_and_answers_504_is_asked_once_then_the_video_falls_back(
    monkeypatch: pytest.MonkeyPatch,
    tenant_a: uuid.UUID,
    owner_engine: Engine,
    worker: Any,
    runway: FakeRunway,
    luma: FakeLuma,
) -> None:
    runway.lost_answers.append(GATEWAY_TIMEOUT)  # Runway made the job (and will bill it); its gateway said 504
    with video_aws(monkeypatch, **vendors(runway=runway, luma=luma)) as aws:
        _, video_id = requested(tenant_a, category="tech")  # premium: runway, then luma
        answers = aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert all(a == {"batchItemFailures": []} for a in answers), "an unknown outcome is not an error to retry"
    assert (runway.submit_requests, runway.submissions) == (1, 1)
    assert (luma.submit_requests, luma.submissions) == (1, 1)
    assert (video["status"], video["provider"]) == ("ready", "luma")
    assert events_of(video) == [("runway", "submit-unknown"), ("runway", "failed"), ("runway", "possibly-orphaned")]
    orphan = video["provider_history"][2]
    assert orphan["possibleCost"] == pytest.approx(0.05 * 8), "Runway's price for the 8 s it was asked for"
    assert "cannot list its jobs" in video["provider_history"][1]["reason"]


def test_a_lost_answer_from_a_vendor_that_lists_its_jobs_is_reconciled_without_asking_again(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine, worker: Any, luma: FakeLuma
) -> None:
    luma.lost_answers.append(GATEWAY_TIMEOUT)
    with video_aws(monkeypatch, **vendors(luma=luma)) as aws:
        _, video_id = requested(tenant_a, category="food")
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    [job_id] = luma.jobs
    assert (luma.submit_requests, luma.submissions) == (1, 1)
    assert (video["status"], video["provider"], video["provider_job_id"]) == ("ready", "luma", job_id)
    assert events_of(video) == [("luma", "submit-unknown"), ("luma", "reconciled")]
    assert float(video["generation_cost"]) > 0


def test_a_submission_the_vendor_never_received_is_not_found_and_falls_back_without_asking_again(
    monkeypatch: pytest.MonkeyPatch,
    tenant_a: uuid.UUID,
    owner_engine: Engine,
    worker: Any,
    luma: FakeLuma,
    runway: FakeRunway,
) -> None:
    luma.submit_failures.append(GATEWAY_TIMEOUT)  # a 504 from a gateway that never reached Luma
    with video_aws(monkeypatch, **vendors(luma=luma, runway=runway)) as aws:
        _, video_id = requested(tenant_a, category="food")  # economy: luma, then runway
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert (luma.submit_requests, luma.submissions) == (1, 0)
    assert (video["status"], video["provider"]) == ("ready", "runway")
    assert events_of(video) == [("luma", "submit-unknown"), ("luma", "failed"), ("luma", "possibly-orphaned")]
    assert "not in the vendor's job list" in video["provider_history"][1]["reason"]


def test_without_a_job_list_the_worker_waits_a_bounded_time_before_falling_back(
    monkeypatch: pytest.MonkeyPatch,
    tenant_a: uuid.UUID,
    owner_engine: Engine,
    worker: Any,
    runway: FakeRunway,
    luma: FakeLuma,
) -> None:
    from viral.video.messages import VideoJobMessage
    from viral.video.service import advance_video

    runway.lost_answers.append(GATEWAY_TIMEOUT)
    window = {"VIDEO_RECONCILE_WINDOW_S": "60", "VIDEO_POLL_INTERVAL_S": "1"}
    with video_aws(monkeypatch, **window, **vendors(runway=runway, luma=luma)) as aws:
        _, video_id = requested(tenant_a, category="tech")
        [record] = aws.receive()
        assert aws.deliver(worker, [record]) == {"batchItemFailures": []}
        waiting = video_row(owner_engine, video_id)
        body, delay = aws.sent[-1]
        with owner_engine.begin() as connection:  # the window passes
            connection.execute(
                text("update videos set submitted_at = submitted_at - interval '61 seconds' where id = :v"),
                {"v": video_id},
            )
        with tenant_scope(tenant_a):
            outcome = advance_video(VideoJobMessage.model_validate(body))  # the delayed message arrives
        aws.run_until_idle(worker, wait_s=2)
        video = video_row(owner_engine, video_id)
    assert (waiting["status"], waiting["provider"]) == ("reconciling", "runway")
    assert 58 <= delay <= 60, "one delayed look at the end of the window, no busy polling"
    assert outcome == "fallback"
    assert runway.submit_requests == 1
    assert (video["status"], video["provider"]) == ("ready", "luma")


def test_a_delivery_dying_mid_download_polls_again_for_a_fresh_result(
    monkeypatch: pytest.MonkeyPatch, tenant_a: uuid.UUID, owner_engine: Engine, worker: Any, runway: FakeRunway
) -> None:
    with video_aws(monkeypatch, **vendors(runway=runway)) as aws:
        _, video_id = requested(tenant_a)
        [record] = aws.receive()
        aws.deliver(worker, [record])  # submitted
        [poll] = aws.receive()
        with owner_engine.begin() as connection:  # a delivery took it to downloading, then died
            connection.execute(
                text("update videos set status = 'downloading', lease_until = now() - interval '1 s' where id = :v"),
                {"v": video_id},
            )
        aws.deliver(worker, [poll])
        aws.run_until_idle(worker)
        video = video_row(owner_engine, video_id)
    assert runway.submit_requests == 1
    assert video["status"] == "ready"

"""Veo, Runway and Luma adapters against fake servers speaking each vendor's wire format, failures included."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from viral.errors import Permanent, Retryable
from viral.video.providers import JobState, RenderRequest, ResultExpired, SubmissionUncertain
from viral.video.providers.base import make_vendor_client
from viral.video.providers.luma import LumaProvider
from viral.video.providers.runway import RunwayProvider
from viral.video.providers.veo import VeoProvider

from local.fakes.http_server import Reply
from tests.fakes.video_vendors import (
    EXPIRED,
    GATEWAY_TIMEOUT,
    GONE,
    KEY,
    RATE_LIMITED,
    UNAVAILABLE,
    FakeLuma,
    FakeRunway,
    FakeVeo,
)

REQUEST = RenderRequest(video_id="v-1", title="Cats that do taxes", prompt="vertical video of a cat", category="tech")


@pytest.fixture
def veo() -> Iterator[FakeVeo]:
    with FakeVeo(polls_until_done=2).running() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def runway() -> Iterator[FakeRunway]:
    with FakeRunway(polls_until_done=3).running() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def luma() -> Iterator[FakeLuma]:
    with FakeLuma(polls_until_done=2).running() as fake:
        yield fake  # type: ignore[misc]


def veo_provider(fake: FakeVeo, key: str = KEY, read_s: float = 5.0) -> VeoProvider:
    return VeoProvider(key, base_url=fake.url, model=fake.model, client=make_vendor_client(read_s=read_s))


def runway_provider(fake: FakeRunway, key: str = KEY, read_s: float = 5.0) -> RunwayProvider:
    return RunwayProvider(key, base_url=fake.url, client=make_vendor_client(read_s=read_s))


def luma_provider(fake: FakeLuma, key: str = KEY) -> LumaProvider:
    return LumaProvider(key, base_url=fake.base_url, client=make_vendor_client(read_s=5.0))


def poll_until_done(provider: VeoProvider | RunwayProvider | LumaProvider, job_id: str) -> list[JobState]:
    states = []
    for _ in range(10):
        status = provider.poll(job_id)
        states.append(status.state)
        if status.state != JobState.RUNNING:
            return states
    raise AssertionError("never finished")


# --- Veo ------------------------------------------------------------------------------------------------


def test_veo_runs_an_operation_and_downloads_through_the_redirect_without_leaking_the_key(veo: FakeVeo) -> None:
    provider = veo_provider(veo)
    name = provider.submit(REQUEST)
    assert name.startswith(f"models/{veo.model}/operations/")
    [submit] = [r for r in veo.server.requests if r.method == "POST"]
    assert json.loads(submit.body)["parameters"]["aspectRatio"] == "9:16"
    assert poll_until_done(provider, name) == [JobState.RUNNING, JobState.SUCCEEDED]
    status = provider.poll(name)
    sink = io.BytesIO()
    assert provider.download(status, sink, REQUEST) == len(veo.video)
    assert sink.getvalue() == veo.video
    storage = [r for r in veo.server.requests if r.path.startswith("/storage/")]
    assert storage, "the file URI redirects to storage"
    assert all("x-goog-api-key" not in r.headers for r in storage)


def test_veo_reports_a_failed_and_a_filtered_operation(veo: FakeVeo) -> None:
    provider = veo_provider(veo)
    veo.polls_until_done, veo.outcome = 1, "fail"
    failed = provider.poll(provider.submit(REQUEST))
    veo.outcome = "filtered"
    filtered = provider.poll(provider.submit(REQUEST))
    assert (failed.state, failed.error) == (JobState.FAILED, "Internal error.")
    assert filtered.state == JobState.FAILED
    assert filtered.details == {"filtered": True}


def test_veo_rate_limit_is_retryable_and_a_bad_key_permanent(veo: FakeVeo) -> None:
    veo.submit_failures.append(RATE_LIMITED["veo"])
    with pytest.raises(Retryable) as limited:
        veo_provider(veo).submit(REQUEST)
    with pytest.raises(Permanent) as refused:
        veo_provider(veo, key="wrong").submit(REQUEST)
    assert limited.value.details["status"] == 429
    assert refused.value.details == {"status": 403}
    assert veo.submissions == 0


def test_veo_expired_file_is_result_expired(veo: FakeVeo) -> None:
    provider = veo_provider(veo)
    veo.polls_until_done = 1
    status = provider.poll(provider.submit(REQUEST))
    veo.download_failures.append(EXPIRED)
    with pytest.raises(ResultExpired):
        provider.download(status, io.BytesIO(), REQUEST)


def test_veo_refuses_a_malformed_operation_name(veo: FakeVeo) -> None:
    with pytest.raises(Permanent):
        veo_provider(veo).poll("models/x/operations/../../files")
    assert veo.server.requests == []


# --- Runway ---------------------------------------------------------------------------------------------


def test_runway_task_goes_throttled_running_succeeded_with_the_version_header(runway: FakeRunway) -> None:
    provider = runway_provider(runway)
    task = provider.submit(REQUEST)
    assert poll_until_done(provider, task) == [JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED]
    assert all(r.headers.get("x-runway-version") == "2024-11-06" for r in runway.server.requests)
    sink = io.BytesIO()
    provider.download(provider.poll(task), sink, REQUEST)
    assert sink.getvalue() == runway.video
    cdn = [r for r in runway.server.requests if r.path.startswith("/cdn/")]
    assert cdn
    assert all("authorization" not in r.headers for r in cdn), "signed output URLs never get our key"


def test_runway_failed_task_carries_its_failure_code(runway: FakeRunway) -> None:
    runway.polls_until_done, runway.outcome = 1, "fail"
    provider = runway_provider(runway)
    status = provider.poll(provider.submit(REQUEST))
    assert status.state == JobState.FAILED
    assert status.details == {"failureCode": "SAFETY.INPUT.TEXT"}


@pytest.mark.parametrize("reply", [RATE_LIMITED["runway"], UNAVAILABLE], ids=["429", "503"])
def test_runway_poll_rate_limit_and_outage_are_retryable(runway: FakeRunway, reply: Reply) -> None:
    provider = runway_provider(runway)
    task = provider.submit(REQUEST)
    runway.poll_failures.append(reply)
    with pytest.raises(Retryable):
        provider.poll(task)
    assert provider.poll(task).state == JobState.RUNNING


def test_runway_missing_output_is_result_expired(runway: FakeRunway) -> None:
    runway.polls_until_done = 1
    provider = runway_provider(runway)
    status = provider.poll(provider.submit(REQUEST))
    runway.download_failures.append(GONE)
    with pytest.raises(ResultExpired):
        provider.download(status, io.BytesIO(), REQUEST)


def test_a_submission_whose_answer_never_comes_is_uncertain(runway: FakeRunway) -> None:
    runway.submit_failures.append(Reply(200, '{"id": "late"}', delay_s=1.0))
    with pytest.raises(SubmissionUncertain):
        runway_provider(runway, read_s=0.2).submit(REQUEST)


def test_an_unreachable_vendor_is_retryable_not_uncertain() -> None:
    provider = RunwayProvider(KEY, base_url="http://127.0.0.1:9", client=make_vendor_client(connect_s=0.5))
    with pytest.raises(Retryable) as unreachable:
        provider.submit(REQUEST)
    assert not isinstance(unreachable.value, SubmissionUncertain)


# --- Luma -----------------------------------------------------------------------------------------------


def test_luma_generation_goes_dreaming_then_completed(luma: FakeLuma) -> None:
    provider = luma_provider(luma)
    generation = provider.submit(REQUEST)
    assert poll_until_done(provider, generation) == [JobState.RUNNING, JobState.SUCCEEDED]
    sink = io.BytesIO()
    provider.download(provider.poll(generation), sink, REQUEST)
    assert sink.getvalue() == luma.video


def test_luma_failed_generation_and_bad_key(luma: FakeLuma) -> None:
    luma.polls_until_done, luma.outcome = 1, "fail"
    provider = luma_provider(luma)
    status = provider.poll(provider.submit(REQUEST))
    assert (status.state, status.error) == (JobState.FAILED, "The prompt was flagged")
    with pytest.raises(Permanent) as refused:
        luma_provider(luma, key="nope").submit(REQUEST)
    assert refused.value.details == {"status": 401}


def test_luma_rate_limit_is_retryable(luma: FakeLuma) -> None:
    luma.submit_failures.append(RATE_LIMITED["luma"])
    with pytest.raises(Retryable):
        luma_provider(luma).submit(REQUEST)
    assert luma.submissions == 0


def test_a_download_larger_than_the_limit_is_refused(luma: FakeLuma) -> None:
    luma.polls_until_done = 1
    provider = LumaProvider(KEY, base_url=luma.base_url, max_bytes=1000, client=make_vendor_client())
    status = provider.poll(provider.submit(REQUEST))
    with pytest.raises(Permanent, match="larger than"):
        provider.download(status, io.BytesIO(), REQUEST)


# --- submissions of unknown outcome ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_to_a_submission_is_uncertain_never_retryable(runway: FakeRunway, status: int) -> None:
    runway.lost_answers.append(Reply(status, json.dumps({"error": "upstream"})))
    with pytest.raises(SubmissionUncertain) as uncertain:
        runway_provider(runway).submit(REQUEST)
    assert uncertain.value.details == {"status": status}
    assert runway.submissions == 1, "the vendor made the job it did not tell us about"


@pytest.mark.parametrize("vendor", ["veo", "runway", "luma"])
def test_an_accepted_submission_without_a_job_id_is_uncertain(
    veo: FakeVeo, runway: FakeRunway, luma: FakeLuma, vendor: str
) -> None:
    fake, provider = {
        "veo": (veo, veo_provider(veo)),
        "runway": (runway, runway_provider(runway)),
        "luma": (luma, luma_provider(luma)),
    }[vendor]
    fake.lost_answers.append(Reply(200, "{}"))
    with pytest.raises(SubmissionUncertain):
        provider.submit(REQUEST)


def test_a_rate_limited_submission_stays_retryable(veo: FakeVeo) -> None:
    veo.submit_failures.append(RATE_LIMITED["veo"])
    with pytest.raises(Retryable) as refused:
        veo_provider(veo).submit(REQUEST)
    assert not isinstance(refused.value, SubmissionUncertain)


def test_luma_finds_the_generation_a_lost_answer_created(luma: FakeLuma) -> None:
    provider = luma_provider(luma)
    before = datetime.now(UTC)
    provider.submit(replace(REQUEST, prompt="another video"))  # someone else's generation
    luma.lost_answers.append(GATEWAY_TIMEOUT)
    with pytest.raises(SubmissionUncertain):
        provider.submit(REQUEST)
    [_, ours] = luma.jobs
    assert provider.can_look_up
    assert provider.look_up(REQUEST, since=before) == ours


def test_luma_finds_nothing_for_a_submission_it_never_received_or_an_older_one(luma: FakeLuma) -> None:
    provider = luma_provider(luma)
    provider.submit(REQUEST)  # an identical request, long before this attempt
    assert provider.look_up(REQUEST, since=datetime.now(UTC) + timedelta(minutes=5)) is None
    assert provider.look_up(replace(REQUEST, prompt="never sent"), since=datetime.now(UTC) - timedelta(hours=1)) is None


def test_vendors_without_a_job_list_cannot_look_up(veo: FakeVeo, runway: FakeRunway) -> None:
    for provider in (veo_provider(veo), runway_provider(runway)):
        assert not provider.can_look_up
        assert provider.look_up(REQUEST, since=datetime.now(UTC)) is None
    assert veo.server.requests == runway.server.requests == []

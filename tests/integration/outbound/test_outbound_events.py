"""The events that exist today are written by the services that cause them, in the same transaction; secrets sealed
with KMS when a key is configured."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.content.concepts import ConceptRequest
from viral.content.generation import generate
from viral.db.uow import unit_of_work
from viral.errors import Permanent
from viral.imports.service import import_local_file
from viral.learning import storage as learning_storage
from viral.learning.reflexion import reflect_on_feedback, run_reflexion, score_to_engagement
from viral.learning.schemas import FeedbackMetrics, PerformanceFeedback
from viral.outbound.repository import OutboxRepository
from viral.tenancy import tenant_scope

from tests import dexie_files as dx
from tests.events import load_handler
from tests.fakes.video_vendors import VideoAws, video_aws

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def events_of(tenant: uuid.UUID) -> list[str]:
    with tenant_scope(tenant), unit_of_work() as uow:
        return uow.repository(OutboxRepository).types()


def set_quota(engine: Engine, tenant: uuid.UUID, *, total: int, used: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("update tenants set monthly_quota = :t, used_quota = :u where id = :id"),
            {"t": total, "u": used, "id": tenant},
        )


def test_quota_low_is_emitted_by_the_generation_that_crosses_80_percent(
    tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    set_quota(owner_engine, tenant_a, total=10, used=5)
    with tenant_scope(tenant_a):
        generate(ConceptRequest(count=2), now=NOW, seed=1)  # 5 -> 7: below
        below = events_of(tenant_a)
        generate(ConceptRequest(count=2), now=NOW, seed=2)  # 7 -> 9: crosses 8
        generate(ConceptRequest(count=1), now=NOW, seed=3)  # 9 -> 10: already past
    assert below == []
    assert events_of(tenant_a) == ["quota.low"]


def test_a_critique_and_a_model_adjustment_are_emitted_with_them(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    set_quota(owner_engine, tenant_a, total=1000, used=0)
    with tenant_scope(tenant_a):
        concepts = [
            c.wire()
            for c in generate(
                ConceptRequest(count=3, categories=frozenset({"absurd"})), now=NOW, seed=1
            ).generation.concepts
        ]
        for round_ in range(2):
            for concept in concepts:
                actual = concept["platformVirality"]["tiktok"]["score"] * 0.55 - round_
                feedback = _feedback(concept, actual)
                learning_storage.save_performance_feedback(feedback)
                reflect_on_feedback(feedback)
        critiques_only = events_of(tenant_a)
        run_reflexion()
    assert critiques_only == ["critique.created"] * 6
    assert events_of(tenant_a)[0] == "model.adjusted"


def _feedback(concept: dict[str, Any], actual_score: float) -> PerformanceFeedback:
    views = 5000
    likes = round(views * score_to_engagement(actual_score) / 100)
    return PerformanceFeedback(
        id=str(uuid.uuid4()),
        concept_id=concept["id"],
        concept_title=concept["title"],
        category=concept["category"],
        platform="tiktok",
        metrics=FeedbackMetrics(views=views, likes=likes, shares=0, comments=0),
        engagement_rate=likes / views * 100,
    )


def test_an_import_emits_import_finished_and_a_refused_one_too(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    good = tmp_path / "good.json"
    dx.write_export(good, dx.tables(dx.dashboard_data(generations=2)))
    broken = dx.broken_not_json(tmp_path / "broken.json")
    with tenant_scope(tenant_a):
        imported = import_local_file(good)
        refused = import_local_file(broken)
    assert (imported.status, refused.status) == ("imported", "refused")
    assert events_of(tenant_a) == ["import.finished", "import.finished"]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, database_url: object) -> Iterator[VideoAws]:
    with video_aws(monkeypatch) as pipeline:
        yield pipeline


def test_a_rendered_video_emits_video_ready(aws: VideoAws, tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    from viral.video.service import request_video

    set_quota(owner_engine, tenant_a, total=100, used=0)
    with tenant_scope(tenant_a):
        concept = generate(ConceptRequest(count=1), now=NOW, seed=4).generation.concepts[0]
        video = request_video(concept.id).video
    aws.run_until_idle(load_handler("video_worker").lambda_handler)
    with tenant_scope(tenant_a), unit_of_work() as uow:
        [event] = [e for e in _events(uow) if e["type"] == "video.ready"]
    assert event["data"] == {"videoId": str(video.id), "conceptId": concept.id, "provider": "storyboard"}


def _events(uow: Any) -> list[dict[str, Any]]:
    rows = uow.session.execute(text("select type, data from outbound_events order by created_at"))
    return [{"type": row.type, "data": row.data} for row in rows]


def test_kms_seals_secrets_bound_to_their_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws
    from viral.aws import reset_clients
    from viral.outbound.sealing import KmsBox

    with mock_aws():
        reset_clients()
        key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
        box = KmsBox(key_id)
        tenant, endpoint = uuid.uuid4(), uuid.uuid4()
        sealed = box.seal(b"whsec_kms", tenant_id=tenant, endpoint_id=endpoint)
        opened = box.open(sealed, tenant_id=tenant, endpoint_id=endpoint)
        with pytest.raises(Permanent):  # KMS refuses another encryption context
            box.open(sealed, tenant_id=tenant, endpoint_id=uuid.uuid4())
        with pytest.raises(Permanent):
            box.open("local:v1:AAAA", tenant_id=tenant, endpoint_id=endpoint)
    reset_clients()
    assert sealed.startswith("kms:v1:") and b"whsec_kms" not in sealed.encode()
    assert opened == b"whsec_kms"

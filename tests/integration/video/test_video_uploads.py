"""Uploaded videos (uploads/<tenant>/<name>.mp4): checked like rendered ones and registered once per object."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from sqlalchemy import Engine, text
from viral.content import storage
from viral.tenancy import tenant_scope
from viral.video.service import list_videos

from tests import factories
from tests.events import LambdaContext, load_event, load_handler
from tests.fakes.video_vendors import VideoAws, sample_mp4, video_aws


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, database_url: object) -> Iterator[VideoAws]:
    with video_aws(monkeypatch) as pipeline:
        yield pipeline


def upload(aws: VideoAws, key: str, data: bytes, **metadata: str) -> dict[str, Any]:
    """Put the object in moto's bucket and return the S3 notification Lambda would get (key URL-encoded)."""
    s3 = boto3.client("s3")
    s3.put_object(Bucket=aws.bucket, Key=key, Body=data, ContentType="video/mp4", Metadata=metadata)
    head = s3.head_object(Bucket=aws.bucket, Key=key)
    event = load_event("s3_video_uploaded")
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = aws.bucket
    record["s3"]["object"].update(key=key.replace(" ", "+"), size=len(data), eTag=head["ETag"].strip('"'))
    return event


def ingest(event: dict[str, Any]) -> dict[str, str]:
    outcomes: dict[str, str] = load_handler("upload_ingest").lambda_handler(event, LambdaContext())["outcomes"]
    return outcomes


def videos_of(engine: Engine, tenant: uuid.UUID) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(text("select * from videos where tenant_id = :t"), {"t": tenant}).mappings()
        return [dict(r) for r in rows]


def test_a_good_upload_becomes_a_ready_video_once_however_often_s3_notifies(
    aws: VideoAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    key = f"uploads/{tenant_a}/my clip.mp4"
    event = upload(aws, key, sample_mp4())
    first = ingest(event)
    again = ingest(copy.deepcopy(event))
    [video] = videos_of(owner_engine, tenant_a)
    assert first == {key: "ready"}
    assert again == {key: "ready"}
    assert (video["provider"], video["s3_key"], video["concept_id"]) == ("upload", key, None)
    assert (video["width"], video["height"], video["codec"]) == (720, 1280, "h264")
    assert float(video["duration_s"]) == pytest.approx(4.0, abs=0.2)
    assert video["quality_report"]["passed"] is True
    with owner_engine.connect() as connection:
        used = connection.execute(text("select used_video_quota from tenants where id = :t"), {"t": tenant_a}).scalar()
    assert used == 0, "uploads cost no video quota"


def test_a_landscape_upload_is_registered_failed_with_the_reason(
    aws: VideoAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    key = f"uploads/{tenant_a}/wide.mp4"
    assert ingest(upload(aws, key, sample_mp4(width=1280, height=720))) == {key: "failed"}
    [video] = videos_of(owner_engine, tenant_a)
    assert video["status"] == "failed"
    assert video["error_message"] == "quality checks failed: aspect: expected 9:16 (vertical), got 1280x720"
    assert video["quality_report"]["failed"] == ["aspect"]


def test_a_file_that_is_not_a_video_fails(aws: VideoAws, tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    key = f"uploads/{tenant_a}/notes.mp4"
    assert ingest(upload(aws, key, b"just some text, not a video" * 50)) == {key: "failed"}
    [video] = videos_of(owner_engine, tenant_a)
    assert "container" in video["quality_report"]["failed"]


def test_an_upload_replaced_before_it_was_checked_is_not_taken_for_the_new_one(
    aws: VideoAws, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    key = f"uploads/{tenant_a}/take.mp4"
    first = upload(aws, key, sample_mp4())
    second = upload(aws, key, sample_mp4(seconds=5.0))  # replaced before the first notification was handled
    assert ingest(first) == {key: "failed"}
    assert ingest(second) == {key: "ready"}
    rows = sorted(videos_of(owner_engine, tenant_a), key=lambda v: v["created_at"])
    assert [v["status"] for v in rows] == ["failed", "ready"]
    assert rows[0]["error_message"] == "the upload was deleted or replaced before it was checked"
    assert float(rows[1]["duration_s"]) == pytest.approx(5.0, abs=0.2)


def test_metadata_links_the_upload_to_a_concept_of_the_same_tenant(
    aws: VideoAws, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    concept = factories.concept(category="food")
    with tenant_scope(tenant_a):
        storage.save_generation(factories.generation(concepts=[concept]))  # type: ignore[arg-type]
    mine = f"uploads/{tenant_a}/linked.mp4"
    theirs = f"uploads/{tenant_b}/sneaky.mp4"
    ingest(upload(aws, mine, sample_mp4(), **{"concept-id": concept["id"], "platform": "instagram-reels"}))
    ingest(upload(aws, theirs, sample_mp4(), **{"concept-id": concept["id"]}))
    [linked] = videos_of(owner_engine, tenant_a)
    [unlinked] = videos_of(owner_engine, tenant_b)
    assert (linked["concept_id"], linked["category"], linked["platform"]) == (concept["id"], "food", "instagram-reels")
    assert unlinked["concept_id"] is None, "another tenant's concept id links nothing"


def test_keys_outside_a_known_tenant_are_ignored(aws: VideoAws, owner_engine: Engine) -> None:
    stranger = uuid.uuid4()
    unknown = f"uploads/{stranger}/clip.mp4"
    nested = "uploads/not-a-tenant/clip.mp4"
    outcomes = {**ingest(upload(aws, unknown, sample_mp4())), **ingest(upload(aws, nested, sample_mp4()))}
    assert outcomes == {unknown: "unknown-tenant", nested: "ignored"}
    with owner_engine.connect() as connection:
        count = connection.execute(
            text("select count(*) from videos where s3_key like 'uploads/%' and tenant_id = :t"), {"t": stranger}
        ).scalar()
    assert count == 0


def test_tenant_b_does_not_see_tenant_a_uploads(aws: VideoAws, tenant_a: uuid.UUID, tenant_b: uuid.UUID) -> None:
    ingest(upload(aws, f"uploads/{tenant_a}/private.mp4", sample_mp4()))
    with tenant_scope(tenant_a):
        mine = list_videos(limit=10)
    with tenant_scope(tenant_b):
        theirs = list_videos(limit=10)
    assert mine["total"] == 1
    assert mine["videos"][0]["videoUrl"] is not None
    assert theirs["total"] == 0

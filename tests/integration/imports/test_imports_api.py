"""Imports over HTTP and S3: POST /api/imports, the upload to its presigned URL, the worker, GET the report."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws
from sqlalchemy import Engine, text
from viral.aws import reset_clients
from viral.content import storage
from viral.identity import auth
from viral.settings import get_settings
from viral.tenancy import tenant_scope

from tests import dexie_files as dx
from tests.events import LambdaContext, load_event, load_handler
from tests.gateway import Gateway

BUCKET = "viral-test-media"


@pytest.fixture
def media_bucket(monkeypatch: pytest.MonkeyPatch, database_url: object) -> Iterator[Any]:
    with mock_aws():
        reset_clients()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        monkeypatch.setenv("MEDIA_BUCKET", BUCKET)
        get_settings.cache_clear()
        yield s3
        reset_clients()
    get_settings.cache_clear()


def bearer(tenant: uuid.UUID, *scopes: str) -> dict[str, str]:
    with tenant_scope(tenant):
        key = auth.create_api_key(scopes=scopes or ("read", "write")).secret
    return {"Authorization": f"Bearer {key}"}


def start_import(gateway: Gateway, headers: dict[str, str]) -> dict[str, Any]:
    response = gateway.request("POST", "/api/imports", headers=headers)
    assert response.status == HTTPStatus.CREATED, response.body
    body: dict[str, Any] = response.json()
    return body


def upload(started: dict[str, Any], content: bytes) -> None:
    """PUT the file to the presigned URL, as the dashboard's browser would."""
    answer = requests.put(started["uploadUrl"], data=content, headers=started["headers"], timeout=10)
    assert answer.status_code == HTTPStatus.OK, answer.text


def notification(s3: Any, key: str, *, bucket: str = BUCKET, etag: str | None = None) -> dict[str, Any]:
    """The S3 ObjectCreated event for the object now at `key` (events/s3_dexie_export_uploaded.json, varied)."""
    head = s3.head_object(Bucket=bucket, Key=key)
    event = load_event("s3_dexie_export_uploaded")
    record = event["Records"][0]["s3"]
    record["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    record["object"].update(key=key, size=head["ContentLength"], eTag=etag or head["ETag"].strip('"'))
    return event


def run_worker(event: dict[str, Any]) -> dict[str, str]:
    outcomes: dict[str, str] = load_handler("import_worker").lambda_handler(event, LambdaContext())["outcomes"]
    return outcomes


def export(generations: int = 3) -> bytes:
    return dx.export_bytes(dx.dashboard_data(generations=generations))


def test_upload_runs_the_import_once_and_get_serves_the_report(
    media_bucket: Any, gateway: Gateway, tenant_a: uuid.UUID
) -> None:
    headers = bearer(tenant_a)
    # Given an import started over HTTP
    started = start_import(gateway, headers)
    import_id = started["importId"]
    assert started["key"] == f"imports/{tenant_a}/{import_id}.json"
    assert (started["method"], started["headers"]) == ("PUT", {"Content-Type": "application/json"})
    assert "X-Amz-Signature=" in started["uploadUrl"]  # Signature V4 (S3 refuses V2 on new buckets)
    pending = gateway.request("GET", f"/api/imports/{import_id}", headers=headers)
    assert pending.status == HTTPStatus.OK
    assert pending.json()["status"] == "pending" and pending.json()["report"] is None
    # When the browser uploads the export and S3 notifies the worker
    upload(started, export(generations=3))
    event = notification(media_bucket, started["key"])
    assert run_worker(event) == {started["key"]: "imported"}
    # Then the data is the tenant's and the report is served
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 3
    answer = gateway.request("GET", f"/api/imports/{import_id}", headers=headers).json()
    assert answer["status"] == "imported"
    assert answer["source"] == "upload"
    assert answer["report"]["importId"] == import_id
    assert {t["name"]: t["inserted"] for t in answer["report"]["tables"]} == {
        "generations": 3,
        "critiques": 3,
        "insights": 3,
        "adjustments": 2,
    }
    # And a second delivery of the same notification does nothing
    assert run_worker(event) == {started["key"]: "duplicate"}
    again = gateway.request("GET", f"/api/imports/{import_id}", headers=headers).json()
    assert again["completedAt"] == answer["completedAt"]


def test_refused_upload_is_reported_and_writes_nothing(
    media_bucket: Any, gateway: Gateway, tenant_a: uuid.UUID
) -> None:
    headers = bearer(tenant_a)
    started = start_import(gateway, headers)
    whole = export(generations=20)
    upload(started, whole[: len(whole) // 2])
    assert run_worker(notification(media_bucket, started["key"])) == {started["key"]: "refused"}
    answer = gateway.request("GET", f"/api/imports/{started['importId']}", headers=headers).json()
    assert answer["status"] == "refused"
    assert answer["report"]["problem"]["code"] == "TRUNCATED"
    assert answer["error"].startswith("the file ends before its JSON does")
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 0


def test_tenant_b_cannot_see_a_s_import(
    media_bucket: Any, gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    started = start_import(gateway, bearer(tenant_a))
    upload(started, export())
    run_worker(notification(media_bucket, started["key"]))
    b_headers = bearer(tenant_b)
    response = gateway.request("GET", f"/api/imports/{started['importId']}", headers=b_headers)
    assert response.status == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "NOT_FOUND"
    with owner_engine.connect() as connection:
        b_rows = connection.execute(
            text(
                "select (select count(*) from generations where tenant_id = :t)"
                " + (select count(*) from job_queue where tenant_id = :t)"
            ),
            {"t": tenant_b},
        ).scalar_one()
    assert b_rows == 0


def test_an_object_key_cannot_import_into_another_tenant(
    media_bucket: Any, gateway: Gateway, tenant_a: uuid.UUID, tenant_b: uuid.UUID
) -> None:
    # A's import id under B's prefix (an object only our presigned URLs could write): B has no such import.
    started = start_import(gateway, bearer(tenant_a))
    forged = f"imports/{tenant_b}/{started['importId']}.json"
    media_bucket.put_object(Bucket=BUCKET, Key=forged, Body=export(), ContentType="application/json")
    assert run_worker(notification(media_bucket, forged)) == {forged: "ignored"}
    with tenant_scope(tenant_b):
        assert storage.count_generations() == 0
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 0


@pytest.mark.parametrize(
    "key",
    [
        "imports/not-a-tenant/0f8fad5b-d9cb-469f-a165-70867728950e.json",
        "imports/7c9e6679-7425-40de-944b-e07fc1f90ae7/../secrets.json",
        "imports/7C9E6679-7425-40DE-944B-E07FC1F90AE7/0f8fad5b-d9cb-469f-a165-70867728950e.json",
        "uploads/7c9e6679-7425-40de-944b-e07fc1f90ae7/0f8fad5b-d9cb-469f-a165-70867728950e.json",
    ],
)
def test_keys_that_are_not_import_uploads_are_ignored(media_bucket: Any, key: str) -> None:
    media_bucket.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    assert run_worker(notification(media_bucket, key)) == {key: "ignored"}


def test_upload_nobody_requested_is_ignored(media_bucket: Any, tenant_a: uuid.UUID) -> None:
    key = f"imports/{tenant_a}/{uuid.uuid4()}.json"
    media_bucket.put_object(Bucket=BUCKET, Key=key, Body=export())
    assert run_worker(notification(media_bucket, key)) == {key: "ignored"}
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 0


def test_notification_from_another_bucket_is_ignored(media_bucket: Any) -> None:
    # The sample event itself names the deployed stack's bucket, not this test's.
    assert run_worker(load_event("s3_dexie_export_uploaded")) == {
        "imports/7c9e6679-7425-40de-944b-e07fc1f90ae7/0f8fad5b-d9cb-469f-a165-70867728950e.json": "ignored"
    }


def test_replaced_upload_imports_only_the_newest(media_bucket: Any, gateway: Gateway, tenant_a: uuid.UUID) -> None:
    headers = bearer(tenant_a)
    started = start_import(gateway, headers)
    upload(started, export(generations=2))
    first = notification(media_bucket, started["key"])
    upload(started, export(generations=5))  # the URL is still valid: the user uploaded again
    second = notification(media_bucket, started["key"])
    assert run_worker(first) == {started["key"]: "superseded"}
    assert run_worker(second) == {started["key"]: "imported"}
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 5


def test_too_large_upload_is_refused(
    media_bucket: Any, gateway: Gateway, tenant_a: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMPORT_MAX_BYTES", "4096")
    get_settings.cache_clear()
    headers = bearer(tenant_a)
    started = start_import(gateway, headers)
    upload(started, export(generations=10))
    event = notification(media_bucket, started["key"])
    assert run_worker(event) == {started["key"]: "refused"}
    report = gateway.request("GET", f"/api/imports/{started['importId']}", headers=headers).json()["report"]
    assert report["problem"]["code"] == "TOO_LARGE"
    # Past the limit while reading (whatever the notification said the size was): refused, nothing written
    started = start_import(gateway, headers)
    upload(started, export(generations=10))
    event = notification(media_bucket, started["key"])
    event["Records"][0]["s3"]["object"]["size"] = 100
    assert run_worker(event) == {started["key"]: "refused"}
    report = gateway.request("GET", f"/api/imports/{started['importId']}", headers=headers).json()["report"]
    assert report["problem"]["code"] == "TOO_LARGE"
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 0


def test_upload_removed_before_the_worker_ran_is_refused(
    media_bucket: Any, gateway: Gateway, tenant_a: uuid.UUID
) -> None:
    headers = bearer(tenant_a)
    started = start_import(gateway, headers)
    upload(started, export())
    event = notification(media_bucket, started["key"])
    media_bucket.delete_object(Bucket=BUCKET, Key=started["key"])
    assert run_worker(event) == {started["key"]: "refused"}
    answer = gateway.request("GET", f"/api/imports/{started['importId']}", headers=headers).json()
    assert answer["report"]["problem"]["code"] == "FILE_GONE"


def test_import_routes_need_their_scopes_and_a_valid_id(
    media_bucket: Any, gateway: Gateway, tenant_a: uuid.UUID
) -> None:
    read_only = bearer(tenant_a, "read")
    assert gateway.request("POST", "/api/imports", headers=read_only).status == HTTPStatus.FORBIDDEN
    bad_id = gateway.request("GET", "/api/imports/not-a-uuid", headers=read_only)
    assert bad_id.status == HTTPStatus.UNPROCESSABLE_ENTITY
    unknown = gateway.request("GET", f"/api/imports/{uuid.uuid4()}", headers=read_only)
    assert unknown.status == HTTPStatus.NOT_FOUND


def test_start_without_a_media_bucket_is_a_clean_error(
    gateway: Gateway, tenant_a: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDIA_BUCKET", raising=False)
    get_settings.cache_clear()
    response = gateway.request("POST", "/api/imports", headers=bearer(tenant_a))
    assert response.status == HTTPStatus.BAD_GATEWAY
    assert response.json() == {"error": "imports are not configured (MEDIA_BUCKET is not set)", "code": "PERMANENT"}

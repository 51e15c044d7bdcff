"""The Lambda handlers, invoked with the payloads in events/ against the real database."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from sqlalchemy import URL
from viral.db.migrate import head_revision

from tests.events import LambdaContext, load_event, load_handler

HEAD = head_revision()


def test_health_reports_the_database_and_schema_revision(database_url: URL) -> None:
    response = load_handler("api").lambda_handler(load_event("apigw_get_health"), LambdaContext())
    body = json.loads(response["body"])
    assert response["statusCode"] == HTTPStatus.OK
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schemaRevision"] == HEAD


def test_db_migrate_function_is_idempotent(database_url: URL) -> None:
    handler = load_handler("db_migrate").lambda_handler
    first = handler(load_event("lambda_db_migrate"), LambdaContext())
    second = handler(load_event("lambda_db_migrate"), LambdaContext())
    assert first == second == {"status": "migrated", "revision": HEAD}


def test_db_migrate_answers_cloudformation_on_deploy(database_url: URL) -> None:
    from local.fakes.http_server import FakeServer, Reply

    cloudformation = FakeServer()
    cloudformation.route("PUT", "/response", lambda _request: Reply(200))
    handler = load_handler("db_migrate").lambda_handler
    with cloudformation.running():
        event = load_event("cfn_db_migrate_create")
        event["ResponseURL"] = cloudformation.url + "/response"
        result = handler(event, LambdaContext())
    (answer,) = [json.loads(r.body) for r in cloudformation.requests]
    assert result == {"status": "SUCCESS"}
    assert (answer["Status"], answer["Data"], answer["PhysicalResourceId"]) == (
        "SUCCESS",
        {"Revision": HEAD},
        "viral-database-schema",
    )


def test_db_migrate_fails_the_deploy_without_leaking_connection_details(database_url: URL) -> None:
    import pytest
    from viral.settings import get_settings

    from local.fakes.http_server import FakeServer, Reply

    cloudformation = FakeServer()
    cloudformation.route("PUT", "/response", lambda _request: Reply(200))
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("DATABASE_URL", "postgresql+pg8000://nobody@/none?unix_sock=/nonexistent/.s.PGSQL.5432")
        get_settings.cache_clear()
        with cloudformation.running():
            event = load_event("cfn_db_migrate_create")
            event["ResponseURL"] = cloudformation.url + "/response"
            result = load_handler("db_migrate").lambda_handler(event, LambdaContext())
    finally:
        mp.undo()
        get_settings.cache_clear()
    (answer,) = [json.loads(r.body) for r in cloudformation.requests]
    assert result == {"status": "FAILED"}
    assert answer["Status"] == "FAILED"
    assert "migration failed" in answer["Reason"]
    assert "nonexistent" not in answer["Reason"]


def test_health_is_503_when_the_database_is_unreachable(monkeypatch: object, database_url: URL) -> None:
    import pytest
    from viral.db.engine import reset_engine
    from viral.settings import get_settings

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("DATABASE_URL", "postgresql+pg8000://nobody@/none?unix_sock=/nonexistent/.s.PGSQL.5432")
        get_settings.cache_clear()
        reset_engine()
        response = load_handler("api").lambda_handler(load_event("apigw_get_health"), LambdaContext())
    finally:
        mp.undo()
        get_settings.cache_clear()
        reset_engine()
    assert response["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    body = json.loads(response["body"])
    assert body["database"] == "unreachable"
    assert "nonexistent" not in response["body"]


def test_behind_a_custom_domain_base_path_the_routes_still_match(
    database_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    from viral.settings import get_settings

    monkeypatch.setenv("API_BASE_PATH", "v1")
    get_settings.cache_clear()
    try:
        event = load_event("apigw_get_health")
        event["path"] = "/v1" + event["path"]
        event["requestContext"]["path"] = "/v1" + event["requestContext"].get("path", "/api/health")
        response = load_handler("api").lambda_handler(event, LambdaContext())
    finally:
        monkeypatch.delenv("API_BASE_PATH")
        get_settings.cache_clear()
    assert response["statusCode"] == HTTPStatus.OK

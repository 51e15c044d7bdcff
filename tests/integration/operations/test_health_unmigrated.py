"""Readiness on a database that answers but has never been migrated: 503 "not ready", never a 500."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest
from sqlalchemy import URL
from viral.db.engine import reset_engine
from viral.settings import get_settings


@pytest.fixture
def unmigrated_database(database_url: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[URL]:
    """A fresh embedded PostgreSQL with no migration applied; the runtime engine points at it for one test."""
    from viral.db.embedded import ensure_embedded_server

    base = Path(os.environ.get("TEST_PG_ROOT") or tempfile.gettempdir()) / "viral-test-pg" / uuid.uuid4().hex[:8]
    url = ensure_embedded_server(base / "pgdata")
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    reset_engine()
    yield url
    monkeypatch.setenv("DATABASE_URL", database_url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    reset_engine()


def test_health_on_an_unmigrated_database_is_503_not_ready(unmigrated_database: URL) -> None:
    from viral.api.app import build_app

    event = {
        "httpMethod": "GET",
        "path": "/api/health",
        "resource": "/api/health",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "requestContext": {
            "httpMethod": "GET",
            "path": "/api/health",
            "requestId": "health-unmigrated",
            "stage": "$default",
        },
        "body": None,
        "isBase64Encoded": False,
    }
    response = build_app().resolve(event, None)
    assert response["statusCode"] == HTTPStatus.SERVICE_UNAVAILABLE
    body = json.loads(response["body"])
    assert body["status"] == "degraded"
    assert body["database"] == "not ready"
    assert body.get("schemaRevision") is None

"""A database error in the logs says its kind and SQLSTATE, never the statement's parameters or row values."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from viral.db.uow import unit_of_work
from viral.errors import DomainError
from viral.observability import logger

SECRET = "tenant-secret-topic-7f3a"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_an_unexpected_database_error_is_logged_without_its_parameters(
    tenant_a: uuid.UUID, log_lines: io.StringIO
) -> None:
    with pytest.raises(DBAPIError) as raised, unit_of_work(tenant_a) as uow:
        # An error no domain mapping knows (22012): the driver's message and SQLAlchemy's text would carry SECRET.
        uow.session.execute(text("select length(:topic) / 0"), {"topic": SECRET})
    assert SECRET not in str(raised.value)  # SQLAlchemy hides the parameters
    try:
        raise RuntimeError("request failed") from raised.value
    except RuntimeError:
        logger.exception("unhandled error")
    logged = log_lines.getvalue()
    assert "sqlstate 22012" in logged
    assert SECRET not in logged


def test_a_constraint_violation_detail_is_not_logged(tenant_a: uuid.UUID, log_lines: io.StringIO) -> None:
    with pytest.raises(DomainError) as raised, unit_of_work(tenant_a) as uow:
        uow.session.execute(text("select cast(:topic as integer)"), {"topic": SECRET})
    assert SECRET in repr(raised.value.__cause__.orig)  # PostgreSQL's own message quotes the value...
    try:
        raise raised.value
    except Exception:
        logger.exception("refused")
    assert SECRET not in log_lines.getvalue()  # ...and the log line does not

"""Imports bound what a file can make them build: nesting depth, field name length and the report's size."""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from pathlib import Path
from typing import Any

from viral.content import storage
from viral.imports.dexie import MAX_KEY_LENGTH, MAX_ROW_DEPTH
from viral.imports.report import MAX_LISTED_FIELDS, MAX_NAME_IN_REPORT
from viral.imports.service import import_local_file
from viral.tenancy import tenant_scope

from tests import dexie_files as dx
from tests.gateway import Gateway
from tests.integration.imports.test_imports_api import (  # noqa: F401 - the fixture is used by name
    bearer,
    media_bucket,
    notification,
    run_worker,
    start_import,
    upload,
)

MARK = "__replace_me__"


def export_with(field: str, raw_json: str, *, row: int = 1) -> bytes:
    """An export whose generation `row` has `field` set to `raw_json` (spliced in: too deep for json.dumps)."""
    data = dx.dashboard_data(generations=3)
    data["generations"][row][field] = MARK
    content = dx.export_bytes(data).decode()
    assert content.count(f'"{MARK}"') == 1
    return content.replace(f'"{MARK}"', raw_json).encode()


def deeply_nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_a_row_nested_3000_levels_deep_is_refused_by_the_worker_not_sent_to_the_dlq(
    media_bucket: Any,  # noqa: F811 - the fixture imported above
    gateway: Gateway,
    tenant_a: uuid.UUID,
) -> None:
    headers = bearer(tenant_a)
    started = start_import(gateway, headers)
    upload(started, export_with("extra", deeply_nested(3000)))
    assert run_worker(notification(media_bucket, started["key"])) == {started["key"]: "refused"}
    answer = gateway.request("GET", f"/api/imports/{started['importId']}", headers=headers)
    assert answer.status == HTTPStatus.OK
    body = answer.json()
    assert body["status"] == "refused"  # finished, not `pending` forever
    problem = body["report"]["problem"]
    assert problem["code"] == "TOO_DEEP"
    assert (problem["table"], problem["index"]) == ("generations", 1)  # the row that is too deep
    assert f"nested deeper than {MAX_ROW_DEPTH} levels" in problem["message"]
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 0


def test_nesting_within_the_bound_still_imports(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(export_with("extra", deeply_nested(MAX_ROW_DEPTH - 2)))
    with tenant_scope(tenant_a):
        report = import_local_file(path)
    assert report.status == "imported", report.problem
    assert report.table("generations").ignored_fields == {"extra": 1}  # type: ignore[union-attr]


def test_a_field_name_longer_than_the_bound_is_refused(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(export_with("x" * (MAX_KEY_LENGTH + 1), "1", row=2))
    with tenant_scope(tenant_a):
        report = import_local_file(path)
    assert report.status == "refused"
    assert report.problem is not None
    assert (report.problem.code, report.problem.table, report.problem.index) == ("KEY_TOO_LONG", "generations", 2)
    assert len(report.problem.message) < 300  # the name is not repeated whole


def test_unknown_field_names_are_cut_and_counted_so_the_report_stays_small(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=3)
    for generation in data["generations"]:
        for n in range(2000):
            generation[f"{n:05d}" + "y" * (MAX_KEY_LENGTH - 5)] = 1
    path = tmp_path / "export.json"
    dx.write_export(path, dx.tables(data), dx.ExportOptions())
    with tenant_scope(tenant_a):
        report = import_local_file(path)
    assert report.status == "imported", report.problem
    table = report.table("generations")
    assert table is not None
    assert len(table.ignored_fields) == MAX_LISTED_FIELDS
    assert all(len(name) <= MAX_NAME_IN_REPORT and count == 3 for name, count in table.ignored_fields.items())
    assert table.ignored_fields_not_listed == (2000 - MAX_LISTED_FIELDS) * 3
    size = len(json.dumps(report.wire()))
    assert size < 20_000  # the names alone were 3 MB of the file; Lambda answers at most 6 MB

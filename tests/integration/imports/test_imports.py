"""Dexie imports on the real database: every row arrives and reads back the same, all or nothing, idempotent."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from sqlalchemy import Engine, text
from viral.cli import main as cli
from viral.content import storage
from viral.content.schemas import Generation
from viral.imports.report import ImportReport
from viral.imports.repository import ImportRepository
from viral.imports.service import import_local_file, run_import
from viral.learning import storage as learning_storage
from viral.learning.schemas import ReflexionInsight, ScoringAdjustment, SelfCritique
from viral.tenancy import tenant_scope

from tests import dexie_files as dx

CONTENT_TABLES = ("generations", "concepts", "self_critiques", "reflexion_insights", "scoring_adjustments", "job_queue")


def write(tmp_path: Path, data: dict[str, list[dict[str, Any]]], name: str = "export.json", **options: Any) -> Path:
    path = tmp_path / name
    dx.write_export(path, dx.tables(data), dx.ExportOptions(**options))
    return path


def do_import(tenant: uuid.UUID, path: Path, *, dry_run: bool = False) -> ImportReport:
    with tenant_scope(tenant):
        return import_local_file(path, dry_run=dry_run)


def plain(value: Any) -> Any:
    """A row as JSON, dates as the ISO strings the models read."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def full(model: Any) -> dict[str, Any]:
    """Every field of a model on the wire (a field the row lacked reads back as its default, e.g. null)."""
    return model.model_dump(mode="json", by_alias=True)


def expected(model: type[Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the storage API should read back for these rows: the original's row as our model, on the wire."""
    shape = (lambda m: m.wire()) if model is Generation else full
    return {row["id"]: shape(model.model_validate(plain(row))) for row in rows}


def read_back(tenant: uuid.UUID) -> dict[str, dict[str, Any]]:
    with tenant_scope(tenant):
        return {
            "generations": {g.id: g.wire() for g in storage.get_generations(limit=500)},
            "critiques": {c.id: full(c) for c in learning_storage.get_critiques(limit=500)},
            "insights": {i.id: full(i) for i in learning_storage.get_insights()},
            "adjustments": {a.id: full(a) for a in learning_storage.get_adjustments(limit=500)},
        }


def counts(owner_engine: Engine, tenant: uuid.UUID) -> dict[str, int]:
    with owner_engine.connect() as connection:
        return {
            table: connection.execute(
                text(f"select count(*) from {table} where tenant_id = :t"), {"t": tenant}
            ).scalar_one()
            for table in CONTENT_TABLES
        }


def row_versions(owner_engine: Engine, tenant: uuid.UUID) -> dict[str, list[tuple[str, str]]]:
    """Every content row's id and xmin: any write to a row, even of the same values, changes its xmin."""
    with owner_engine.connect() as connection:
        return {
            table: [
                tuple(r)
                for r in connection.execute(
                    text(f"select id::text, xmin::text from {table} where tenant_id = :t order by id"), {"t": tenant}
                )
            ]
            for table in CONTENT_TABLES
            if table != "job_queue"
        }


def by_table(report: ImportReport) -> dict[str, tuple[int, int, int, int]]:
    """Table -> (inserted, updated, unchanged, skipped)."""
    return {t.name: (t.inserted, t.updated, t.unchanged, t.skipped) for t in report.tables}


# --- everything arrives ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("outbound", [False, True], ids=["inbound-rows", "outbound-rows"])
def test_v2_export_arrives_and_reads_back_the_same(
    tmp_path: Path, tenant_a: uuid.UUID, owner_engine: Engine, outbound: bool
) -> None:
    # Given a v2 export (dates as JS Dates and ISO strings, favourites, critiques, insights, adjustments)
    data = dx.dashboard_data(generations=7)
    path = write(tmp_path, data, outbound=outbound)
    # When it is imported
    report = do_import(tenant_a, path)
    # Then every row was inserted and reads back through the storage API as the original wrote it
    assert report.status == "imported", report.problem
    assert report.written is True
    assert by_table(report) == {
        "generations": (7, 0, 0, 0),
        "critiques": (3, 0, 0, 0),
        "insights": (3, 0, 0, 0),
        "adjustments": (2, 0, 0, 0),
    }
    stored = read_back(tenant_a)
    assert stored["generations"] == expected(Generation, data["generations"])
    assert stored["critiques"] == expected(SelfCritique, data["critiques"])
    assert stored["insights"] == expected(ReflexionInsight, data["insights"])
    assert stored["adjustments"] == expected(ScoringAdjustment, data["adjustments"])
    favourites = {g["id"] for g in data["generations"] if g["isFavorite"]}
    with tenant_scope(tenant_a):
        assert {g.id for g in storage.get_favorites()} == favourites
        assert [c.id for c in learning_storage.get_critiques_by_concept(data["critiques"][0]["conceptId"])] == [
            "crit-00000"
        ]
        assert {c.id for c in learning_storage.get_unapplied_critiques()} == {"crit-00001"}
    assert counts(owner_engine, tenant_a)["concepts"] == 14
    generations = report.table("generations")
    assert generations is not None and generations.children[0].model_dump() == {
        "name": "concepts",
        "inFile": 14,
        "inserted": 14,
        "updated": 0,
        "removed": 0,
    }


def test_v1_export_has_generations_only(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=3, version=1)
    report = do_import(tenant_a, write(tmp_path, data, database_version=1))
    assert report.status == "imported"
    assert report.file.database_version == 1
    assert by_table(report) == {"generations": (3, 0, 0, 0)}
    assert read_back(tenant_a)["generations"] == expected(Generation, data["generations"])


def test_newer_typeson_tuples_and_pretty_json_read_the_same(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    # Newer typeson-registry wraps every outbound [key, value] in the root form, even without other types.
    data = dx.dashboard_data(generations=2)
    report = do_import(tenant_a, write(tmp_path, data, outbound=True, wrap_tuples=True, pretty=True))
    assert report.status == "imported", report.problem
    assert read_back(tenant_a)["critiques"] == expected(SelfCritique, data["critiques"])


def test_report_has_checksums_of_the_file_and_each_table(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    import hashlib

    path = write(tmp_path, dx.dashboard_data(generations=2))
    report = do_import(tenant_a, path)
    assert report.file.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report.file.size_bytes == path.stat().st_size
    document = json.loads(path.read_bytes())
    for entry in document["data"]["data"]:
        canonical = b"".join(
            json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
            for row in entry["rows"]
        )
        table = report.table(entry["tableName"])
        assert table is not None
        assert table.sha256 == hashlib.sha256(canonical).hexdigest()
        assert table.rows_in_file == table.parsed == table.declared_rows == len(entry["rows"])


# --- idempotent -------------------------------------------------------------------------------------------------


def test_second_import_of_the_same_file_changes_nothing(
    tmp_path: Path, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    path = write(tmp_path, dx.dashboard_data(generations=5))
    first = do_import(tenant_a, path)
    before = row_versions(owner_engine, tenant_a)
    again = do_import(tenant_a, path)
    assert again.status == "imported"
    assert by_table(again) == {
        "generations": (0, 0, 5, 0),
        "critiques": (0, 0, 3, 0),
        "insights": (0, 0, 3, 0),
        "adjustments": (0, 0, 2, 0),
    }
    assert again.table("generations").children[0].inserted == 0  # type: ignore[union-attr]
    assert row_versions(owner_engine, tenant_a) == before, "a row was rewritten"
    assert again.file.sha256 == first.file.sha256


def test_newer_export_adds_only_what_is_new(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    old = dx.dashboard_data(generations=4)
    do_import(tenant_a, write(tmp_path, old, "old.json"))
    # The browser kept going: two more generations, one favourite toggled, one concept renamed, one critique applied
    new = dx.dashboard_data(generations=6)
    new["generations"][1]["isFavorite"] = not new["generations"][1]["isFavorite"]
    new["generations"][2]["concepts"][1]["title"] = "Renamed in the browser"
    new["critiques"][1]["appliedAt"] = new["critiques"][1]["createdAt"] + timedelta(hours=1)
    report = do_import(tenant_a, write(tmp_path, new, "new.json"))
    assert by_table(report) == {
        "generations": (2, 2, 2, 0),
        "critiques": (0, 1, 2, 0),
        "insights": (0, 0, 3, 0),
        "adjustments": (0, 0, 2, 0),
    }
    assert report.table("generations").children[0].model_dump() == {  # type: ignore[union-attr]
        "name": "concepts",
        "inFile": 12,
        "inserted": 4,
        "updated": 1,
        "removed": 0,
    }
    assert read_back(tenant_a)["generations"] == expected(Generation, new["generations"])


def test_a_generation_that_lost_a_concept_loses_it_here_too(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=2, version=1, concepts=3)
    do_import(tenant_a, write(tmp_path, data, "a.json", database_version=1))
    data["generations"][0]["concepts"].pop()
    report = do_import(tenant_a, write(tmp_path, data, "b.json", database_version=1))
    assert by_table(report) == {"generations": (0, 1, 1, 0)}
    assert report.table("generations").children[0].removed == 1  # type: ignore[union-attr]
    assert read_back(tenant_a)["generations"] == expected(Generation, data["generations"])


# --- all or nothing ---------------------------------------------------------------------------------------------

BROKEN: dict[str, Callable[[Path, dict[str, list[dict[str, Any]]]], Path]] = {
    "not-json": lambda path, data: dx.broken_not_json(path),
    "wrong-format-name": dx.broken_wrong_format_name,
    "wrong-format-version": dx.broken_wrong_format_version,
    "truncated": dx.broken_truncated,
    "invalid-row": dx.broken_invalid_row,
}
EXPECTED_CODES = {
    "not-json": "NOT_JSON",
    "wrong-format-name": "WRONG_FORMAT",
    "wrong-format-version": "UNSUPPORTED_FORMAT_VERSION",
    "truncated": "TRUNCATED",
    "invalid-row": "INVALID_ROW",
}


@pytest.mark.parametrize("variant", list(BROKEN))
def test_broken_file_is_refused_and_writes_nothing(
    tmp_path: Path, tenant_a: uuid.UUID, owner_engine: Engine, variant: str
) -> None:
    # Given a tenant with data already, and a broken export whose good rows come first
    do_import(tenant_a, write(tmp_path, dx.dashboard_data(generations=2), "earlier.json"))
    before = row_versions(owner_engine, tenant_a)
    path = BROKEN[variant](tmp_path / f"{variant}.json", dx.dashboard_data(generations=40))
    # When it is imported
    report = do_import(tenant_a, path)
    # Then it is refused with the reason, and not one row of it was written
    assert report.status == "refused"
    assert report.written is False
    assert report.problem is not None and report.problem.code == EXPECTED_CODES[variant]
    assert row_versions(owner_engine, tenant_a) == before
    assert all(t.inserted == t.updated == t.unchanged == 0 for t in report.tables)


def test_invalid_row_report_names_table_row_id_and_field(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    path = dx.broken_invalid_row(tmp_path / "bad.json", dx.dashboard_data(generations=700), index=650)
    report = do_import(tenant_a, path)
    problem = report.problem
    assert problem is not None
    assert (problem.code, problem.table, problem.index, problem.id) == ("INVALID_ROW", "generations", 650, "gen-000650")
    assert problem.details is not None and problem.details[0]["field"] == "concepts.0.category"
    assert "generations row 650 (id gen-000650)" in problem.message
    # The 500 rows before it had been written in the same transaction: rolled back with the rest
    with tenant_scope(tenant_a):
        assert storage.count_generations() == 0


def test_truncated_report_says_where_the_file_ends(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    path = dx.broken_truncated(tmp_path / "cut.json", dx.dashboard_data(generations=50), keep=0.5)
    report = do_import(tenant_a, path)
    assert report.problem is not None
    assert report.problem.table == "generations"
    assert report.problem.index is not None and 0 < report.problem.index < 50
    assert "truncated" in report.problem.message


def test_other_database_or_schema_version_is_refused(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=1)
    other = do_import(tenant_a, write(tmp_path, data, "other.json", database_name="SomeOtherApp"))
    future = do_import(tenant_a, write(tmp_path, data, "future.json", database_version=3))
    assert other.problem is not None and other.problem.code == "WRONG_DATABASE"
    assert future.problem is not None and future.problem.code == "UNSUPPORTED_DATABASE_VERSION"


def test_a_table_listed_twice_is_refused(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=2, version=1)
    path = tmp_path / "twice.json"
    twice = [dx.Table("generations", data["generations"][:1]), dx.Table("generations", data["generations"][1:])]
    dx.write_export(path, twice, dx.ExportOptions(database_version=1))
    report = do_import(tenant_a, path)
    assert report.problem is not None and report.problem.code == "WRONG_FORMAT"
    assert "appears twice" in report.problem.message


def test_duplicate_ids_are_refused(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=3)
    twice = copy.deepcopy(data)
    twice["generations"][2]["id"] = twice["generations"][0]["id"]
    shared_concept = copy.deepcopy(data)
    shared_concept["generations"][2]["concepts"][0]["id"] = shared_concept["generations"][1]["concepts"][1]["id"]
    first = do_import(tenant_a, write(tmp_path, twice, "twice.json"))
    second = do_import(tenant_a, write(tmp_path, shared_concept, "shared.json"))
    assert first.problem is not None and (first.problem.code, first.problem.index) == ("DUPLICATE_ID", 2)
    assert "also used by row 0" in first.problem.message
    assert second.problem is not None and second.problem.code == "DUPLICATE_ID"
    assert "also in generations row 1" in second.problem.message


def test_a_concept_of_another_generation_is_a_conflict(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=2, version=1)
    do_import(tenant_a, write(tmp_path, data, "a.json", database_version=1))
    moved = copy.deepcopy(data)
    moved["generations"][1]["concepts"].append(moved["generations"][0]["concepts"].pop())
    report = do_import(tenant_a, write(tmp_path, moved, "b.json", database_version=1))
    assert report.problem is not None and report.problem.code == "CONFLICT"
    assert read_back(tenant_a)["generations"] == expected(Generation, data["generations"])


def test_rows_the_database_refuses_roll_the_whole_file_back(
    tmp_path: Path, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    # A rule only the database knows (a constraint added for this test): the batch it refuses is named
    data = dx.dashboard_data(generations=8)
    data["generations"][5]["concepts"][0]["title"] = "a title the database refuses"
    path = write(tmp_path, data)
    with owner_engine.begin() as connection:
        connection.execute(
            text("alter table concepts add constraint ck_test_refused check (title <> 'a title the database refuses')")
        )
    try:
        report = do_import(tenant_a, path)
    finally:
        with owner_engine.begin() as connection:
            connection.execute(text("alter table concepts drop constraint ck_test_refused"))
    assert report.problem is not None
    assert (report.problem.code, report.problem.table, report.problem.index) == (
        "REJECTED_BY_DATABASE",
        "generations",
        0,
    )
    assert "a value is outside its allowed set or range" in report.problem.message
    assert counts(owner_engine, tenant_a)["generations"] == 0


def test_binary_data_in_a_row_is_refused_with_its_field(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=2)
    data["generations"][1]["concepts"][0]["thumbnail"] = b"\x89PNG"
    report = do_import(tenant_a, write(tmp_path, data))
    assert report.problem is not None and report.problem.code == "INVALID_ROW"
    assert report.problem.details == [
        {"field": "concepts.0.thumbnail", "message": "binary data (arraybuffer) has no place in this table"}
    ]


def test_missing_timestamp_the_original_always_sets_is_refused(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=1)
    del data["insights"][1]["lastSeenAt"]
    report = do_import(tenant_a, write(tmp_path, data))
    assert report.problem is not None
    assert (report.problem.table, report.problem.index, report.problem.id) == ("insights", 1, "ins-00001")


# --- skipped, never guessed --------------------------------------------------------------------------------------


def test_unknown_table_is_reported_and_skipped(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    report = do_import(tenant_a, write(tmp_path, dx.with_unknown_table(dx.dashboard_data(generations=2))))
    assert report.status == "imported"
    drafts = report.table("drafts")
    assert drafts is not None
    assert (drafts.known, drafts.rows_in_file, drafts.skipped, drafts.inserted) == (False, 2, 2, 0)
    assert drafts.skip_reasons == {"not a table of ViralDashboard schema version 2": 2}
    assert [r.id for r in drafts.skipped_rows] == ["draft-1", "draft-2"]
    assert report.table("generations").inserted == 2  # type: ignore[union-attr]


def test_v2_tables_in_a_v1_export_are_unknown(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    report = do_import(tenant_a, write(tmp_path, dx.dashboard_data(generations=3), database_version=1))
    assert by_table(report) == {
        "generations": (3, 0, 0, 0),
        "critiques": (0, 0, 0, 3),
        "insights": (0, 0, 0, 3),
        "adjustments": (0, 0, 0, 2),
    }
    assert read_back(tenant_a)["critiques"] == {}


def test_unknown_fields_are_reported_not_stored(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=2, version=1)
    data["generations"][0]["syncedAt"] = "2026-02-03T00:00:00Z"
    report = do_import(tenant_a, write(tmp_path, data, database_version=1))
    assert report.table("generations").ignored_fields == {"syncedAt": 1}  # type: ignore[union-attr]


def test_rows_pointing_at_missing_rows_are_skipped_with_reasons(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=3)
    data["critiques"][0]["conceptId"] = "concept-deleted-in-the-browser"
    data["adjustments"].append(dx.adjustment(9, "crit-never-existed"))
    report = do_import(tenant_a, write(tmp_path, data))
    assert report.status == "imported"
    critiques, adjustments = report.table("critiques"), report.table("adjustments")
    assert critiques is not None and adjustments is not None
    assert critiques.skip_reasons == {"its concept is neither in this file nor in the tenant's data": 1}
    assert adjustments.skip_reasons == {
        "its critique was skipped": 1,
        "its critique is neither in this file nor in the tenant's data": 1,
    }
    assert (critiques.inserted, adjustments.inserted) == (2, 1)


def test_critique_may_point_at_a_concept_imported_earlier(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=3)
    do_import(tenant_a, write(tmp_path, {"generations": data["generations"]}, "gens.json"))
    rest = {k: v for k, v in data.items() if k != "generations"}
    report = do_import(tenant_a, write(tmp_path, rest, "rest.json"))
    assert by_table(report)["critiques"] == (3, 0, 0, 0)
    assert report.passes == 2  # critiques waited for the (absent) generations table to be known absent


def test_insight_whose_pattern_another_insight_holds_is_skipped(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=1)
    with tenant_scope(tenant_a):
        learning_storage.save_insight({**plain(data["insights"][0]), "id": "ins-made-on-the-server"})
    report = do_import(tenant_a, write(tmp_path, data))
    insights = report.table("insights")
    assert insights is not None and (insights.inserted, insights.skipped) == (2, 1)
    assert insights.skipped_rows[0].id == "ins-00000"


def test_tables_listed_before_the_tables_they_point_at_are_read_again(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=3)
    reordered = {name: data[name] for name in ("adjustments", "critiques", "insights", "generations")}
    report = do_import(tenant_a, write(tmp_path, reordered))
    assert report.status == "imported", report.problem
    assert report.passes == 3
    assert [t.name for t in report.tables] == ["adjustments", "critiques", "insights", "generations"]
    assert read_back(tenant_a)["adjustments"] == expected(ScoringAdjustment, data["adjustments"])


def test_file_that_changes_between_passes_is_refused(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    data = dx.dashboard_data(generations=2)
    path = write(tmp_path, {"critiques": data["critiques"], "generations": data["generations"]})
    reads: list[int] = []

    def open_file() -> AbstractContextManager[BinaryIO]:
        reads.append(1)
        if len(reads) == 2:
            path.write_bytes(path.read_bytes().replace(b"We over-rated", b"We under-rated"))
        return path.open("rb")

    with tenant_scope(tenant_a):
        report = run_import(open_file)
    assert report.problem is not None and report.problem.code == "FILE_CHANGED"
    assert read_back(tenant_a)["generations"] == {}


# --- dry run, CLI -----------------------------------------------------------------------------------------------


def test_dry_run_counts_and_writes_nothing(tmp_path: Path, tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    before = counts(owner_engine, tenant_a)
    report = do_import(tenant_a, write(tmp_path, dx.dashboard_data(generations=4)), dry_run=True)
    assert (report.status, report.dry_run, report.written) == ("checked", True, False)
    assert by_table(report)["generations"] == (4, 0, 0, 0)
    assert counts(owner_engine, tenant_a) == before  # not even a job row


def test_cli_imports_and_prints_the_report(
    tmp_path: Path, tenant_a: uuid.UUID, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, dx.dashboard_data(generations=3))
    assert cli(["import-dexie", str(path), "--tenant", str(tenant_a), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "imported"
    assert report["tables"][0]["inserted"] == 3
    assert cli(["import-dexie", str(path), "--tenant", str(tenant_a), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "checked (dry run, nothing written)" in out
    assert "generations: 3 rows, 3 parsed, 0 inserted, 0 updated, 3 unchanged, 0 skipped" in out


def test_cli_refusal_prints_the_report_and_exits_non_zero(
    tmp_path: Path, tenant_a: uuid.UUID, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dx.broken_truncated(tmp_path / "cut.json", dx.dashboard_data(generations=5))
    assert cli(["--json", "import-dexie", str(path), "--tenant", str(tenant_a)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["problem"]["code"] == "TRUNCATED"
    assert "import refused" in captured.err
    assert cli(["import-dexie", str(tmp_path / "missing.json"), "--tenant", str(tenant_a)]) == 2


# --- tenants ------------------------------------------------------------------------------------------------------


def test_tenant_b_never_sees_or_changes_a_s_import(
    tmp_path: Path, tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    # Given B's own data, imported from its own browser
    b_data = dx.dashboard_data(generations=2)
    do_import(tenant_b, write(tmp_path, b_data, "b.json"))
    b_before = row_versions(owner_engine, tenant_b)
    # When A imports a file that reuses the same ids (ids are only unique within one browser)
    a_data = dx.dashboard_data(generations=5)
    a_data["generations"][0]["concepts"][0]["title"] = "A's own title"
    report = do_import(tenant_a, write(tmp_path, a_data, "a.json"))
    # Then A's rows are all new to A, and B's rows and reads are untouched
    assert by_table(report)["generations"] == (5, 0, 0, 0)
    assert row_versions(owner_engine, tenant_b) == b_before
    assert read_back(tenant_b)["generations"] == expected(Generation, b_data["generations"])
    assert read_back(tenant_a)["generations"] == expected(Generation, a_data["generations"])


def test_repository_reads_only_the_tenant_s_rows(tmp_path: Path, tenant_a: uuid.UUID, tenant_b: uuid.UUID) -> None:
    from viral.db.uow import unit_of_work

    data = dx.dashboard_data(generations=2)
    report = do_import(tenant_a, write(tmp_path, data))
    concept_ids = [c["id"] for g in data["generations"] for c in g["concepts"]]
    with unit_of_work(tenant_b) as uow:
        assert uow.repository(ImportRepository).concept_generations(concept_ids) == {}
        assert uow.repository(ImportRepository).existing_critiques(c["id"] for c in data["critiques"]) == set()
        assert uow.repository(ImportRepository).insights_by_pattern(i["pattern"] for i in data["insights"]) == {}
        assert uow.repository(ImportRepository).job(report.import_id or "") is None
    with unit_of_work(tenant_a) as uow:
        assert len(uow.repository(ImportRepository).concept_generations(concept_ids)) == 4
        job = uow.repository(ImportRepository).job(report.import_id or "")
        assert job is not None and job.status == "completed"


def test_imported_generations_are_searchable_and_counted_in_analytics(tmp_path: Path, tenant_a: uuid.UUID) -> None:
    """Imports write what search and analytics read, exactly as saving through the storage API does."""
    data = dx.dashboard_data(generations=2, version=1)
    with tenant_scope(tenant_a):
        for row in data["generations"]:
            storage.save_generation(row)
        via_api = {g["id"]: storage.search_generations(g["concepts"][0]["title"]) for g in data["generations"]}
        analytics_via_api = storage.get_analytics_data().trend_frequency
        for row in data["generations"]:
            storage.delete_generation(row["id"])
    assert do_import(tenant_a, write(tmp_path, data, database_version=1)).status == "imported"
    with tenant_scope(tenant_a):
        via_import = {g["id"]: storage.search_generations(g["concepts"][0]["title"]) for g in data["generations"]}
        analytics_via_import = storage.get_analytics_data().trend_frequency
    assert {k: [g.id for g in v] for k, v in via_import.items()} == {k: [g.id for g in v] for k, v in via_api.items()}
    assert all(gid in [g.id for g in found] for gid, found in via_import.items())
    assert analytics_via_import == analytics_via_api
    assert analytics_via_import

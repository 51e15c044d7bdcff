"""Dexie imports: move a browser's ViralDashboard data (a dexie-export-import file) into the tenant, all or nothing.

The file is streamed (never held in memory) and written in batches inside one transaction: a file that is not
JSON, is not a ViralDashboard export, is cut short or has one row that does not fit the original's types writes
nothing, and the report says which row and why. Rows keep their original ids, so importing the same file again
changes nothing and a newer export adds (or updates) only what differs. A table that points at another
(critiques at concepts, adjustments at critiques) is written after it; when the file lists it first, it is read
again in a later pass. Three ways in: the CLI (`viral import-dexie`), an upload through a presigned S3 URL
(`POST /api/imports`), and the S3 notification of that upload (the import worker).
"""

from __future__ import annotations

import gc
import hashlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from viral.db.uow import UnitOfWork, translate_database_errors, unit_of_work
from viral.errors import DomainError, InvalidInput, NotFound, Permanent, Retryable
from viral.imports.dexie import DexieFormatError, DexieReader, Header, Row, TableEnd, TableStart
from viral.imports.mapping import (
    DATABASE_NAME,
    SCHEMA_VERSIONS,
    MappedRow,
    RowInvalid,
    TableSpec,
    canonical_json,
    check_storable,
    known_tables,
    map_row,
    row_id,
)
from viral.imports.objects import ObjectChanged, open_upload, presigned_put
from viral.imports.report import (
    ChildCounts,
    FileInfo,
    ImportProblem,
    ImportRefused,
    ImportReport,
    TableReport,
    refuse,
    shorten,
)
from viral.imports.repository import IMPORT_JOB_TYPE, ImportRepository, Outcome
from viral.observability import logger
from viral.operations.repository import JobRecord, JobRepository
from viral.outbound.events import emit
from viral.settings import get_settings
from viral.tenancy import current_tenant, tenant_scope
from viral.wire import CamelModel

BATCH_ROWS = 500
BATCH_CONCEPTS = 2_000
UPLOAD_CONTENT_TYPE = "application/json"
KEY_PATTERN = re.compile(r"^imports/(?P<tenant>[0-9a-f-]{36})/(?P<import_id>[0-9a-f-]{36})\.json$")

Opener = Callable[[], AbstractContextManager[BinaryIO]]


class _DryRun(Exception):
    """Rolls the import's savepoint back after a complete dry run."""


# --- one import ----------------------------------------------------------------------------------------------


def run_import(
    open_file: Opener, *, dry_run: bool = False, max_bytes: int | None = None, import_id: str | None = None
) -> ImportReport:
    """Import one file into the tenant bound to this context: everything in it, or (refused) nothing.

    `open_file` opens the file afresh each time it is read (a table listed before the table it points at needs a
    second read). Joins the caller's unit of work; the import's writes sit in a savepoint that a refusal or a
    dry run rolls back, so the caller can still record the outcome in the same transaction. Database outages
    and timeouts propagate (Retryable): retrying them can succeed.
    """
    started = time.perf_counter()
    report = ImportReport(import_id=import_id, status="imported", dry_run=dry_run)
    with unit_of_work() as uow, _fewer_collections():
        importer = _Importer(uow, open_file, max_bytes, report)
        try:
            with uow.session.begin_nested():
                importer.run()
                if dry_run:
                    raise _DryRun
            report.written = True
        except _DryRun:
            report.status = "checked"
        except ImportRefused as refused:
            report.status, report.problem = "refused", refused.problem
            for table in report.tables:  # rolled back: nothing of it was written
                table.inserted = table.updated = table.unchanged = 0
                table.children = [ChildCounts(name=c.name, in_file=c.in_file) for c in table.children]
    report.duration_ms = int((time.perf_counter() - started) * 1000)
    logger.info(
        "dexie import",
        extra={"import_id": import_id, "status": report.status, "bytes": report.file.size_bytes, **report.totals()},
    )
    return report


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often during the import, then as before.

    Parsing makes millions of short-lived containers (freed by reference counting) while the maps of ids seen keep
    growing; at the default threshold the collector ran thousands of times over them, a quarter of the import's time.
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass
class _Batch:
    rows: list[tuple[int, MappedRow]] = field(default_factory=list)
    concepts: int = 0


class _TableRun:
    """One table of the file, read in one pass: counted, hashed, validated, written in batches."""

    def __init__(self, importer: _Importer, report: TableReport, spec: TableSpec | None, version: float) -> None:
        self.importer = importer
        self.report = report
        self.spec = spec
        self.version = version
        self.hash = hashlib.sha256()
        self.batch = _Batch()
        self.ids: dict[str, int] = {}

    def add(self, row: Row) -> None:
        report = self.report
        report.rows_in_file += 1
        canonical = canonical_json(row.value)
        self.hash.update(canonical)
        self.hash.update(b"\n")
        if self.spec is None:
            report.parsed += 1
            report.skip(row.index, row_id(row), f"not a table of {DATABASE_NAME} schema version {self.version:g}")
            return
        try:
            check_storable(canonical)
            mapped = map_row(self.spec, row)
        except RowInvalid as invalid:
            raise self.refuse_row("INVALID_ROW", row.index, row_id(row), invalid.message, invalid.details) from None
        report.parsed += 1
        for name in mapped.ignored_fields:
            report.ignore_field(name)
        if (earlier := self.ids.setdefault(mapped.id, row.index)) != row.index:
            raise self.refuse_row("DUPLICATE_ID", row.index, mapped.id, f"the id is also used by row {earlier}")
        if self.spec.name == "generations":
            self.importer.claim_concepts(self, row.index, mapped)
        self.batch.rows.append((row.index, mapped))
        self.batch.concepts += len(getattr(mapped.model, "concepts", ()))
        if len(self.batch.rows) >= BATCH_ROWS or self.batch.concepts >= BATCH_CONCEPTS:
            self.flush()

    def finish(self) -> None:
        self.flush()
        self.report.sha256 = self.hash.hexdigest()

    def flush(self) -> None:
        batch, self.batch = self.batch, _Batch()
        if not batch.rows or self.spec is None:
            return
        first, last = batch.rows[0][0], batch.rows[-1][0]
        try:
            with translate_database_errors():
                outcomes = _WRITERS[self.spec.name](self.importer, self, batch.rows)
        except DomainError as error:
            if isinstance(error, Retryable):
                raise
            raise refuse(
                "REJECTED_BY_DATABASE",
                f"the database refused {self.report.name} rows {first} to {last}: {error.message}",
                table=self.report.name,
                index=first,
            ) from error
        for outcome in outcomes.values():
            if outcome == "inserted":
                self.report.inserted += 1
            elif outcome == "updated":
                self.report.updated += 1
            else:
                self.report.unchanged += 1

    def refuse_row(
        self, code: str, index: int, row_id: str | None, message: str, details: list[dict[str, str]] | None = None
    ) -> ImportRefused:
        row_id = shorten(row_id)  # an id is the file's string: the report quotes at most its start
        where = f"{self.report.name} row {index}" + (f" (id {row_id})" if row_id else "")
        return ImportRefused(
            ImportProblem(
                code=code,
                message=f"{where}: {message}",
                table=self.report.name,
                index=index,
                id=row_id,
                details=details,
            )
        )


class _Importer:
    """Reads the file in as many passes as the tables' order needs, writing each table in the pass that reads it."""

    MAX_PASSES = 4

    def __init__(self, uow: UnitOfWork, open_file: Opener, max_bytes: int | None, report: ImportReport) -> None:
        self.uow = uow
        self.open_file = open_file
        self.max_bytes = max_bytes
        self.report = report
        self.specs: dict[str, TableSpec] = {}
        self.version: float = 0
        self.done: set[str] = set()
        self.present: set[str] = set()
        self.declared: dict[str, int | None] = {}
        self.concepts: dict[str, tuple[int, str]] = {}
        self.skipped_critiques: set[str] = set()

    def run(self) -> None:
        for number in range(1, self.MAX_PASSES + 1):
            self.report.passes = number
            if not self._read(number):
                break
        for name, spec in self.specs.items():  # tables of the schema the file does not carry
            if name not in self.present and self.report.table(name) is None:
                self.report.tables.append(TableReport(name=name, known=True, mapped_to=list(spec.mapped_to)))

    def _read(self, number: int) -> list[str]:
        """One pass over the file; the tables it had to leave for a later pass."""
        deferred: list[str] = []
        current: _TableRun | None = None
        with self.open_file() as stream:
            reader = DexieReader(stream, max_bytes=self.max_bytes)
            try:
                for item in reader:
                    if isinstance(item, Row):
                        if current is not None:
                            current.add(item)
                    else:
                        current = self._boundary(item, number, deferred, current)
            except DexieFormatError as error:
                raise self._unreadable(error, current) from None
        if number == 1:
            self.report.file.size_bytes, self.report.file.sha256 = reader.size, reader.sha256
        elif reader.sha256 != self.report.file.sha256:
            raise refuse("FILE_CHANGED", "the file changed while it was being imported")
        return deferred

    def _boundary(
        self, item: Header | TableStart | TableEnd, number: int, deferred: list[str], current: _TableRun | None
    ) -> _TableRun | None:
        """The header or a table's start or end; the table being read after it, if any."""
        if isinstance(item, TableStart):
            return self._start(item, number, deferred)
        if isinstance(item, TableEnd) and current is not None:
            current.finish()
            self.done.add(current.report.name)
        elif isinstance(item, Header) and number == 1:
            self._accept(item)
        return None

    def _unreadable(self, error: DexieFormatError, current: _TableRun | None) -> ImportRefused:
        if current is None:
            return refuse(error.code, error.message)
        rows = current.report.rows_in_file
        return refuse(
            error.code,
            f"{error.message}; in table {current.report.name} after {rows} complete rows",
            table=current.report.name,
            index=rows,
        )

    def _accept(self, header: Header) -> None:
        info = self.report.file
        info.format_name, info.format_version = header.format_name, header.format_version
        info.database_name, info.database_version = header.database_name, header.database_version
        if header.database_name != DATABASE_NAME:
            raise refuse(
                "WRONG_DATABASE",
                f"this is an export of the database {header.database_name!r}, not the dashboard's {DATABASE_NAME!r}",
            )
        specs = known_tables(header.database_version)
        if specs is None:
            known = ", ".join(str(v) for v in SCHEMA_VERSIONS)
            raise refuse(
                "UNSUPPORTED_DATABASE_VERSION",
                f"{DATABASE_NAME} schema version {header.database_version:g} is not one the original had ({known})",
            )
        self.specs, self.version = specs, header.database_version
        self.declared = {t.name: t.row_count for t in header.tables}

    def _start(self, start: TableStart, number: int, deferred: list[str]) -> _TableRun | None:
        spec = self.specs.get(start.name)
        if number == 1:
            if start.name in self.present:
                raise refuse("WRONG_FORMAT", f"table {start.name!r} appears twice in data.data", table=start.name)
            self.present.add(start.name)
            self.report.tables.append(
                TableReport(
                    name=start.name,
                    known=spec is not None,
                    mapped_to=list(spec.mapped_to) if spec else [],
                    inbound=start.inbound,
                    declared_rows=self.declared.get(start.name),
                )
            )
        report = self.report.table(start.name)
        if start.name in self.done or report is None:
            return None
        parent = spec.parent if spec is not None else None
        if parent is not None and parent not in self.done and (number == 1 or parent in self.present):
            # Its rows point at the parent's: written once the parent's are (or once the parent is known absent).
            deferred.append(start.name)
            return None
        return _TableRun(self, report, spec, self.version)

    def claim_concepts(self, run: _TableRun, index: int, mapped: MappedRow) -> None:
        """Concept ids are unique in the tenant: two generations of one file cannot share one."""
        for concept in mapped.model.concepts:
            owner = self.concepts.setdefault(concept.id, (index, mapped.id))
            if owner != (index, mapped.id):
                raise run.refuse_row(
                    "DUPLICATE_ID", index, mapped.id, f"concept {concept.id} is also in generations row {owner[0]}"
                )


# --- the writers of each table (one batch each) -----------------------------------------------------------------


def _write_generations(importer: _Importer, run: _TableRun, rows: list[tuple[int, MappedRow]]) -> dict[str, Outcome]:
    repo = importer.uow.repository(ImportRepository)
    owners = repo.concept_generations(c.id for _, m in rows for c in m.model.concepts)
    for index, mapped in rows:
        for concept in mapped.model.concepts:
            owner = owners.get(concept.id)
            if owner is not None and owner != mapped.id:
                raise run.refuse_row(
                    "CONFLICT", index, mapped.id, f"concept {concept.id} already belongs to generation {owner}"
                )
    written = repo.upsert_generations([m.model for _, m in rows])
    children = run.report.children or [ChildCounts(name="concepts")]
    run.report.children = children
    counts = children[0]
    counts.in_file += sum(len(m.model.concepts) for _, m in rows)
    counts.inserted += written.concepts.inserted
    counts.updated += written.concepts.updated
    counts.removed += written.concepts.removed
    return written.outcomes


def _write_critiques(importer: _Importer, run: _TableRun, rows: list[tuple[int, MappedRow]]) -> dict[str, Outcome]:
    repo = importer.uow.repository(ImportRepository)
    known = repo.concept_generations(m.model.concept_id for _, m in rows)
    kept = []
    for index, mapped in rows:
        if mapped.model.concept_id in known:
            kept.append(mapped.model)
        else:
            importer.skipped_critiques.add(mapped.id)
            run.report.skip(index, mapped.id, "its concept is neither in this file nor in the tenant's data")
    return repo.upsert_critiques(kept) if kept else {}


def _write_insights(importer: _Importer, run: _TableRun, rows: list[tuple[int, MappedRow]]) -> dict[str, Outcome]:
    repo = importer.uow.repository(ImportRepository)
    holders = repo.insights_by_pattern(m.model.pattern for _, m in rows)
    kept = []
    for index, mapped in rows:
        insight = mapped.model
        key = (insight.category, insight.platform, insight.pattern)
        holder = holders.setdefault(key, insight.id)
        if holder != insight.id:
            # One insight per (category, platform, pattern) in a tenant, as save_insight keeps it: the one
            # already recorded stays, and which evidence to believe is not ours to guess.
            run.report.skip(index, insight.id, "another insight already holds this category, platform and pattern")
        else:
            kept.append(insight)
    return repo.upsert_insights(kept) if kept else {}


def _write_adjustments(importer: _Importer, run: _TableRun, rows: list[tuple[int, MappedRow]]) -> dict[str, Outcome]:
    repo = importer.uow.repository(ImportRepository)
    known = repo.existing_critiques(m.model.critique_id for _, m in rows)
    kept = []
    for index, mapped in rows:
        critique_id = mapped.model.critique_id
        if critique_id in known:
            kept.append(mapped.model)
        elif critique_id in importer.skipped_critiques:
            run.report.skip(index, mapped.id, "its critique was skipped")
        else:
            run.report.skip(index, mapped.id, "its critique is neither in this file nor in the tenant's data")
    return repo.upsert_adjustments(kept) if kept else {}


_WRITERS: dict[str, Callable[[_Importer, _TableRun, list[tuple[int, MappedRow]]], dict[str, Outcome]]] = {
    "generations": _write_generations,
    "critiques": _write_critiques,
    "insights": _write_insights,
    "adjustments": _write_adjustments,
}


# --- the import job (the ledger the API reads) ----------------------------------------------------------------


class ImportUpload(CamelModel):
    """Where and how to upload the export file; its arrival starts the import."""

    import_id: str
    status: str = "pending"  # as GET /api/imports/{id} says until the uploaded file's import is done
    key: str
    upload_url: str
    method: str = "PUT"
    headers: dict[str, str]
    expires_at: datetime


class ImportView(CamelModel):
    import_id: str
    status: str
    source: str | None = None
    created_at: datetime
    completed_at: datetime | None = None
    error: str | None = None
    report: dict[str, Any] | None = None


_JOB_STATUS = {"pending": "pending", "running": "running", "completed": "imported", "failed": "refused"}


def import_key(tenant_id: uuid.UUID, import_id: uuid.UUID) -> str:
    return f"imports/{tenant_id}/{import_id}.json"


def parse_import_key(key: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The tenant and import ids of an upload's object key (`imports/<tenant>/<import-id>.json`), validated."""
    match = KEY_PATTERN.fullmatch(key)
    if match is None:
        raise InvalidInput("not an import upload key", details={"key": key[:200]})
    try:
        tenant, import_id = uuid.UUID(match["tenant"]), uuid.UUID(match["import_id"])
    except ValueError as exc:
        raise InvalidInput("not an import upload key", details={"key": key[:200]}) from exc
    if import_key(tenant, import_id) != key:  # one spelling per import (canonical lower-case UUIDs)
        raise InvalidInput("not an import upload key", details={"key": key[:200]})
    return tenant, import_id


def request_import(*, now: datetime | None = None) -> ImportUpload:
    """A new import of the current tenant: its job row, and a presigned URL to PUT the export file to."""
    settings = get_settings()
    if not settings.media_bucket:
        raise Permanent("imports are not configured (MEDIA_BUCKET is not set)")
    tenant, import_id = current_tenant(), uuid.uuid4()
    key = import_key(tenant, import_id)
    expires_at = (now or datetime.now(UTC)) + timedelta(seconds=settings.import_url_ttl_s)
    url = presigned_put(
        settings.media_bucket, key, content_type=UPLOAD_CONTENT_TYPE, expires_s=settings.import_url_ttl_s
    )
    with unit_of_work() as uow:
        uow.repository(JobRepository).enqueue(
            job_type=IMPORT_JOB_TYPE,
            payload={"source": "upload", "key": key, "uploadExpiresAt": expires_at.isoformat()},
            idempotency_key=str(import_id),
        )
    return ImportUpload(
        import_id=str(import_id),
        key=key,
        upload_url=url,
        headers={"Content-Type": UPLOAD_CONTENT_TYPE},
        expires_at=expires_at,
    )


def get_import(import_id: uuid.UUID) -> ImportView:
    """One import of the current tenant with its integrity report; NotFound for any other tenant's."""
    with unit_of_work() as uow:
        job = uow.repository(ImportRepository).job(str(import_id))
    if job is None:
        raise NotFound("import not found")
    result = job.result or {}
    return ImportView(
        import_id=str(import_id),
        status=_JOB_STATUS.get(job.status, job.status),
        source=job.payload.get("source"),
        created_at=job.created_at,
        completed_at=job.completed_at,
        error=job.error_message,
        report=result.get("report"),
    )


def _finish(uow: UnitOfWork, job: JobRecord, report: ImportReport, *, etag: str | None = None) -> None:
    problem = report.problem
    uow.repository(JobRepository).finish(
        job.id,
        status="completed" if report.status == "imported" else "failed",
        result={"report": report.wire(), "etag": etag},
        error=problem.message if problem is not None else None,
    )
    emit(uow, "import.finished", {"importId": report.import_id, "status": report.status, "jobId": str(job.id)})


def import_local_file(path: Path, *, dry_run: bool = False) -> ImportReport:
    """The CLI's way in: import a file from disk into the current tenant (recorded as an import job unless dry)."""
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")

    def open_file() -> AbstractContextManager[BinaryIO]:
        return path.open("rb")

    if dry_run:
        return run_import(open_file, dry_run=True)
    import_id = str(uuid.uuid4())
    with unit_of_work() as uow:
        job, _ = uow.repository(JobRepository).enqueue(
            job_type=IMPORT_JOB_TYPE, payload={"source": "cli", "filename": path.name[:200]}, idempotency_key=import_id
        )
        report = run_import(open_file, import_id=import_id)
        _finish(uow, job, report)
    return report


# --- uploads: the S3 notification ---------------------------------------------------------------------------


class UploadedObject(CamelModel):
    """One object an S3 ObjectCreated notification announces (the key already URL-decoded)."""

    bucket: str
    key: str
    etag: str | None = None
    size: int | None = None


def import_uploads(objects: list[UploadedObject]) -> dict[str, str]:
    """Run the import of each uploaded object once; object key -> outcome.

    A key that is not an import's, or whose import was never requested, is logged and left alone (retrying cannot
    fix it); a transient failure (database, storage) propagates so the notification is delivered again.
    """
    outcomes: dict[str, str] = {}
    for upload in objects:
        try:
            outcomes[upload.key] = _import_upload(upload)
        except (InvalidInput, Permanent) as error:
            if isinstance(error, ObjectChanged):
                outcomes[upload.key] = "superseded"
                continue
            logger.warning("upload not imported", extra={"key": upload.key[:200], "reason": error.message})
            outcomes[upload.key] = "ignored"
    return outcomes


def _import_upload(upload: UploadedObject) -> str:
    settings = get_settings()
    if upload.bucket != settings.media_bucket:
        raise Permanent("the upload is not in the media bucket")
    tenant, import_id = parse_import_key(upload.key)
    logger.append_keys(tenant_id=str(tenant), import_id=str(import_id))
    with tenant_scope(tenant), unit_of_work() as uow:
        job_id = uow.repository(ImportRepository).job_id(str(import_id))
        # Locked until the import commits: a second delivery of the same notification waits, then sees it done.
        job = uow.repository(JobRepository).lock(job_id) if job_id is not None else None
        if job is None:
            raise Permanent("no such import was requested")
        if job.status in ("completed", "failed") and (job.result or {}).get("etag") == upload.etag:
            return "duplicate"
        if upload.size is not None and upload.size > settings.import_max_bytes:
            report = ImportReport(
                import_id=str(import_id),
                status="refused",
                file=FileInfo(size_bytes=upload.size),
                problem=ImportProblem(
                    code="TOO_LARGE", message=f"the file is larger than {settings.import_max_bytes:,} bytes"
                ),
            )
        else:
            report = run_import(_upload_opener(upload), max_bytes=settings.import_max_bytes, import_id=str(import_id))
        _finish(uow, job, report, etag=upload.etag)
    return report.status


def _upload_opener(upload: UploadedObject) -> Opener:
    def open_file() -> AbstractContextManager[BinaryIO]:
        return open_upload(upload.bucket, upload.key, upload.etag)

    return open_file


def report_lines(report: ImportReport) -> Iterator[str]:
    """The report as a few lines of text (the CLI without --json)."""
    yield f"import {report.import_id or '-'}: {report.status}" + (
        " (dry run, nothing written)" if report.dry_run else ""
    )
    info = report.file
    yield f"file: {info.size_bytes:,} bytes, sha256 {info.sha256 or '-'}, {info.database_name} v{info.database_version}"
    for t in report.tables:
        yield (
            f"  {t.name}: {t.rows_in_file} rows, {t.parsed} parsed, {t.inserted} inserted, {t.updated} updated, "
            f"{t.unchanged} unchanged, {t.skipped} skipped" + ("" if t.known else " (unknown table)")
        )
        for reason, count in t.skip_reasons.items():
            yield f"    skipped {count}: {reason}"
    if report.problem is not None:
        yield f"refused ({report.problem.code}): {report.problem.message}"

"""The integrity report of one import: what the file held, what was written, what was skipped and why."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from viral.wire import CamelModel

MAX_LISTED_ROWS = 20
"""Skipped rows listed one by one per table (every one is counted in `skipReasons`)."""
MAX_LISTED_FIELDS = 50
"""Distinct ignored field names listed per table (the others are counted in `ignoredFieldsNotListed`)."""
MAX_NAME_IN_REPORT = 64
"""Characters of a field name or row id the report repeats (longer ones end in an ellipsis)."""


def shorten(text: str | None, limit: int = MAX_NAME_IN_REPORT) -> str | None:
    """A file's string as the report quotes it: at most `limit` characters, so a report stays small."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "\u2026"


ImportStatus = Literal["imported", "checked", "refused"]


class ImportProblem(CamelModel):
    """Why a file was refused: where (table, row index, row id, field) when it is one row's fault."""

    code: str = Field(description="NOT_JSON, TRUNCATED, TOO_LARGE, WRONG_FORMAT, INVALID_ROW, DUPLICATE_ID, ...")
    message: str
    table: str | None = None
    index: int | None = Field(default=None, description="the row's position in its table (0-based)")
    id: str | None = None
    details: list[dict[str, str]] | None = Field(default=None, description="field errors: {field, message}")


class SkippedRow(CamelModel):
    index: int
    id: str | None = None
    reason: str


class ChildCounts(CamelModel):
    """What the rows of one table carried into a second table (a generation's concepts)."""

    name: str
    in_file: int = 0
    inserted: int = 0
    updated: int = 0
    removed: int = 0


class TableReport(CamelModel):
    """One table of the file. `sha256` covers its rows in file order, each as canonical JSON (keys sorted,
    no whitespace, UTF-8) followed by a newline."""

    name: str
    known: bool = Field(description="a ViralDashboard table of this schema version (else skipped)")
    mapped_to: list[str] = Field(default_factory=list, description="the tenant's tables it is written to")
    inbound: bool | None = None
    declared_rows: int | None = Field(default=None, description="rowCount from the file's table list (advisory)")
    rows_in_file: int = 0
    parsed: int = Field(default=0, description="rows read and, for known tables, validated")
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    skip_reasons: dict[str, int] = Field(default_factory=dict)
    skipped_rows: list[SkippedRow] = Field(default_factory=list, description=f"the first {MAX_LISTED_ROWS}")
    ignored_fields: dict[str, int] = Field(
        default_factory=dict,
        description=f"row fields the original's types do not have, not stored (field: rows); the first "
        f"{MAX_LISTED_FIELDS} names, each cut to {MAX_NAME_IN_REPORT} characters",
    )
    ignored_fields_not_listed: int = Field(
        default=0, description="ignored fields of names beyond the listed ones (field occurrences)"
    )
    children: list[ChildCounts] = Field(default_factory=list)
    sha256: str | None = None

    def skip(self, index: int, row_id: str | None, reason: str) -> None:
        self.skipped += 1
        self.skip_reasons[reason] = self.skip_reasons.get(reason, 0) + 1
        if len(self.skipped_rows) < MAX_LISTED_ROWS:
            self.skipped_rows.append(SkippedRow(index=index, id=shorten(row_id), reason=reason))

    def ignore_field(self, name: str) -> None:
        """Count a row field that is not stored: by name for the first names, the rest in one number."""
        shown = shorten(name) or ""
        if shown in self.ignored_fields or len(self.ignored_fields) < MAX_LISTED_FIELDS:
            self.ignored_fields[shown] = self.ignored_fields.get(shown, 0) + 1
        else:
            self.ignored_fields_not_listed += 1


class FileInfo(CamelModel):
    size_bytes: int = 0
    sha256: str | None = None
    format_name: str | None = None
    format_version: int | None = None
    database_name: str | None = None
    database_version: float | None = None


class ImportReport(CamelModel):
    """`imported`: written; `checked`: a dry run that would have been written; `refused`: nothing written."""

    def wire(self) -> dict[str, object]:
        """Every field (a report is filled in after it is made, so "unset" means nothing here)."""
        return self.model_dump(mode="json", by_alias=True)

    import_id: str | None = None
    status: ImportStatus
    dry_run: bool = False
    written: bool = False
    file: FileInfo = Field(default_factory=FileInfo)
    tables: list[TableReport] = Field(default_factory=list)
    problem: ImportProblem | None = None
    passes: int = Field(default=0, description="times the file was read (tables that need one read later)")
    duration_ms: int = 0

    def table(self, name: str) -> TableReport | None:
        return next((t for t in self.tables if t.name == name), None)

    def totals(self) -> dict[str, Any]:
        keys = ("rows_in_file", "parsed", "inserted", "updated", "unchanged", "skipped")
        return {key: sum(getattr(t, key) for t in self.tables) for key in keys}


class ImportRefused(Exception):
    """The file cannot be imported; nothing of it is written."""

    def __init__(self, problem: ImportProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def refuse(code: str, message: str, **where: Any) -> ImportRefused:
    return ImportRefused(ImportProblem(code=code, message=message, **where))

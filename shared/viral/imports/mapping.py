"""The original dashboard's IndexedDB (`ViralDashboard`, Dexie) and how its rows become the tenant's records.

The original's `src/lib/storage.ts`:

    version(1): generations: 'id, date, isFavorite'
    version(2): generations: 'id, date, isFavorite'
                critiques:   'id, conceptId, createdAt, appliedAt'
                insights:    'id, category, platform, discoveredAt, appliedToScoring'
                adjustments: 'id, category, adjustmentType, appliedAt, critiqueId'

Rows are validated with the same models the storage API uses (`viral.schemas`), so an imported row reads back
through `viral.content.storage` exactly as the dashboard wrote it. Only the tables of the file's schema version
are known; any other table is reported and skipped, never guessed at.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from viral.content.schemas import Generation
from viral.imports.dexie import Row
from viral.imports.typeson import Binary, TypesonError, Unsupported
from viral.learning.schemas import ReflexionInsight, ScoringAdjustment, SelfCritique
from viral.wire import CamelModel

DATABASE_NAME = "ViralDashboard"
MAX_ERRORS_LISTED = 10


@dataclass(frozen=True)
class TableSpec:
    """One table of the original's database: the model its rows must fit and where they are written."""

    name: str
    model: type[CamelModel]
    mapped_to: tuple[str, ...]
    parent: str | None = None
    """A table whose rows this table's rows point at: it is written first."""
    required: tuple[str, ...] = ()
    """Fields the original always sets (its TypeScript types require them) that our model leaves optional."""
    not_in_dexie: frozenset[str] = frozenset()
    """Fields of our model that the original's rows never had (not taken from a file)."""

    @property
    def fields(self) -> frozenset[str]:
        """The row keys this table takes: the model's wire names."""
        names = {info.alias or name for name, info in self.model.model_fields.items()}
        return frozenset(names - self.not_in_dexie)


GENERATIONS = TableSpec("generations", Generation, ("generations", "concepts"))
CRITIQUES = TableSpec(
    "critiques",
    SelfCritique,
    ("self_critiques",),
    parent="generations",
    required=("createdAt",),
    not_in_dexie=frozenset({"feedbackId"}),
)
INSIGHTS = TableSpec("insights", ReflexionInsight, ("reflexion_insights",), required=("discoveredAt", "lastSeenAt"))
ADJUSTMENTS = TableSpec(
    "adjustments", ScoringAdjustment, ("scoring_adjustments",), parent="critiques", required=("appliedAt",)
)

SCHEMA_VERSIONS: dict[int, tuple[TableSpec, ...]] = {
    1: (GENERATIONS,),
    2: (GENERATIONS, CRITIQUES, INSIGHTS, ADJUSTMENTS),
}


def known_tables(database_version: float) -> dict[str, TableSpec] | None:
    """The tables of one schema version of the original's database; None for a version it never had."""
    specs = SCHEMA_VERSIONS.get(int(database_version)) if float(database_version).is_integer() else None
    return None if specs is None else {spec.name: spec for spec in specs}


class RowInvalid(Exception):
    """A row of a known table that does not fit the original's type: the file is refused."""

    def __init__(self, message: str, *, field: str | None = None, details: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else ([{"field": field, "message": message}] if field else None)


@dataclass(frozen=True)
class MappedRow:
    id: str
    model: Any
    ignored_fields: tuple[str, ...]


def row_id(row: Row) -> str | None:
    """The row's id as written (for reports; read without reviving the row)."""
    value = row.value
    if isinstance(value, dict) and isinstance(value.get("$types"), dict) and "$" in value:
        value = value["$"]
    if row.inbound:
        found = value.get("id") if isinstance(value, dict) else None
    else:
        found = value[0] if isinstance(value, list) and value else None
    return str(found)[:64] if isinstance(found, str | int) and not isinstance(found, bool) else None


def canonical_json(value: Any) -> bytes:
    """A row as canonical JSON (keys sorted, no whitespace, UTF-8), the unit of the per-table checksums."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "surrogatepass")


def check_storable(canonical: bytes) -> None:
    """Refuse text PostgreSQL cannot store: NUL characters and unpaired surrogates (checked on the canonical form)."""
    try:
        canonical.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RowInvalid("text contains an unpaired UTF-16 surrogate, which cannot be stored") from exc
    if b"\\u0000" in canonical:  # json escapes NUL so; a literal backslash before "u0000" would match too
        path = _nul_path(json.loads(canonical), "")
        if path is not None:
            raise RowInvalid("text contains a NUL character (\\u0000), which cannot be stored", field=path or "row")


def _nul_path(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        found = here if "\x00" in str(key) else _nul_path(item, here)
        if found is not None:
            return found
    return None


def map_row(spec: TableSpec, row: Row) -> MappedRow:
    """The row as our model, or RowInvalid saying which field is wrong and why."""
    try:
        value = row.revived()
    except TypesonError as error:
        raise RowInvalid(f"its $types cannot be applied: {error.message}", field=error.path or "$types") from error
    record = _record(row, value)
    if isinstance(row.value, dict) and "$types" in row.value:
        record = _plain(record, "")
    missing = [name for name in spec.required if record.get(name) is None]
    if missing:
        raise RowInvalid(
            f"{', '.join(missing)} missing: the original always sets {'them' if len(missing) > 1 else 'it'}",
            details=[{"field": name, "message": "required"} for name in missing],
        )
    fields = spec.fields
    ignored = tuple(sorted(key for key in record if key not in fields))
    payload = {key: item for key, item in record.items() if key in fields}
    try:
        model = spec.model.model_validate(payload)
    except ValidationError as error:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "row", "message": e["msg"]}
            for e in error.errors()[:MAX_ERRORS_LISTED]
        ]
        raise RowInvalid(f"the row does not match the original's {spec.name} type", details=details) from error
    return MappedRow(id=model.id, model=model, ignored_fields=ignored)  # type: ignore[attr-defined]


def _record(row: Row, value: Any) -> dict[str, Any]:
    """The row's object: inbound rows are it, outbound rows are `[key, value]` with the id as the key."""
    if row.inbound:
        if not isinstance(value, dict):
            raise RowInvalid("an inbound row must be an object")
        return value
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict)):
        raise RowInvalid("an outbound row must be a [key, value] pair with an object value")
    key, record = value
    if not isinstance(key, str):
        raise RowInvalid("the row's primary key must be a string id", field="key")
    if "id" in record and record["id"] != key:
        raise RowInvalid("the row's primary key and its id differ", field="id")
    return {**record, "id": key}


def _plain(value: Any, path: str) -> Any:
    """Revived values as JSON the models read: dates as ISO 8601; binary and unrevivable types refused."""
    if isinstance(value, dict):
        return {key: _plain(item, f"{path}.{key}" if path else key) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, f"{path}.{i}" if path else str(i)) for i, item in enumerate(value)]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Binary):
        raise RowInvalid(f"binary data ({value.kind}) has no place in this table", field=path)
    if isinstance(value, Unsupported):
        raise RowInvalid(f"values of Typeson type {value.type_name!r} are not accepted", field=path)
    if isinstance(value, float) and not math.isfinite(value):
        raise RowInvalid("numbers must be finite (not NaN or Infinity)", field=path)
    return value

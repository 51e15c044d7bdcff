"""Reading a dexie-export-import file (format version 1) as a stream, in memory bounded by its largest row.

The format (dexie-export-import's README, `json-structure.ts`):

    {"formatName": "dexie", "formatVersion": 1,
     "data": {"databaseName": ..., "databaseVersion": ..., "tables": [{"name", "schema", "rowCount"}, ...],
              "data": [{"tableName": ..., "inbound": true|false, "rows": [...]}, ...]}}

`data` comes last, `rows` last in each table: that is what makes the format streamable, and this reader relies on it
(a file that puts them earlier is refused, never half-read). Inbound rows are the values themselves (the key is
inside); outbound rows are `[key, value]` tuples. Rows may carry Typeson `$types` (see `typeson.py`): `Row.value`
is the row as written, `Row.revived()` the value it stands for.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import ijson

from viral.imports.typeson import revive

FORMAT_NAME = "dexie"
FORMAT_VERSION = 1
ROW_PREFIX = "data.data.item.rows.item"
READ_SIZE = 256 * 1024
MAX_ROW_DEPTH = 32
"""Nesting a row may have (a dashboard row needs about 6): deeper rows are refused before they are built."""
ROW_DEPTH = 5  # the containers around a row: the root, data, data.data, the table entry, its rows
MAX_KEY_LENGTH = 256
"""Characters a field name may have, anywhere in the file."""


class DexieFormatError(Exception):
    """The file is not a readable dexie-export-import file; `code` says which way."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TableInfo:
    """One entry of `data.tables`: the table's name, Dexie schema string and row count (advisory)."""

    name: str
    schema: str | None
    row_count: int | None


@dataclass(frozen=True)
class Header:
    format_name: str
    format_version: int
    database_name: str
    database_version: float
    tables: tuple[TableInfo, ...]


@dataclass(frozen=True)
class TableStart:
    name: str
    inbound: bool
    position: int


@dataclass(frozen=True)
class Row:
    table: str
    inbound: bool
    index: int
    value: Any

    def revived(self) -> Any:
        """The row with its Typeson types revived (raises TypesonError when they do not fit the row)."""
        return revive(self.value)


@dataclass(frozen=True)
class TableEnd:
    name: str
    rows: int


Item = Header | TableStart | Row | TableEnd


class _CountingStream:
    """Hashes and counts the bytes as the parser reads them; refuses to read past `max_bytes`."""

    def __init__(self, stream: BinaryIO, max_bytes: int | None) -> None:
        self._stream = stream
        self._max_bytes = max_bytes
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self.size += len(data)
            if self._max_bytes is not None and self.size > self._max_bytes:
                raise DexieFormatError("TOO_LARGE", f"the file is larger than {self._max_bytes:,} bytes")
            self._hash.update(data)
        return bytes(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@dataclass
class _State:
    format_name: str | None = None
    format_version: int | None = None
    database_name: str | None = None
    database_version: float | None = None
    tables: list[TableInfo] = field(default_factory=list)
    table_info: dict[str, Any] = field(default_factory=dict)
    header_seen: bool = False
    position: int = -1
    table: str | None = None
    inbound: bool | None = None
    rows_started: bool = False
    index: int = 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class DexieReader:
    """Iterate a file's header, tables and rows in file order; afterwards `size` and `sha256` describe the bytes.

    Raises DexieFormatError (codes NOT_JSON, TRUNCATED, TOO_LARGE, TOO_DEEP, KEY_TOO_LONG, WRONG_FORMAT,
    UNSUPPORTED_FORMAT_VERSION) at the
    point the file stops being readable; rows before that point have been yielded already.
    """

    def __init__(self, stream: BinaryIO, *, max_bytes: int | None = None) -> None:
        self._stream = _CountingStream(stream, max_bytes)
        self.complete = False

    @property
    def size(self) -> int:
        return self._stream.size

    @property
    def sha256(self) -> str | None:
        """The file's SHA-256, once it has been read to the end."""
        return self._stream.hexdigest() if self.complete else None

    def __iter__(self) -> Iterator[Item]:
        state, pending = _State(), deque[Item]()
        events = ijson.parse(self._stream, use_float=True, buf_size=READ_SIZE)
        rows = ijson.items(self._watch(events, state, pending), ROW_PREFIX)
        try:
            # ijson builds each row from the events; the watcher sees every event first and queues the table
            # boundaries, so when a row comes out, the queue holds exactly what preceded it in the file.
            for value in rows:
                while pending:
                    yield pending.popleft()
                index = state.index
                state.index += 1
                yield Row(table=state.table or "", inbound=bool(state.inbound), index=index, value=value)
            while pending:
                yield pending.popleft()
        except ijson.JSONError as error:
            raise self._json_error(error) from error
        if not state.header_seen:
            if state.format_name is None:
                raise DexieFormatError("WRONG_FORMAT", "this JSON is not a Dexie export: it has no formatName")
            raise DexieFormatError("WRONG_FORMAT", "the export has no data.data array of tables")
        self.complete = True

    def _json_error(self, error: ijson.JSONError) -> DexieFormatError:
        raw = error.args[0] if error.args else ""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        first_line = (text.strip().splitlines() or ["invalid JSON"])[0].strip()
        if self._stream.size == 0:
            return DexieFormatError("NOT_JSON", "the file is empty")
        if "premature EOF" in first_line:
            return DexieFormatError(
                "TRUNCATED", f"the file ends before its JSON does (truncated after {self._stream.size:,} bytes)"
            )
        return DexieFormatError("NOT_JSON", f"the file is not valid JSON ({first_line})")

    def _watch(self, events: Iterator[tuple[str, str, Any]], state: _State, pending: deque[Item]) -> Iterator[Any]:
        depth = 0
        for event in events:
            kind = event[1]
            if kind == "start_map" or kind == "start_array":
                depth += 1
                if depth > ROW_DEPTH + MAX_ROW_DEPTH:  # checked on the event, before the row is built
                    raise DexieFormatError("TOO_DEEP", f"a row is nested deeper than {MAX_ROW_DEPTH} levels")
            elif kind == "end_map" or kind == "end_array":
                depth -= 1
            elif kind == "map_key" and len(event[2]) > MAX_KEY_LENGTH:
                raise DexieFormatError(
                    "KEY_TOO_LONG",
                    f"a field name is longer than {MAX_KEY_LENGTH} characters ({len(event[2]):,}, "
                    f"starting {event[2][:40]!r})",
                )
            if not event[0].startswith(ROW_PREFIX):
                self._on_event(event[0], event[1], event[2], state, pending)
            yield event

    def _on_event(self, prefix: str, kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
        handler = _HANDLERS.get(prefix)
        if handler is not None and kind != "map_key":
            handler(kind, value, state, pending)


def _wrong(message: str) -> DexieFormatError:
    return DexieFormatError("WRONG_FORMAT", message)


def _root(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind not in ("start_map", "end_map"):
        raise _wrong("this JSON is not a Dexie export: its root is not an object")


def _format_name(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind != "string" or value != FORMAT_NAME:
        raise _wrong(f"this is not a Dexie export: formatName is {value!r}, expected {FORMAT_NAME!r}")
    state.format_name = value


def _format_version(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if not (kind == "number" and _number(value) and value == FORMAT_VERSION):
        raise DexieFormatError(
            "UNSUPPORTED_FORMAT_VERSION",
            f"formatVersion {value!r} is not supported: only dexie-export-import format {FORMAT_VERSION} is",
        )
    state.format_version = FORMAT_VERSION


def _data(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind == "start_map" and (state.format_name is None or state.format_version is None):
        raise _wrong("formatName and formatVersion must come before data, as dexie-export-import writes them")
    if kind not in ("start_map", "end_map"):
        raise _wrong("data must be an object")


def _database_name(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind != "string":
        raise _wrong("data.databaseName must be a string")
    state.database_name = value


def _database_version(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind != "number" or not _number(value):
        raise _wrong("data.databaseVersion must be a number")
    state.database_version = value


def _tables(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind not in ("start_array", "end_array"):
        raise _wrong("data.tables must be an array")


def _table_info(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind == "start_map":
        state.table_info = {}
    elif kind == "end_map":
        info = state.table_info
        if not isinstance(info.get("name"), str):
            raise _wrong("every entry of data.tables needs a name")
        row_count = info.get("rowCount")
        state.tables.append(
            TableInfo(
                name=info["name"],
                schema=info.get("schema") if isinstance(info.get("schema"), str) else None,
                row_count=int(row_count) if isinstance(row_count, int | float) and _number(row_count) else None,
            )
        )
    else:
        raise _wrong("every entry of data.tables must be an object")


def _table_field(name: str) -> Any:
    def handler(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
        state.table_info[name] = value

    return handler


def _table_list(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind == "end_array":
        return
    if kind != "start_array":
        raise _wrong("data.data must be an array")
    if state.database_name is None or state.database_version is None:
        raise _wrong("data.databaseName and data.databaseVersion must come before data.data")
    state.header_seen = True
    pending.append(
        Header(
            format_name=state.format_name or FORMAT_NAME,
            format_version=state.format_version or FORMAT_VERSION,
            database_name=state.database_name,
            database_version=state.database_version,
            tables=tuple(state.tables),
        )
    )


def _table_entry(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind == "start_map":
        state.position += 1
        state.table, state.inbound, state.rows_started = None, None, False
    elif kind == "end_map":
        if not state.rows_started:
            raise _wrong(f"the data entry of table {state.table!r} has no rows array")
    else:
        raise _wrong("every entry of data.data must be an object")


def _table_name(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind != "string" or not value:
        raise _wrong("every entry of data.data needs a tableName string")
    state.table = value


def _inbound(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind != "boolean":
        raise _wrong("inbound must be true or false")
    state.inbound = value


def _rows(kind: str, value: Any, state: _State, pending: deque[Item]) -> None:
    if kind == "start_array":
        if state.table is None or state.inbound is None:
            raise _wrong("tableName and inbound must come before rows, as dexie-export-import writes them")
        state.rows_started, state.index = True, 0
        pending.append(TableStart(name=state.table, inbound=state.inbound, position=state.position))
    elif kind == "end_array":
        pending.append(TableEnd(name=state.table or "", rows=state.index))
    else:
        raise _wrong(f"rows of table {state.table!r} must be an array")


_HANDLERS = {
    "": _root,
    "formatName": _format_name,
    "formatVersion": _format_version,
    "data": _data,
    "data.databaseName": _database_name,
    "data.databaseVersion": _database_version,
    "data.tables": _tables,
    "data.tables.item": _table_info,
    "data.tables.item.name": _table_field("name"),
    "data.tables.item.schema": _table_field("schema"),
    "data.tables.item.rowCount": _table_field("rowCount"),
    "data.data": _table_list,
    "data.data.item": _table_entry,
    "data.data.item.tableName": _table_name,
    "data.data.item.inbound": _inbound,
    "data.data.item.rows": _rows,
}

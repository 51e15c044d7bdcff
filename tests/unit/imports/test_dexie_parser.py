"""The dexie-export-import reader, Typeson revival and row mapping (no database)."""

from __future__ import annotations

import base64
import io
import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from viral.imports.dexie import DexieFormatError, DexieReader, Header, Row, TableEnd, TableStart
from viral.imports.mapping import CRITIQUES, GENERATIONS, RowInvalid, check_storable, map_row, row_id
from viral.imports.typeson import UNDEFINED, Binary, TypesonError, Unsupported, revive

from tests import dexie_files as dx


def doc(*tables: dict[str, Any], **top: Any) -> bytes:
    document = {
        "formatName": "dexie",
        "formatVersion": 1,
        **top,
        "data": {
            "databaseName": "ViralDashboard",
            "databaseVersion": 2,
            "tables": [{"name": t["tableName"], "schema": "id", "rowCount": len(t["rows"])} for t in tables],
            "data": list(tables),
        },
    }
    return json.dumps(document).encode()


def items(content: bytes, **options: Any) -> list[Any]:
    return list(DexieReader(io.BytesIO(content), **options))


def refusal(content: bytes, **options: Any) -> DexieFormatError:
    with pytest.raises(DexieFormatError) as caught:
        items(content, **options)
    return caught.value


class Trickle(io.RawIOBase):
    """A stream that hands out a few bytes per read and remembers how far it has been read."""

    def __init__(self, content: bytes, chunk: int = 7) -> None:
        self.content, self.chunk, self.position = content, chunk, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        part = self.content[self.position : self.position + min(self.chunk, size if size >= 0 else self.chunk)]
        self.position += len(part)
        return part


# --- the reader ---------------------------------------------------------------------------------------------


def test_reader_yields_header_tables_and_rows_in_file_order() -> None:
    content = doc(
        {"tableName": "generations", "inbound": True, "rows": [{"id": "g1"}, {"id": "g2"}]},
        {"tableName": "empty", "inbound": True, "rows": []},
        {"tableName": "pairs", "inbound": False, "rows": [["k1", {"v": 1}]]},
    )
    reader = DexieReader(io.BytesIO(content))
    got = list(reader)
    header = got[0]
    assert isinstance(header, Header)
    assert (header.database_name, header.database_version) == ("ViralDashboard", 2)
    assert [(t.name, t.row_count) for t in header.tables] == [("generations", 2), ("empty", 0), ("pairs", 1)]
    assert got[1:] == [
        TableStart("generations", True, 0),
        Row("generations", True, 0, {"id": "g1"}),
        Row("generations", True, 1, {"id": "g2"}),
        TableEnd("generations", 2),
        TableStart("empty", True, 1),
        TableEnd("empty", 0),
        TableStart("pairs", False, 2),
        Row("pairs", False, 0, ["k1", {"v": 1}]),
        TableEnd("pairs", 1),
    ]
    import hashlib

    assert (reader.size, reader.sha256) == (len(content), hashlib.sha256(content).hexdigest())


def test_rows_come_out_while_the_file_is_still_being_read() -> None:
    rows = [{"id": f"g{n}", "text": "x" * 200} for n in range(2_000)]
    stream = Trickle(doc({"tableName": "generations", "inbound": True, "rows": rows}), chunk=4096)
    reader = iter(DexieReader(stream))  # type: ignore[arg-type]
    first_row = next(item for item in reader if isinstance(item, Row))
    assert first_row.value == rows[0]
    assert stream.position < len(stream.content) / 50, "the reader read (nearly) the whole file before a row"
    assert sum(1 for item in reader if isinstance(item, Row)) == len(rows) - 1


def test_reader_works_on_streams_that_hand_out_a_few_bytes_at_a_time() -> None:
    content = dx.export_bytes(dx.dashboard_data(generations=3), outbound=True, pretty=True)
    slow = [i for i in DexieReader(Trickle(content)) if isinstance(i, Row)]  # type: ignore[arg-type]
    fast = [i for i in DexieReader(io.BytesIO(content)) if isinstance(i, Row)]
    assert slow == fast and len(fast) == 11


@pytest.mark.parametrize(
    ("content", "code", "says"),
    [
        (b"", "NOT_JSON", "empty"),
        (b"<html>nope</html>", "NOT_JSON", "not valid JSON"),
        (b'{"formatName": "dexie"} trailing', "NOT_JSON", "trailing garbage"),
        (doc({"tableName": "t", "inbound": True, "rows": [{"id": "a"}]})[:-20], "TRUNCATED", "truncated"),
        (b"[1, 2]", "WRONG_FORMAT", "root is not an object"),
        (b'{"hello": "world"}', "WRONG_FORMAT", "no formatName"),
        (b'{"formatName": "dexie-cloud", "formatVersion": 1}', "WRONG_FORMAT", "'dexie-cloud'"),
        (b'{"formatName": "dexie", "formatVersion": 2}', "UNSUPPORTED_FORMAT_VERSION", "formatVersion 2"),
        (b'{"formatName": "dexie", "formatVersion": "1"}', "UNSUPPORTED_FORMAT_VERSION", "'1'"),
        (b'{"formatName": "dexie", "formatVersion": true}', "UNSUPPORTED_FORMAT_VERSION", "True"),
        (b'{"data": {}, "formatName": "dexie", "formatVersion": 1}', "WRONG_FORMAT", "must come before data"),
        (b'{"formatName": "dexie", "formatVersion": 1, "data": {}}', "WRONG_FORMAT", "no data.data"),
        (
            b'{"formatName": "dexie", "formatVersion": 1, "data": {"databaseName": "x", "databaseVersion": 1,'
            b' "data": [{"rows": [], "tableName": "t", "inbound": true}]}}',
            "WRONG_FORMAT",
            "must come before rows",
        ),
        (
            b'{"formatName": "dexie", "formatVersion": 1, "data": {"databaseName": "x", "databaseVersion": 1,'
            b' "data": [{"tableName": "t", "inbound": true, "rows": {}}]}}',
            "WRONG_FORMAT",
            "must be an array",
        ),
        (
            b'{"formatName": "dexie", "formatVersion": 1, "data": {"databaseName": "x", "databaseVersion": 1,'
            b' "data": [{"tableName": "t", "inbound": "yes", "rows": []}]}}',
            "WRONG_FORMAT",
            "inbound must be true or false",
        ),
        (
            b'{"formatName": "dexie", "formatVersion": 1, "data": {"data": []}}',
            "WRONG_FORMAT",
            "databaseName and data.databaseVersion must come before",
        ),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(content: bytes, code: str, says: str) -> None:
    error = refusal(content)
    assert error.code == code
    assert says in error.message


def test_files_past_the_size_limit_are_refused_while_reading() -> None:
    content = doc({"tableName": "t", "inbound": True, "rows": [{"id": str(n)} for n in range(1000)]})
    error = refusal(content, max_bytes=len(content) - 1)
    assert error.code == "TOO_LARGE"
    assert len(items(content, max_bytes=len(content))) == 1003


def test_rows_before_a_refusal_have_been_yielded() -> None:
    content = doc({"tableName": "t", "inbound": True, "rows": [{"id": str(n)} for n in range(100)]})
    reader = DexieReader(io.BytesIO(content[: len(content) // 2]))
    seen = []
    with pytest.raises(DexieFormatError):
        for item in reader:
            seen.append(item)
    assert 10 < sum(isinstance(i, Row) for i in seen) < 100
    assert reader.sha256 is None  # only a file read to its end has a checksum


# --- Typeson ----------------------------------------------------------------------------------------------------


def test_readme_example_row_revives() -> None:
    # dexie-export-import README's example row (with real base64)
    row = {
        "id": 1,
        "date": 1,
        "fullBlob": {"type": "text/plain", "data": base64.b64encode(b"\x00\x01\x02\x03").decode()},
        "binary": {"buffer": base64.b64encode(b"\x01\x02\x03").decode(), "byteOffset": 0, "length": 3},
        "text": "foo",
        "bool": False,
        "$types": {"date": "date", "fullBlob": "blob2", "binary": "uint8array2", "binary.buffer": "arraybuffer"},
    }
    assert revive(row) == {
        "id": 1,
        "date": datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
        "fullBlob": Binary("blob", b"\x00\x01\x02\x03", mime="text/plain"),
        "binary": Binary("uint8array", b"\x01\x02\x03"),
        "text": "foo",
        "bool": False,
    }


def test_typed_arrays_take_their_slice_of_the_buffer() -> None:
    buffer = base64.b64encode(bytes(range(16))).decode()
    row = {
        "v": {"buffer": buffer, "byteOffset": 4, "length": 2},
        "$types": {"v": "uint16array2", "v.buffer": "arraybuffer"},
    }
    assert revive(row) == {"v": Binary("uint16array", bytes([4, 5, 6, 7]))}
    past = {
        "v": {"buffer": buffer, "byteOffset": 12, "length": 4},
        "$types": {"v": "float32array2", "v.buffer": "arraybuffer"},
    }
    with pytest.raises(TypesonError, match="past its buffer"):
        revive(past)


def test_outbound_rows_in_both_root_forms() -> None:
    bare = ["k1", {"foo": "bar"}]
    assert revive(bare) == bare  # README form: no types, no wrapping
    typed = {"$": ["k1", {"d": 1700000000000}], "$types": {"$": {"1.d": "date"}}}
    assert revive(typed) == ["k1", {"d": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)}]
    wrapped = {"$": [1, {"foo": "bar"}], "$types": {"$": {"": "arrayNonindexKeys"}}}
    assert revive(wrapped) == [1, {"foo": "bar"}]
    as_object = {"$": {"0": "k1", "1": {"a": 1}, "length": 2}, "$types": {"$": {"": "arrayNonindexKeys"}}}
    assert revive(as_object) == ["k1", {"a": 1}]


def test_rows_with_their_own_types_key_are_escaped() -> None:
    own = {"$": {"id": "x", "$types": "mine"}, "$types": True}
    assert revive(own) == {"id": "x", "$types": "mine"}
    typed = {"$": {"$types": "mine", "d": 0}, "$types": {"$": {"d": "date"}}}
    assert revive(typed) == {"$types": "mine", "d": datetime(1970, 1, 1, tzinfo=UTC)}


def test_escaped_key_paths_undefined_and_special_numbers() -> None:
    row = {
        "a.b": 0,
        "t~x": 0,
        "": {"n": "NaN"},
        "gone": 0,
        "list": [1, 0, 3],
        "nums": [0, 0, 0, 0],
        "big": "12345678901234567890",
        "$types": {
            "a~1b": "date",
            "t~0x": "date",
            "''.n": "date",
            "gone": "undef",
            "list.1": "undef",
            "nums.0": "NaN",
            "nums.1": "Infinity",
            "nums.2": "-Infinity",
            "nums.3": "negativeZero",
            "big": "bigint",
        },
    }
    revived = revive(row)
    assert revived["a.b"] == revived["t~x"] == datetime(1970, 1, 1, tzinfo=UTC)
    assert revived[""] == {"n": None}  # an Invalid Date
    assert "gone" not in revived and revived["list"] == [1, None, 3]
    assert math.isnan(revived["nums"][0]) and revived["nums"][1:3] == [math.inf, -math.inf]
    assert math.copysign(1, revived["nums"][3]) == -1
    assert revived["big"] == 12345678901234567890
    assert UNDEFINED not in revived.values()


def test_revival_never_changes_the_row_it_reads() -> None:
    row = {"id": "x", "nested": {"d": 5, "keep": [1]}, "$types": {"nested.d": "date"}}
    before = json.dumps(row, sort_keys=True)
    revive(row)
    revive(row)
    assert json.dumps(row, sort_keys=True) == before


def test_chained_types_revive_in_the_listed_order() -> None:
    row = {"v": "AQID", "$types": {"v": ["arraybuffer", "userObject"]}}
    assert revive(row) == {"v": Binary("arraybuffer", b"\x01\x02\x03")}


def test_unknown_types_are_kept_raw_and_broken_types_raise() -> None:
    assert revive({"m": [["a", 1]], "$types": {"m": "map"}}) == {"m": Unsupported("map", [["a", 1]])}
    assert revive({"r": "#", "$types": {"r": "#"}}) == {"r": Unsupported("#", "#")}
    with pytest.raises(TypesonError) as missing:
        revive({"a": 1, "$types": {"b.c": "date"}})
    assert missing.value.path == "b.c"
    for bad in (
        {"d": "yesterday", "$types": {"d": "date"}},
        {"d": 1e30, "$types": {"d": "date"}},
        {"b": "not base64!", "$types": {"b": "arraybuffer"}},
        {"b": {"data": "AA=="}, "$types": {"b": "blob2"}},
        {"n": "12x", "$types": {"n": "bigint"}},
        {"a": {"0": 1, "length": -1}, "$types": {"a": "arrayNonindexKeys"}},
    ):
        with pytest.raises(TypesonError):
            revive(bad)


@pytest.mark.parametrize(("outbound", "wrap"), [(False, False), (True, False), (True, True)])
def test_what_the_test_builder_writes_revives_to_the_original_rows(outbound: bool, wrap: bool) -> None:
    data = dx.dashboard_data(generations=4)
    for rows in data.values():
        for row in rows:
            encoded = json.loads(json.dumps(dx.encode_row(row, outbound=outbound, wrap_tuple=wrap)))
            assert revive(encoded) == ([row["id"], row] if outbound else row)


# --- mapping ----------------------------------------------------------------------------------------------------


def test_inbound_and_outbound_rows_map_to_the_same_model() -> None:
    row = dx.generation(1, js_date=True)
    inbound = Row("generations", True, 0, dx.encode_row(row))
    outbound = Row("generations", False, 0, json.loads(json.dumps(dx.encode_row(row, outbound=True))))
    assert map_row(GENERATIONS, inbound).model == map_row(GENERATIONS, outbound).model
    assert row_id(inbound) == row_id(outbound) == "gen-000001"


def test_outbound_key_must_be_the_row_id() -> None:
    row = Row("generations", False, 3, ["other-id", dx.generation(1)])
    with pytest.raises(RowInvalid, match="primary key and its id differ"):
        map_row(GENERATIONS, row)
    keyless = dx.generation(2)
    del keyless["id"]
    assert map_row(GENERATIONS, Row("generations", False, 0, ["gen-by-key", keyless])).id == "gen-by-key"


def test_field_errors_name_the_path() -> None:
    row = dx.generation(1)
    row["concepts"][1]["hashtags"] = "not a list"
    with pytest.raises(RowInvalid) as caught:
        map_row(GENERATIONS, Row("generations", True, 0, row))
    assert caught.value.details == [{"field": "concepts.1.hashtags", "message": "Input should be a valid list"}]


def test_fields_our_model_has_but_a_dexie_row_never_had_are_not_taken() -> None:
    row = dx.encode_row(dx.critique(1, "c-1"))
    row["feedbackId"] = "fb-1"
    mapped = map_row(CRITIQUES, Row("critiques", True, 0, row))
    assert mapped.model.feedback_id is None
    assert mapped.ignored_fields == ("feedbackId",)


def test_text_postgresql_cannot_store_is_refused() -> None:
    with pytest.raises(RowInvalid) as nul:
        check_storable(json.dumps({"title": "a\x00b"}).encode())
    assert nul.value.details == [{"field": "title", "message": nul.value.message}]
    check_storable(json.dumps({"title": "a backslash \\u0000 is fine"}).encode())
    with pytest.raises(RowInvalid, match="surrogate"):
        check_storable(json.dumps({"t": "\ud800"}, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def test_upload_keys_name_one_tenant_and_import() -> None:
    from viral.errors import InvalidInput
    from viral.imports.service import import_key, parse_import_key

    tenant, import_id = uuid.uuid4(), uuid.uuid4()
    assert parse_import_key(import_key(tenant, import_id)) == (tenant, import_id)
    for bad in (f"imports/{tenant}/{import_id}.json.gz", f"imports/{tenant}/x/{import_id}.json", "imports//.json"):
        with pytest.raises(InvalidInput):
            parse_import_key(bad)


def test_a_row_nested_deeper_than_the_bound_is_refused_before_it_is_built() -> None:
    from viral.imports.dexie import MAX_ROW_DEPTH

    content = doc({"tableName": "generations", "inbound": True, "rows": [{"id": "a", "x": "MARK"}]})
    deep = content.replace(b'"MARK"', b"[" * 3000 + b"]" * 3000)
    error = refusal(deep)
    assert error.code == "TOO_DEEP"
    assert str(MAX_ROW_DEPTH) in error.message
    within = content.replace(b'"MARK"', b"[" * (MAX_ROW_DEPTH - 2) + b"]" * (MAX_ROW_DEPTH - 2))
    assert [i.value["id"] for i in items(within) if isinstance(i, Row)] == ["a"]


def test_a_field_name_longer_than_the_bound_is_refused() -> None:
    from viral.imports.dexie import MAX_KEY_LENGTH

    ok = {"tableName": "generations", "inbound": True, "rows": [{"id": "a", "k" * MAX_KEY_LENGTH: 1}]}
    assert len([i for i in items(doc(ok)) if isinstance(i, Row)]) == 1
    too_long = {"tableName": "generations", "inbound": True, "rows": [{"id": "a", "k" * (MAX_KEY_LENGTH + 1): 1}]}
    error = refusal(doc(too_long))
    assert error.code == "KEY_TOO_LONG"
    assert len(error.message) < 200

"""Typeson revival: how dexie-export-import writes values JSON cannot hold (dates, binary, undefined, ...).

A row holding such values gets a `$types` object mapping dot-separated key paths (relative to the row) to a type
name; the JSON at that path is the replacement. A row that is not a plain object (an outbound `[key, value]` tuple)
or that has its own `$types` key uses the root form `{"$": row, "$types": {"$": {path: type}}}`, and
`{"$": row, "$types": true}` escapes a row with its own `$types` but no special values. A path's type may be a list
of names, revived in the listed order. Children are revived before their parents (a typed array's `buffer` is an
`arraybuffer` first). Sources: typeson (`typeson.js`, `utils/classMethods.js`), typeson-registry (`types/*.js`) and
dexie-export-import (`tson.ts`, `tson-typed-array.ts`).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Element sizes of the typed arrays; dexie-export-import names them with a "2" suffix (`uint8array2`).
TYPED_ARRAY_SIZES = {
    "int8array": 1,
    "uint8array": 1,
    "uint8clampedarray": 1,
    "int16array": 2,
    "uint16array": 2,
    "int32array": 4,
    "uint32array": 4,
    "float32array": 4,
    "float64array": 8,
    "bigint64array": 8,
    "biguint64array": 8,
}
_SPECIAL_NUMBERS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class TypesonError(ValueError):
    """A `$types` entry that cannot be applied to the row (wrong shape, bad base64, a path not in the row)."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class _Undefined:
    """JavaScript's `undefined` (Typeson `undef`): the key is dropped from objects and is null in arrays."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()


@dataclass(frozen=True)
class Binary:
    """Bytes from an ArrayBuffer, a typed array or a Blob (with its MIME type)."""

    kind: str
    data: bytes
    mime: str | None = None


@dataclass(frozen=True)
class Unsupported:
    """A value of a Typeson type this reader does not revive (Map, RegExp, cyclic references, ...), kept raw."""

    type_name: str
    value: Any


def revive(encoded: Any) -> Any:
    """The value one Typeson-encapsulated JSON value stands for; values without `$types` come back unchanged.

    The input is never modified: containers on the way to a typed path are copied before a value is replaced.
    """
    if not isinstance(encoded, dict) or "$types" not in encoded:
        return encoded
    types = encoded["$types"]
    if types is True:
        if "$" not in encoded:
            raise TypesonError('"$types": true needs the value under "$"', path="")
        return encoded["$"]
    if not isinstance(types, dict):
        return encoded
    root = types.get("$")
    if isinstance(root, dict):
        value, types = _copy(encoded.get("$")), root
    else:
        value = {key: item for key, item in encoded.items() if key != "$types"}
    owned = {id(value)}
    saw_undefined = False
    for path in sorted(types, key=_depth, reverse=True):
        names = types[path]
        for name in names if isinstance(names, list) else [names]:
            if not isinstance(name, str):
                raise TypesonError("a type name must be a string", path=path)
            revived = _revive_one(name, _get(value, path), path)
            saw_undefined = saw_undefined or revived is UNDEFINED
            value = _set(value, path, revived, owned)
    return _drop_undefined(value) if saw_undefined else value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def _depth(path: str) -> int:
    return 0 if path == "" else path.count(".") + 1


def _components(path: str) -> list[str]:
    # typeson's unescapeKeyPathComponent: "~1" is ".", "~0" is "~", "''" alone is the empty key.
    return [] if path == "" else [_unescape(part) for part in path.split(".")]


def _unescape(part: str) -> str:
    part = part.replace("~1", ".").replace("~0", "~")
    return "" if part == "''" else part.replace("''''", "''")


def _step(container: Any, key: str, path: str) -> Any:
    if isinstance(container, dict) and key in container:
        return container[key]
    if isinstance(container, list) and key.isdigit() and int(key) < len(container):
        return container[int(key)]
    raise TypesonError("$types names a path that is not in the row", path=path)


def _get(value: Any, path: str) -> Any:
    for key in _components(path):
        value = _step(value, key, path)
    return value


def _set(value: Any, path: str, new: Any, owned: set[int]) -> Any:
    """Put `new` at `path`, copying each container on the way that is still the input's (copy on write)."""
    keys = _components(path)
    if not keys:
        return new
    parent = value
    for key in keys[:-1]:
        child = _step(parent, key, path)
        if isinstance(child, dict | list) and id(child) not in owned:
            child = _copy(child)
            owned.add(id(child))
            _put(parent, key, child)
        parent = child
    _put(parent, keys[-1], new)
    return value


def _put(container: Any, key: str, item: Any) -> None:
    if isinstance(container, list):
        container[int(key)] = item
    else:
        container[key] = item


def _revive_one(name: str, value: Any, path: str) -> Any:
    """One type's reviver; unknown names come back as Unsupported (the caller decides whether that is fatal)."""
    kind = name.removesuffix("2") if name.endswith("array2") else name
    if kind in TYPED_ARRAY_SIZES:
        return _typed_array(kind, value, path)
    reviver = _REVIVERS.get(name)
    return Unsupported(name, value) if reviver is None else reviver(value, path)


def _date(value: Any, path: str) -> datetime | None:
    if value == "NaN":  # an Invalid Date
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypesonError("a date must be milliseconds since 1970-01-01", path=path)
    try:
        return EPOCH + timedelta(milliseconds=value)
    except OverflowError as exc:
        raise TypesonError("the date is out of range", path=path) from exc


def _base64(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise TypesonError("binary data must be a base64 string", path=path)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TypesonError("binary data is not valid base64", path=path) from exc


def _typed_array(kind: str, value: Any, path: str) -> Binary:
    if not isinstance(value, dict):
        raise TypesonError("a typed array must be {buffer, byteOffset, length}", path=path)
    buffer = value.get("buffer")
    data = buffer.data if isinstance(buffer, Binary) else _base64(buffer, path)
    offset, length = value.get("byteOffset", 0), value.get("length")
    if not (_count(offset) and isinstance(length, int) and _count(length)):
        raise TypesonError("a typed array needs a non-negative byteOffset and length", path=path)
    end = offset + length * TYPED_ARRAY_SIZES[kind]
    if end > len(data):
        raise TypesonError("a typed array reaches past its buffer", path=path)
    return Binary(kind, data[offset:end])


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _array(value: Any, path: str) -> list[Any]:
    """An array written with its non-index keys: a list as is, or an object of indexes (and `length`)."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        raise TypesonError("an array must be a list or an object of indexes", path=path)
    indexes = {int(key): item for key, item in value.items() if key.isdigit()}
    length = value.get("length", max(indexes, default=-1) + 1)
    if not isinstance(length, int) or isinstance(length, bool) or length < 0 or length > 10_000_000:
        raise TypesonError("an array's length must be a non-negative integer", path=path)
    if any(index >= length for index in indexes):
        raise TypesonError("an array has an index past its length", path=path)
    # Non-index keys of a JavaScript array have no place in a JSON array: they are dropped.
    return [indexes.get(i) for i in range(length)]


def _blob(value: Any, path: str) -> Binary:
    if not (isinstance(value, dict) and isinstance(value.get("type"), str)):
        raise TypesonError("a blob must be {type, data}", path=path)
    return Binary("blob", _base64(value.get("data"), path), mime=value["type"])


def _special_number(value: Any, path: str) -> float:
    if value not in _SPECIAL_NUMBERS:
        raise TypesonError("a special number must be NaN, Infinity or -Infinity", path=path)
    return _SPECIAL_NUMBERS[value]


def _bigint(value: Any, path: str) -> int:
    if not (isinstance(value, str) and value.lstrip("-").isdigit()):
        raise TypesonError("a bigint must be a string of digits", path=path)
    return int(value)


_REVIVERS: dict[str, Callable[[Any, str], Any]] = {
    "date": _date,
    "arraybuffer": lambda value, path: Binary("arraybuffer", _base64(value, path)),
    "blob2": _blob,
    "undef": lambda value, path: UNDEFINED,
    "NaN": lambda value, path: math.nan,
    "Infinity": lambda value, path: math.inf,
    "-Infinity": lambda value, path: -math.inf,
    "SpecialNumber": _special_number,
    "negativeZero": lambda value, path: -0.0,
    "bigint": _bigint,
    "arrayNonindexKeys": _array,
    "userObject": lambda value, path: value,
}


def _drop_undefined(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _drop_undefined(item) for key, item in value.items() if item is not UNDEFINED}
    if isinstance(value, list):
        return [None if item is UNDEFINED else _drop_undefined(item) for item in value]
    return value

"""Dexie export files written by us, the way dexie-export-import (format 1) writes them, streamed to disk.

`dashboard_data` makes the original dashboard's rows (its TypeScript types' shapes: JavaScript Dates where the
original kept Date objects, an ISO string for a generation's `date`, favourites, a critique pointing at a concept,
adjustments pointing at critiques); `write_export` writes them inbound (rows are the values) or outbound
(`[key, value]` rows), encoding dates and binary values with Typeson `$types` as dexie-export-import does. The
`broken_*` helpers write the files an import must refuse.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

SCHEMAS = {
    "generations": "id,date,isFavorite",
    "critiques": "id,conceptId,createdAt,appliedAt",
    "insights": "id,category,platform,discoveredAt,appliedToScoring",
    "adjustments": "id,category,adjustmentType,appliedAt,critiqueId",
}
VERSION_TABLES = {1: ("generations",), 2: ("generations", "critiques", "insights", "adjustments")}
START = datetime(2026, 2, 2, 9, 30, tzinfo=UTC)
CATEGORIES = ("news", "absurd", "luxury", "emotional", "tech", "cartoon", "gaming", "fitness", "food", "finance")


@dataclass
class Table:
    """One table to write: its rows (plain Python values; datetime and bytes get Typeson types)."""

    name: str
    rows: Iterable[dict[str, Any]]
    schema: str = ""
    row_count: int | None = None
    inbound: bool | None = None  # None: the export's default


@dataclass
class ExportOptions:
    outbound: bool = False
    wrap_tuples: bool = False  # newer typeson-registry: every [key, value] in the root form with arrayNonindexKeys
    database_name: str = "ViralDashboard"
    database_version: float = 2
    format_name: Any = "dexie"
    format_version: Any = 1
    pretty: bool = False
    extra_top_level: dict[str, Any] = field(default_factory=dict)


# --- the original's rows ------------------------------------------------------------------------------------


def concept(concept_id: str, n: int, *, category: str | None = None, padding: int = 0) -> dict[str, Any]:
    category = category or CATEGORIES[n % len(CATEGORIES)]
    return {
        "id": concept_id,
        "title": f"Concept {n}: cats that do {category}",
        "script": [
            {
                "timeRange": "0-3s",
                "visual": "A cat at a desk" + " with papers" * padding,
                "onScreenText": "POV: April",
                "camera": "close-up",
            },
            {"timeRange": "3-8s", "visual": "Calculator chaos", "onScreenText": None, "camera": "handheld"},
        ],
        "soraPrompt": f"vertical video (9:16) of a cat doing {category} #{n}",
        "veoPrompt": "vertical video (9:16), warm light, a cat at a desk",
        "caption": f"Caption {n} for {category}",
        "hashtags": ["#cats", f"#{category}", f"#n{n % 97}"],
        "postTime": {"utc": "17:00", "est": "12:00 PM EST", "reason": "lunch scroll"},
        "whyItWorks": "Relatable pain with an absurd twist",
        "trendSource": f"Trend {n % 50}",
        "category": category,
        "platformVirality": {
            "tiktok": {"score": 40 + n % 60, "label": "HIGH REACH", "factors": ["hook"]},
            "youtubeShorts": {"score": 35 + n % 60, "label": "GOOD REACH", "factors": []},
        },
    }


def trend(n: int) -> dict[str, Any]:
    return {
        "id": f"trend-{n}",
        "topic": f"Trend {n % 50}",
        "source": "Google Trends",
        "score": 100 + n % 30 + 0.5,
        "recency": ("today", "yesterday", "older")[n % 3],
        "visualPotential": 80,
        "emotionalImpact": 75,
        "shareability": 90,
        "category": CATEGORIES[n % len(CATEGORIES)],
        "sourceApi": "google-trends",
    }


def generation(n: int, *, concepts: int = 2, trends: int = 1, padding: int = 0, js_date: bool = False) -> dict:
    """Generation n; its `date` an ISO string (the TypeScript type) or, with js_date, a Date (Typeson `date`)."""
    when = START + timedelta(hours=n)
    return {
        "id": f"gen-{n:06d}",
        "date": when if js_date else when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "concepts": [concept(f"gen-{n:06d}-c{i}", n * 10 + i, padding=padding) for i in range(concepts)],
        "trends": [trend(n * 10 + i) for i in range(trends)],
        "isFavorite": n % 3 == 0,
    }


def critique(n: int, concept_id: str, *, applied: bool = True) -> dict[str, Any]:
    row = {
        "id": f"crit-{n:05d}",
        "conceptId": concept_id,
        "performanceGap": {
            "conceptId": concept_id,
            "conceptTitle": f"Concept for critique {n}",
            "category": "absurd",
            "platform": "tiktok",
            "predictedVirality": 80,
            "actualEngagement": 2.5,
            "actualViralityScore": 45,
            "gap": 35,
            "gapPercentage": 44,
            "direction": "over-predicted",
        },
        "critique": "We over-rated the hook.",
        "hypothesizedReasons": ["weak first second"],
        "scoringIssues": ["category weight too high"],
        "adjustmentPlan": "Reduce absurd/tiktok weight by 10%",
        "confidenceLevel": "high",
        "createdAt": START + timedelta(days=3, minutes=n),
    }
    if applied:
        row["appliedAt"] = START + timedelta(days=3, minutes=n, seconds=30)
    return row


def insight(n: int) -> dict[str, Any]:
    return {
        "id": f"ins-{n:05d}",
        "category": CATEGORIES[n % len(CATEGORIES)],
        "platform": ("tiktok", "youtube-shorts")[n % 2],
        "pattern": f"{CATEGORIES[n % len(CATEGORIES)]}-pattern-{n}",
        "evidenceCount": 1 + n % 4,
        "impact": ("negative", "positive", "neutral")[n % 3],
        "recommendation": "Reduce weight",
        "appliedToScoring": False,
        "discoveredAt": START + timedelta(days=4, minutes=n),
        "lastSeenAt": START + timedelta(days=5, minutes=n),
    }


def adjustment(n: int, critique_id: str) -> dict[str, Any]:
    return {
        "id": f"adj-{n:05d}",
        "category": "absurd",
        "adjustmentType": "category-weight",
        "oldValue": 1.0,
        "newValue": 0.9,
        "reason": "over-predicted by 44%",
        "critiqueId": critique_id,
        "appliedAt": START + timedelta(days=3, minutes=n, seconds=45),
    }


def dashboard_data(
    *, generations: int = 4, version: int = 2, concepts: int = 2, trends: int = 1, padding: int = 0
) -> dict[str, list[dict[str, Any]]]:
    """The original's rows for one browser: every third generation a favourite, every other one with a JS Date."""
    gens = [
        generation(n, concepts=concepts, trends=trends, padding=padding, js_date=n % 2 == 1) for n in range(generations)
    ]
    data: dict[str, list[dict[str, Any]]] = {"generations": gens}
    if version >= 2:
        crits = [critique(n, g["concepts"][0]["id"], applied=n % 2 == 0) for n, g in enumerate(gens[:3])]
        data["critiques"] = crits
        data["insights"] = [insight(n) for n in range(3)]
        data["adjustments"] = [adjustment(n, c["id"]) for n, c in enumerate(crits) if "appliedAt" in c]
    return data


def tables(data: dict[str, list[dict[str, Any]]]) -> list[Table]:
    return [Table(name, rows, SCHEMAS.get(name, "id")) for name, rows in data.items()]


# --- Typeson and the file -------------------------------------------------------------------------------------


def _escape(key: str) -> str:
    key = key.replace("''", "''''") if key else "''"
    return key.replace("~", "~0").replace(".", "~1")


def _encapsulate(value: Any, path: str, types: dict[str, str]) -> Any:
    if isinstance(value, datetime):
        types[path] = "date"
        return int(value.timestamp() * 1000)
    if isinstance(value, bytes):
        types[path] = "arraybuffer"
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _encapsulate(v, f"{path}.{_escape(k)}" if path else _escape(k), types) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encapsulate(v, f"{path}.{i}" if path else str(i), types) for i, v in enumerate(value)]
    return value


def encode_row(value: dict[str, Any], *, outbound: bool = False, wrap_tuple: bool = False) -> Any:
    """One row as dexie-export-import writes it: the value (inbound) or [key, value] (outbound), Typeson-encoded."""
    types: dict[str, str] = {}
    if not outbound:
        encoded = _encapsulate(value, "", types)
        if not types:
            return encoded
        if "$types" in encoded:
            return {"$": encoded, "$types": {"$": types}}
        return {**encoded, "$types": types}
    tuple_ = _encapsulate([value["id"], value], "", types)
    if wrap_tuple:
        types = {"": "arrayNonindexKeys", **types}
    return {"$": tuple_, "$types": {"$": types}} if types else tuple_


def _rows(table: Table, options: ExportOptions) -> Iterator[Any]:
    outbound = options.outbound if table.inbound is None else not table.inbound
    for row in table.rows:
        yield encode_row(row, outbound=outbound, wrap_tuple=options.wrap_tuples)


def write_export(target: Path | BinaryIO, tables: Sequence[Table], options: ExportOptions | None = None) -> None:
    """Write the export, row by row (never the whole file in memory)."""
    options = options or ExportOptions()
    if isinstance(target, Path):
        with target.open("wb") as stream:
            write_export(stream, tables, options)
        return
    counted = [
        {
            "name": t.name,
            "schema": t.schema,
            "rowCount": t.row_count if t.row_count is not None else len(t.rows),  # type: ignore[arg-type]
        }
        for t in tables
    ]
    indent = 2 if options.pretty else None
    head = {
        "formatName": options.format_name,
        "formatVersion": options.format_version,
        **options.extra_top_level,
        "data": {
            "databaseName": options.database_name,
            "databaseVersion": options.database_version,
            "tables": counted,
            "data": [],
        },
    }
    text = json.dumps(head, indent=indent)
    cut = text.rindex("]")  # where the data array closes, as export.ts slices it
    target.write(text[:cut].encode())
    for position, table in enumerate(tables):
        if position:
            target.write(b",")
        inbound = not options.outbound if table.inbound is None else table.inbound
        target.write(json.dumps({"tableName": table.name, "inbound": inbound}).encode()[:-1] + b', "rows": [')
        for index, row in enumerate(_rows(table, options)):
            if index:
                target.write(b",")
            target.write(json.dumps(row, indent=indent).encode())
        target.write(b"]}")
    target.write(text[cut:].encode())


def export_bytes(data: dict[str, list[dict[str, Any]]], **options: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    write_export(buffer, tables(data), ExportOptions(**options))
    return buffer.getvalue()


# --- files an import must refuse ------------------------------------------------------------------------------


def broken_not_json(path: Path) -> Path:
    path.write_bytes(b"<html>this is not an export</html>\n")
    return path


def broken_wrong_format_name(path: Path, data: dict[str, list[dict[str, Any]]]) -> Path:
    path.write_bytes(export_bytes(data, format_name="dexie-cloud"))
    return path


def broken_wrong_format_version(path: Path, data: dict[str, list[dict[str, Any]]]) -> Path:
    path.write_bytes(export_bytes(data, format_version=2))
    return path


def broken_truncated(path: Path, data: dict[str, list[dict[str, Any]]], *, keep: float = 0.7) -> Path:
    whole = export_bytes(data)
    path.write_bytes(whole[: int(len(whole) * keep)])
    return path


def broken_invalid_row(path: Path, data: dict[str, list[dict[str, Any]]], *, index: int = 1) -> Path:
    """Generation `index` has a concept whose category the original never had."""
    bad = copy.deepcopy(data)
    bad["generations"][index]["concepts"][0]["category"] = "sports"
    path.write_bytes(export_bytes(bad))
    return path


def with_unknown_table(data: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The data plus a table the original never had (kept apart from the known ones, never guessed at)."""
    return {**data, "drafts": [{"id": "draft-1", "text": "an idea"}, {"id": "draft-2", "text": "another"}]}

"""Bulk writes for imports: many rows per statement, each row reported as inserted, updated or unchanged.

Every upsert keys on the tenant and the original's id and updates only rows whose values differ (`IS DISTINCT
FROM`), so importing the same rows again changes nothing (not even a row version). The same rules as the storage
API hold: a concept id stays with its generation, an insight's (category, platform, pattern) is unique, references
must exist (the caller checks them first, so it can say which row is at fault).

A batch travels as one JSON document (`jsonb_to_recordset`): one text parameter that json.dumps writes in C and
the driver sends as is. A multi-row VALUES list or one array per column would make pg8000 scan every character of
the statement or of each array element in Python, which cost more than the whole rest of the import.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import text

from viral.content.repository import concept_search_text, search_doc, trend_text
from viral.content.schemas import Generation as GenerationModel
from viral.db.models import Job
from viral.db.repository import TenantRepositoryBase
from viral.learning.schemas import ReflexionInsight as InsightModel
from viral.learning.schemas import ScoringAdjustment as AdjustmentModel
from viral.learning.schemas import SelfCritique as CritiqueModel
from viral.operations.repository import JobRecord

Outcome = Literal["inserted", "updated", "unchanged"]
IMPORT_JOB_TYPE = "import-dexie"

# Each written table's columns (besides tenant_id and id) and their SQL types. Module constants: the only
# identifiers that reach the SQL text below.
_GENERATIONS = {
    "date": "timestamptz",
    "is_favorite": "boolean",
    "trends": "jsonb",
    "trend_text": "text",
    # What search and analytics read (written as GenerationRepository.upsert writes them).
    "trend_topics": "text[]",
    "search_doc": "text",
}
_CONCEPTS = {
    "generation_id": "text",
    "position": "integer",
    "title": "text",
    "category": "text",
    "trend_source": "text",
    "data": "jsonb",
    "search_text": "text",
}
_CRITIQUES = {
    "concept_id": "text",
    "performance_gap": "jsonb",
    "critique": "text",
    "hypothesized_reasons": "jsonb",
    "scoring_issues": "jsonb",
    "adjustment_plan": "text",
    "confidence_level": "text",
    "created_at": "timestamptz",
    "applied_at": "timestamptz",
}
_INSIGHTS = {
    "category": "text",
    "platform": "text",
    "pattern": "text",
    "evidence_count": "integer",
    "impact": "text",
    "recommendation": "text",
    "applied_to_scoring": "boolean",
    "discovered_at": "timestamptz",
    "last_seen_at": "timestamptz",
}
_ADJUSTMENTS = {
    "critique_id": "text",
    "category": "text",
    "adjustment_type": "text",
    "old_value": "numeric",
    "new_value": "numeric",
    "reason": "text",
    "applied_at": "timestamptz",
}


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__}")


def _batch(rows: Sequence[dict[str, Any]] | Sequence[str]) -> str:
    return json.dumps(rows, default=_json_default, separators=(",", ":"))


def _decimal(value: float) -> Decimal:
    return Decimal(str(round(value, 4)))


def _upsert_sql(table: str, types: dict[str, str], *, guard: str | None = None) -> str:
    """One statement: the batch's rows, which of them existed before (same snapshot), and which it wrote."""
    columns = ", ".join(["id", *types])
    record = ", ".join(["id text", *(f"{c} {t}" for c, t in types.items())])
    changed = (
        f"({', '.join(f'{table}.{c}' for c in types)}) IS DISTINCT FROM ({', '.join(f'excluded.{c}' for c in types)})"
    )
    return (  # identifiers are this module's constants; values are bound
        f"WITH r AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({record})), "  # noqa: S608
        f"existed AS (SELECT t.id FROM {table} t JOIN r ON t.id = r.id WHERE t.tenant_id = CAST(:tenant AS uuid)), "
        f"written AS (INSERT INTO {table} (tenant_id, {columns}) SELECT CAST(:tenant AS uuid), {columns} FROM r "
        f"ON CONFLICT (tenant_id, id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in types)} "
        f"WHERE {f'{guard} AND ' if guard else ''}{changed} RETURNING id) "
        "SELECT id, false AS written FROM existed UNION ALL SELECT id, true FROM written"
    )


_UPSERT_GENERATIONS = text(_upsert_sql("generations", _GENERATIONS))
# Belt and braces: the caller checked that no concept id belongs to another generation.
_UPSERT_CONCEPTS = text(_upsert_sql("concepts", _CONCEPTS, guard="concepts.generation_id = excluded.generation_id"))
_UPSERT_CRITIQUES = text(_upsert_sql("self_critiques", _CRITIQUES))
_UPSERT_INSIGHTS = text(_upsert_sql("reflexion_insights", _INSIGHTS))
_UPSERT_ADJUSTMENTS = text(_upsert_sql("scoring_adjustments", _ADJUSTMENTS))
# Id lists travel as one JSON array each, for the same reason as the batches.
_CONCEPT_GENERATIONS = text(
    "SELECT id, generation_id FROM concepts WHERE tenant_id = CAST(:tenant AS uuid)"
    " AND id IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))"
)
_EXISTING_CRITIQUES = text(
    "SELECT id FROM self_critiques WHERE tenant_id = CAST(:tenant AS uuid)"
    " AND id IN (SELECT jsonb_array_elements_text(CAST(:ids AS jsonb)))"
)
_INSIGHTS_BY_PATTERN = text(
    "SELECT id, category, platform, pattern FROM reflexion_insights WHERE tenant_id = CAST(:tenant AS uuid)"
    " AND pattern IN (SELECT jsonb_array_elements_text(CAST(:patterns AS jsonb)))"
)
_REMOVE_STALE_CONCEPTS = text(
    "DELETE FROM concepts WHERE tenant_id = CAST(:tenant AS uuid)"
    " AND generation_id IN (SELECT jsonb_array_elements_text(CAST(:generations AS jsonb)))"
    " AND id NOT IN (SELECT jsonb_array_elements_text(CAST(:keep AS jsonb)))"
    " RETURNING generation_id"
)


@dataclass
class ConceptWrite:
    inserted: int = 0
    updated: int = 0
    removed: int = 0


@dataclass
class GenerationWrite:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    concepts: ConceptWrite = field(default_factory=ConceptWrite)


class ImportRepository(TenantRepositoryBase[Job]):
    """The tenant's import jobs, reference lookups and bulk upserts (the caller bounds each batch's size)."""

    model = Job

    def job_id(self, import_id: str) -> uuid.UUID | None:
        """The id of an import's job row (its idempotency key is the import id)."""
        statement = self._select(Job.id).where(Job.idempotency_key == import_id, Job.job_type == IMPORT_JOB_TYPE)
        return self.session.execute(statement).scalar_one_or_none()

    def job(self, import_id: str) -> JobRecord | None:
        """An import's job row as it is now (not locked: a running import holds the lock)."""
        statement = self._select().where(Job.idempotency_key == import_id, Job.job_type == IMPORT_JOB_TYPE)
        row = self.session.scalars(statement).one_or_none()
        if row is None:
            return None
        return JobRecord(**{f.name: getattr(row, f.name) for f in fields(JobRecord)})

    # --- references -------------------------------------------------------------------------------------

    def concept_generations(self, concept_ids: Iterable[str]) -> dict[str, str]:
        """Concept id -> its generation id, for those of the ids the tenant has."""
        ids = list(concept_ids)
        if not ids:
            return {}
        rows = self.session.execute(_CONCEPT_GENERATIONS, {"tenant": str(self.tenant_id), "ids": _batch(ids)})
        return {row.id: row.generation_id for row in rows}

    def existing_critiques(self, ids: Iterable[str]) -> set[str]:
        params = {"tenant": str(self.tenant_id), "ids": _batch(list(ids))}
        return set(self.session.scalars(_EXISTING_CRITIQUES, params))

    def insights_by_pattern(self, patterns: Iterable[str]) -> dict[tuple[str, str, str], str]:
        """(category, platform, pattern) -> insight id, for the tenant's insights with one of these patterns."""
        params = {"tenant": str(self.tenant_id), "patterns": _batch(sorted(set(patterns)))}
        rows = self.session.execute(_INSIGHTS_BY_PATTERN, params)
        return {(r.category, r.platform, r.pattern): r.id for r in rows}

    # --- bulk upserts -----------------------------------------------------------------------------------

    def _upsert(self, statement: Any, rows: Sequence[dict[str, Any]]) -> tuple[set[str], set[str]]:
        """Insert the rows or update those whose values differ; (ids that existed, ids written)."""
        existed, written = set[str](), set[str]()
        for row in self.session.execute(statement, {"tenant": str(self.tenant_id), "rows": _batch(rows)}):
            (written if row.written else existed).add(row.id)
        return existed, written

    @staticmethod
    def _outcomes(ids: Iterable[str], existing: set[str], written: set[str]) -> dict[str, Outcome]:
        return {i: "inserted" if i not in existing else "updated" if i in written else "unchanged" for i in ids}

    def upsert_generations(self, generations: Sequence[GenerationModel]) -> GenerationWrite:
        """Generations and their concepts (concept ids already checked to be free or the same generation's)."""
        rows = [
            {
                "id": g.id,
                "date": g.date,
                "is_favorite": g.is_favorite,
                "trends": [t.wire() for t in g.trends],
                "trend_text": trend_text(g),
                "trend_topics": [t.topic for t in g.trends],
                "search_doc": search_doc(g),
            }
            for g in generations
        ]
        existing, written = self._upsert(_UPSERT_GENERATIONS, rows)
        concepts, touched = self._replace_concepts(generations)
        result = GenerationWrite(concepts=concepts)
        for g in generations:
            if g.id not in existing:
                result.outcomes[g.id] = "inserted"
            else:
                result.outcomes[g.id] = "updated" if g.id in written or g.id in touched else "unchanged"
        return result

    def _replace_concepts(self, generations: Sequence[GenerationModel]) -> tuple[ConceptWrite, set[str]]:
        """Upsert the generations' concepts and drop the ones they no longer have; (counts, generations touched)."""
        rows: list[dict[str, Any]] = [
            {
                "id": c.id,
                "generation_id": g.id,
                "position": i,
                "title": c.title,
                "category": c.category,
                "trend_source": c.trend_source,
                "data": c.wire(),
                "search_text": concept_search_text(c),
            }
            for g in generations
            for i, c in enumerate(g.concepts)
        ]
        counts, touched = ConceptWrite(), set[str]()
        owner: dict[str, str] = {r["id"]: r["generation_id"] for r in rows}
        if rows:
            existing, written = self._upsert(_UPSERT_CONCEPTS, rows)
            counts.inserted = len(owner.keys() - existing)
            counts.updated = len(written & existing)
            touched = {owner[i] for i in written}
        removed = self.session.scalars(
            _REMOVE_STALE_CONCEPTS,
            {
                "tenant": str(self.tenant_id),
                "generations": _batch([g.id for g in generations]),
                "keep": _batch(list(owner)),
            },
        ).all()
        counts.removed = len(removed)
        return counts, touched | set(removed)

    def upsert_critiques(self, critiques: Sequence[CritiqueModel]) -> dict[str, Outcome]:
        rows = [
            {
                "id": c.id,
                "concept_id": c.concept_id,
                "performance_gap": c.performance_gap.wire(),
                "critique": c.critique,
                "hypothesized_reasons": c.hypothesized_reasons,
                "scoring_issues": c.scoring_issues,
                "adjustment_plan": c.adjustment_plan,
                "confidence_level": c.confidence_level,
                "created_at": c.created_at,
                "applied_at": c.applied_at,
            }
            for c in critiques
        ]
        existing, written = self._upsert(_UPSERT_CRITIQUES, rows)
        return self._outcomes((c.id for c in critiques), existing, written)

    def upsert_insights(self, insights: Sequence[InsightModel]) -> dict[str, Outcome]:
        """Insights by id (the caller skipped those whose pattern another insight already holds)."""
        rows = [
            {
                "id": i.id,
                "category": i.category,
                "platform": i.platform,
                "pattern": i.pattern,
                "evidence_count": i.evidence_count,
                "impact": i.impact,
                "recommendation": i.recommendation,
                "applied_to_scoring": i.applied_to_scoring,
                "discovered_at": i.discovered_at,
                "last_seen_at": i.last_seen_at,
            }
            for i in insights
        ]
        existing, written = self._upsert(_UPSERT_INSIGHTS, rows)
        return self._outcomes((i.id for i in insights), existing, written)

    def upsert_adjustments(self, adjustments: Sequence[AdjustmentModel]) -> dict[str, Outcome]:
        rows = [
            {
                "id": a.id,
                "critique_id": a.critique_id,
                "category": a.category,
                "adjustment_type": a.adjustment_type,
                "old_value": _decimal(a.old_value),
                "new_value": _decimal(a.new_value),
                "reason": a.reason,
                "applied_at": a.applied_at,
            }
            for a in adjustments
        ]
        existing, written = self._upsert(_UPSERT_ADJUSTMENTS, rows)
        return self._outcomes((a.id for a in adjustments), existing, written)

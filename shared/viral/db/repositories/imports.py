"""Bulk writes for imports: many rows per statement, each row reported as inserted, updated or unchanged.

Every upsert keys on the tenant and the original's id and updates only rows whose values differ (`IS DISTINCT
FROM`), so importing the same rows again changes nothing. The same rules as the storage API hold: a concept id
stays with its generation, an insight's (category, platform, pattern) is unique, references must exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert

from viral.db.models import Concept, Generation, Job, ReflexionInsight, ScoringAdjustment, SelfCritique
from viral.db.repositories.base import TenantRepositoryBase
from viral.db.repositories.generations import concept_search_text
from viral.db.repositories.operations import JobRecord
from viral.schemas.content import Generation as GenerationModel
from viral.schemas.learning import ReflexionInsight as InsightModel
from viral.schemas.learning import ScoringAdjustment as AdjustmentModel
from viral.schemas.learning import SelfCritique as CritiqueModel

Outcome = Literal["inserted", "updated", "unchanged"]
IMPORT_JOB_TYPE = "import-dexie"

_GENERATION_COLUMNS = ("date", "is_favorite", "trends", "trend_text")
_CONCEPT_COLUMNS = ("position", "title", "category", "trend_source", "data", "search_text")
_CRITIQUE_COLUMNS = (
    "concept_id",
    "performance_gap",
    "critique",
    "hypothesized_reasons",
    "scoring_issues",
    "adjustment_plan",
    "confidence_level",
    "created_at",
    "applied_at",
)
_INSIGHT_COLUMNS = (
    "category",
    "platform",
    "pattern",
    "evidence_count",
    "impact",
    "recommendation",
    "applied_to_scoring",
    "discovered_at",
    "last_seen_at",
)
_ADJUSTMENT_COLUMNS = ("critique_id", "category", "adjustment_type", "old_value", "new_value", "reason", "applied_at")


@dataclass
class ConceptWrite:
    inserted: int = 0
    updated: int = 0
    removed: int = 0


@dataclass
class GenerationWrite:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    concepts: ConceptWrite = field(default_factory=ConceptWrite)


def _decimal(value: float) -> Decimal:
    return Decimal(str(round(value, 4)))


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
        statement = select(Concept.id, Concept.generation_id).where(
            Concept.tenant_id == self.tenant_id, Concept.id.in_(ids)
        )
        return {row.id: row.generation_id for row in self.session.execute(statement)}

    def existing_critiques(self, ids: Iterable[str]) -> set[str]:
        return self._existing(SelfCritique.__table__, ids)  # type: ignore[arg-type]

    def insights_by_pattern(self, patterns: Iterable[str]) -> dict[tuple[str, str, str], str]:
        """(category, platform, pattern) -> insight id, for the tenant's insights with one of these patterns."""
        wanted = list(set(patterns))
        if not wanted:
            return {}
        statement = select(
            ReflexionInsight.id, ReflexionInsight.category, ReflexionInsight.platform, ReflexionInsight.pattern
        ).where(ReflexionInsight.tenant_id == self.tenant_id, ReflexionInsight.pattern.in_(wanted))
        return {(r.category, r.platform, r.pattern): r.id for r in self.session.execute(statement)}

    def _existing(self, table: Table, ids: Iterable[str]) -> set[str]:
        wanted = list(ids)
        if not wanted:
            return set()
        statement = select(table.c.id).where(table.c.tenant_id == self.tenant_id, table.c.id.in_(wanted))
        return set(self.session.scalars(statement))

    # --- bulk upserts -----------------------------------------------------------------------------------

    def _upsert(
        self,
        table: Table,
        rows: Sequence[dict[str, Any]],
        columns: Sequence[str],
        *,
        guard: Callable[[Any], ColumnElement[bool]] | None = None,
    ) -> tuple[set[str], set[str]]:
        """Insert the rows, or update the existing ones whose columns differ; (ids that existed, ids written)."""
        existing = self._existing(table, (r["id"] for r in rows))
        new = insert(table)
        changed: ColumnElement[bool] = tuple_(*(table.c[c] for c in columns)).is_distinct_from(
            tuple_(*(new.excluded[c] for c in columns))
        )
        statement = new.on_conflict_do_update(
            index_elements=[table.c.tenant_id, table.c.id],
            set_={c: new.excluded[c] for c in columns},
            where=changed if guard is None else guard(new.excluded) & changed,
        ).returning(table.c.id)
        written = set(self.session.scalars(statement, [self._stamp(r) for r in rows]))
        return existing, written

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
                "trend_text": " ".join(t.topic for t in g.trends).lower(),
            }
            for g in generations
        ]
        table: Table = Generation.__table__  # type: ignore[assignment]
        existing, written = self._upsert(table, rows, _GENERATION_COLUMNS)
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
        rows = [
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
        table: Table = Concept.__table__  # type: ignore[assignment]
        counts, touched = ConceptWrite(), set[str]()
        if rows:
            by_id: dict[str, str] = {c.id: g.id for g in generations for c in g.concepts}
            existing, written = self._upsert(
                table,
                rows,
                _CONCEPT_COLUMNS,
                # Belt and braces: the caller checked that no concept id belongs to another generation.
                guard=lambda excluded: table.c.generation_id == excluded.generation_id,
            )
            counts.inserted = len(by_id.keys() - existing)
            counts.updated = len(written & existing)
            touched = {by_id[i] for i in written}
        removed = self.session.scalars(
            delete(Concept)
            .where(
                Concept.tenant_id == self.tenant_id,
                Concept.generation_id.in_([g.id for g in generations]),
                Concept.id.not_in([r["id"] for r in rows]),
            )
            .returning(Concept.generation_id)
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
        table: Table = SelfCritique.__table__  # type: ignore[assignment]
        existing, written = self._upsert(table, rows, _CRITIQUE_COLUMNS)
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
        table: Table = ReflexionInsight.__table__  # type: ignore[assignment]
        existing, written = self._upsert(table, rows, _INSIGHT_COLUMNS)
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
        table: Table = ScoringAdjustment.__table__  # type: ignore[assignment]
        existing, written = self._upsert(table, rows, _ADJUSTMENT_COLUMNS)
        return self._outcomes((a.id for a in adjustments), existing, written)

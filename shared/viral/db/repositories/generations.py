"""Generations and their concepts: upsert, listing, search and analytics, each in a bounded number of statements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.orm import aliased

from viral.db.models import Concept, Generation
from viral.db.repositories.base import TenantRepositoryBase
from viral.errors import Conflict
from viral.schemas.content import CATEGORY_VALUES, AnalyticsData, ViralConcept
from viral.schemas.content import Generation as GenerationModel


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def concept_search_text(concept: ViralConcept) -> str:
    """What search matches in a concept: title, caption, hashtags and trend source, lower-cased."""
    return " ".join([concept.title, concept.caption, *concept.hashtags, concept.trend_source]).lower()


class GenerationRepository(TenantRepositoryBase[Generation]):
    model = Generation

    @staticmethod
    def _concepts_json() -> Any:
        """A correlated subquery: the generation's concepts as one JSON array, in their original order."""
        c = aliased(Concept, name="c")
        return (
            select(func.coalesce(func.jsonb_agg(aggregate_order_by(c.data, c.position)), text("'[]'::jsonb")))
            .where(c.tenant_id == Generation.tenant_id, c.generation_id == Generation.id)
            .scalar_subquery()
        )

    def _listing(self) -> Select[Any]:
        return self._select(
            Generation.id,
            Generation.date,
            Generation.trends,
            Generation.is_favorite,
            self._concepts_json().label("concepts"),
        )

    @staticmethod
    def _to_model(row: Any) -> GenerationModel:
        return GenerationModel.model_validate(
            {
                "id": row.id,
                "date": row.date,
                "trends": row.trends,
                "isFavorite": row.is_favorite,
                "concepts": row.concepts,
            }
        )

    def upsert(self, generation: GenerationModel) -> None:
        """Insert or replace a generation and its concepts (two statements whatever the concept count)."""
        trend_text = " ".join(t.topic for t in generation.trends).lower()
        values = self._stamp(
            {
                "id": generation.id,
                "date": generation.date,
                "is_favorite": generation.is_favorite,
                "trends": [t.wire() for t in generation.trends],
                "trend_text": trend_text,
            }
        )
        upsert_generation = insert(Generation).values(values)
        self.session.execute(
            upsert_generation.on_conflict_do_update(
                index_elements=[Generation.tenant_id, Generation.id],
                set_={k: upsert_generation.excluded[k] for k in ("date", "is_favorite", "trends", "trend_text")},
            )
        )
        self._replace_concepts(generation)

    def _replace_concepts(self, generation: GenerationModel) -> None:
        rows = [
            self._stamp(
                {
                    "id": c.id,
                    "generation_id": generation.id,
                    "position": i,
                    "title": c.title,
                    "category": c.category,
                    "trend_source": c.trend_source,
                    "data": c.wire(),
                    "search_text": concept_search_text(c),
                }
            )
            for i, c in enumerate(generation.concepts)
        ]
        stale = delete(Concept).where(Concept.tenant_id == self.tenant_id, Concept.generation_id == generation.id)
        if not rows:
            self.session.execute(stale)
            return
        upsert = insert(Concept).values(rows)
        # A concept id already used by another generation of this tenant is not moved silently.
        upserted = (
            upsert.on_conflict_do_update(
                index_elements=[Concept.tenant_id, Concept.id],
                set_={
                    k: upsert.excluded[k]
                    for k in ("position", "title", "category", "trend_source", "data", "search_text")
                },
                where=Concept.generation_id == upsert.excluded.generation_id,
            )
            .returning(Concept.id)
            .cte("upserted")
        )
        # One statement: upsert the concepts, drop the ones the new version no longer has, count the upserts.
        removed = stale.where(Concept.id.not_in(select(upserted.c.id))).returning(Concept.id).cte("removed")
        written = self.session.execute(
            select(
                select(func.count()).select_from(upserted).scalar_subquery(),
                select(func.count()).select_from(removed).scalar_subquery(),
            )
        ).one()[0]
        if written != len(rows):
            raise Conflict("a concept id of this generation already belongs to another generation")

    def newest(
        self,
        *,
        limit: int,
        offset: int = 0,
        favorites_only: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[GenerationModel]:
        """Newest first, with concepts, in one statement."""
        statement = self._listing()
        if favorites_only:
            statement = statement.where(Generation.is_favorite.is_(True))
        if start is not None:
            statement = statement.where(Generation.date >= start)
        if end is not None:
            statement = statement.where(Generation.date <= end)
        statement = statement.order_by(Generation.date.desc(), Generation.id).limit(limit).offset(offset)
        return [self._to_model(row) for row in self.session.execute(statement)]

    def count(self) -> int:
        return int(self.session.execute(self._select(func.count())).scalar_one())

    def get(self, generation_id: str) -> GenerationModel | None:
        row = self.session.execute(self._listing().where(Generation.id == generation_id)).one_or_none()
        return None if row is None else self._to_model(row)

    def delete(self, generation_id: str) -> bool:
        """Delete a generation (its concepts go with it); False when it is not this tenant's."""
        result = self.session.execute(
            delete(Generation)
            .where(Generation.tenant_id == self.tenant_id, Generation.id == generation_id)
            .returning(Generation.id)
        )
        return result.first() is not None

    def toggle_favorite(self, generation_id: str) -> bool | None:
        """Flip the favourite flag in one statement; the new value, or None when not found."""
        return self.session.execute(
            update(Generation)
            .where(Generation.tenant_id == self.tenant_id, Generation.id == generation_id)
            .values(is_favorite=~Generation.is_favorite)
            .returning(Generation.is_favorite)
        ).scalar_one_or_none()

    def search(self, query: str, *, limit: int) -> list[GenerationModel]:
        """Case-insensitive substring search over concepts and trend topics, served by trigram indexes."""
        pattern = f"%{_escape_like(query.lower())}%"
        matching_concepts = select(Concept.generation_id).where(
            Concept.tenant_id == self.tenant_id, Concept.search_text.like(pattern, escape="\\")
        )
        matches: ColumnElement[bool] = or_(
            Generation.id.in_(matching_concepts), Generation.trend_text.like(pattern, escape="\\")
        )
        statement = self._listing().where(matches).order_by(Generation.date.desc(), Generation.id).limit(limit)
        return [self._to_model(row) for row in self.session.execute(statement)]

    def analytics(self) -> AnalyticsData:
        """Totals, categories, trend topics and generations per day, aggregated in SQL in one statement."""
        row = self.session.execute(_ANALYTICS, {"tenant": self.tenant_id}).one()
        categories = {category: 0 for category in CATEGORY_VALUES}
        categories.update(row.categories)
        return AnalyticsData(
            total_generations=row.total_generations,
            total_concepts=row.total_concepts,
            category_breakdown=categories,
            trend_frequency=row.trends,
            daily_generations=row.daily,
        )


# The tenant filter is explicit in every branch (RLS would also apply it): it lets each branch use its index.
_ANALYTICS = text("""
select
  (select count(*) from generations where tenant_id = :tenant) as total_generations,
  (select count(*) from concepts where tenant_id = :tenant) as total_concepts,
  (select coalesce(jsonb_object_agg(category, n), '{}'::jsonb)
     from (select category, count(*) as n from concepts where tenant_id = :tenant group by category) s) as categories,
  (select coalesce(jsonb_object_agg(topic, n), '{}'::jsonb)
     from (select t ->> 'topic' as topic, count(*) as n
             from generations g cross join lateral jsonb_array_elements(g.trends) t
            where g.tenant_id = :tenant and t ? 'topic' group by 1) s) as trends,
  (select coalesce(jsonb_object_agg(day, n), '{}'::jsonb)
     from (select to_char(date at time zone 'UTC', 'YYYY-MM-DD') as day, count(*) as n
             from generations where tenant_id = :tenant group by 1) s) as daily
""")

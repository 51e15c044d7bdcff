"""Generations and their concepts: upsert, listing, search and analytics, each in a bounded number of statements."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import TypeAdapter
from sqlalchemy import Select, Text, Uuid, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import aliased

from viral.content.schemas import AnalyticsData, TrendData, ViralConcept
from viral.content.schemas import Generation as GenerationModel
from viral.db.models import Concept, Generation
from viral.db.repository import TenantRepositoryBase
from viral.errors import Conflict
from viral.vocabulary import CATEGORY_VALUES
from viral.wire import CamelModel

# Joins the parts of a generation's search_doc; stripped from queries, so no match spans two parts.
SEARCH_SEPARATOR = "\x1f"
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DATETIME = TypeAdapter(datetime)


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def concept_search_text(concept: ViralConcept) -> str:
    """What search matches in a concept: title, caption, hashtags and trend source, lower-cased."""
    return " ".join([concept.title, concept.caption, *concept.hashtags, concept.trend_source]).lower()


def trend_text(generation: GenerationModel) -> str:
    """The generation's trend topics, lower-cased and joined by spaces."""
    return " ".join(t.topic for t in generation.trends).lower()


def search_doc(generation: GenerationModel) -> str:
    """What search matches in a generation: its trend text, then each concept's search text."""
    return SEARCH_SEPARATOR.join([trend_text(generation), *(concept_search_text(c) for c in generation.concepts)])


# --- what reads return -------------------------------------------------------------------------------------


class _Stored:
    """A JSON object as stored (validated when it was written): `wire()` returns it as is, and any other
    attribute comes from its pydantic model, validated on first use only."""

    __slots__ = ("_data", "_validated")
    schema: ClassVar[type[CamelModel]]

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self._validated: CamelModel | None = None

    def wire(self) -> dict[str, Any]:
        return self._data

    def validated(self) -> Any:
        if self._validated is None:
            self._validated = self.schema.model_validate(self._data)
        return self._validated

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.validated(), name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"


class StoredConcept(_Stored):
    __slots__ = ()
    schema = ViralConcept

    @property
    def id(self) -> str:
        return str(self._data["id"])


class StoredTrend(_Stored):
    __slots__ = ()
    schema = TrendData


@dataclass(frozen=True, slots=True)
class StoredGeneration:
    """A generation read back: the fields of schemas.content.Generation, without validating the stored JSON again."""

    id: str
    date: datetime
    concepts: list[StoredConcept]
    trends: list[StoredTrend]
    is_favorite: bool

    def wire(self) -> dict[str, Any]:
        """The same JSON as Generation.wire() of the validated model."""
        return {
            "id": self.id,
            "date": _DATETIME.dump_python(self.date, mode="json"),
            "concepts": [c.wire() for c in self.concepts],
            "trends": [t.wire() for t in self.trends],
            "isFavorite": self.is_favorite,
        }

    def validated(self) -> GenerationModel:
        return GenerationModel.model_validate(self.wire())


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
    def _to_view(row: Any) -> StoredGeneration:
        return StoredGeneration(
            id=row.id,
            date=row.date,
            concepts=[StoredConcept(c) for c in row.concepts],
            trends=[StoredTrend(t) for t in row.trends],
            is_favorite=row.is_favorite,
        )

    def upsert(self, generation: GenerationModel) -> None:
        """Insert or replace a generation and its concepts, in one statement whatever the concept count.

        A concept id that already belongs to another generation of this tenant is a Conflict (nothing moves).
        """
        concepts = generation.concepts
        written = self.session.execute(
            _SAVE,
            {
                "tenant": self.tenant_id,
                "id": generation.id,
                "date": generation.date,
                "trends": _json_array(generation.trends),
                "is_favorite": generation.is_favorite,
                "trend_text": trend_text(generation),
                "trend_topics": [t.topic for t in generation.trends],
                "search_doc": search_doc(generation),
                "ids": [c.id for c in concepts],
                "titles": [c.title for c in concepts],
                "categories": [c.category for c in concepts],
                "trend_sources": [c.trend_source for c in concepts],
                "data": [_json(c) for c in concepts],
                "search_texts": [concept_search_text(c) for c in concepts],
            },
        ).scalar_one()
        if written != len(concepts):
            raise Conflict("a concept id of this generation already belongs to another generation")

    def newest(
        self,
        *,
        limit: int,
        offset: int = 0,
        favorites_only: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[StoredGeneration]:
        """Newest first, with concepts, in one statement."""
        statement = self._listing()
        if favorites_only:
            statement = statement.where(Generation.is_favorite.is_(True))
        if start is not None:
            statement = statement.where(Generation.date >= start)
        if end is not None:
            statement = statement.where(Generation.date <= end)
        statement = statement.order_by(Generation.date.desc(), Generation.id).limit(limit).offset(offset)
        return [self._to_view(row) for row in self.session.execute(statement)]

    def concept_data(self, concept_id: str) -> dict[str, Any] | None:
        """One concept as the dashboard saw it (its JSON), or None."""
        statement = select(Concept.data).where(Concept.tenant_id == self.tenant_id, Concept.id == concept_id)
        return self.session.execute(statement).scalar_one_or_none()

    def count(self) -> int:
        return int(self.session.execute(self._select(func.count())).scalar_one())

    def get(self, generation_id: str) -> StoredGeneration | None:
        row = self.session.execute(self._listing().where(Generation.id == generation_id)).one_or_none()
        return None if row is None else self._to_view(row)

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

    def search(self, query: str, *, limit: int) -> list[StoredGeneration]:
        """Case-insensitive substring search over concepts and trend topics, newest first, in one statement.

        The ids come from search_generation_ids (migration 0008), which can use the trigram index that the
        tenant policy would block, and reads the tenant bound to this transaction itself.
        """
        cleaned = _CONTROL_CHARACTERS.sub("", query).lower()
        if not cleaned:
            return []
        pattern = f"%{_escape_like(cleaned)}%"
        found = func.search_generation_ids(pattern, limit).table_valued("id", with_ordinality="n").render_derived()
        statement = self._listing().join(found, found.c.id == Generation.id).order_by(found.c.n)
        return [self._to_view(row) for row in self.session.execute(statement)]

    def analytics(self) -> AnalyticsData:
        """Totals, categories, trend topics and generations per day, aggregated in SQL in one statement."""
        row = self.session.execute(_ANALYTICS, {"tenant": self.tenant_id}).one()
        categories = {category: 0 for category in CATEGORY_VALUES}
        categories.update(row.categories)
        daily = {day.isoformat(): int(n) for day, n in zip(row.days or [], row.counts or [], strict=True)}
        return AnalyticsData(
            total_generations=sum(daily.values()),
            total_concepts=sum(categories.values()),
            category_breakdown=categories,
            trend_frequency=row.trends,
            daily_generations=daily,
        )


def _json(model: CamelModel) -> str:
    """The model's wire() as JSON text (jsonb parses it back to the same value)."""
    return model.model_dump_json(by_alias=True, exclude_unset=True)


def _json_array(models: list[TrendData]) -> str:
    return "[" + ",".join(_json(m) for m in models) + "]"


_TEXT_ARRAYS = ("trend_topics", "ids", "titles", "categories", "trend_sources", "data", "search_texts")

# One fixed statement (so SQLAlchemy's compiled cache and the driver's prepared statement are reused): upsert the
# generation, upsert its concepts from arrays, drop the ones it no longer has, and count the concepts written.
# A concept id owned by another generation is left alone and not counted. The foreign key from concepts to
# generations is checked at the end of the statement, when the generation row exists.
_SAVE = text("""
with saved as (
  insert into generations (tenant_id, id, date, trends, is_favorite, trend_text, trend_topics, search_doc)
  values (:tenant, :id, :date, cast(:trends as jsonb), :is_favorite, :trend_text, :trend_topics, :search_doc)
  on conflict (tenant_id, id) do update
     set date = excluded.date, trends = excluded.trends, is_favorite = excluded.is_favorite,
         trend_text = excluded.trend_text, trend_topics = excluded.trend_topics, search_doc = excluded.search_doc
  returning id
), upserted as (
  insert into concepts (tenant_id, id, generation_id, position, title, category, trend_source, data, search_text)
  select :tenant, c.id, (select id from saved), c.n - 1, c.title, c.category, c.trend_source, cast(c.data as jsonb),
         c.search_text
    from unnest(:ids, :titles, :categories, :trend_sources, :data, :search_texts)
         with ordinality as c(id, title, category, trend_source, data, search_text, n)
  on conflict (tenant_id, id) do update
     set position = excluded.position, title = excluded.title, category = excluded.category,
         trend_source = excluded.trend_source, data = excluded.data, search_text = excluded.search_text
   where concepts.generation_id = excluded.generation_id
  returning 1
), removed as (
  delete from concepts where tenant_id = :tenant and generation_id = :id and id <> all(:ids)
)
select count(*) from upserted
""").bindparams(
    bindparam("tenant", type_=Uuid(as_uuid=True)),
    *(bindparam(name, type_=ARRAY(Text)) for name in _TEXT_ARRAYS),
)

# The tenant filter is explicit in every branch (RLS would also apply it): it lets each branch use its index.
# Nothing is counted twice: the totals are the sums of the days and of the categories (every generation has a
# date, every concept a category); days are grouped as UTC dates. Topics are unnested in the select list (one
# ProjectSet, much cheaper than a lateral join) from the covering index, never the wide rows.
_ANALYTICS = text("""
select
  (select coalesce(jsonb_object_agg(category, n), '{}'::jsonb)
     from (select category, count(*) as n from concepts where tenant_id = :tenant group by category) s) as categories,
  (select coalesce(jsonb_object_agg(topic, n), '{}'::jsonb)
     from (select topic, count(*) as n
             from (select unnest(trend_topics) as topic from generations where tenant_id = :tenant) t
            group by topic) s) as trends,
  d.days,
  d.counts
from (select array_agg(day order by day) as days, array_agg(n order by day) as counts
        from (select (date at time zone 'UTC')::date as day, count(*) as n
                from generations where tenant_id = :tenant group by 1) s) d
""").bindparams(bindparam("tenant", type_=Uuid(as_uuid=True)))

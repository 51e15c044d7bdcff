"""What the concept engine reads and writes besides generations: the trend cache, score models and quota."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert

from viral.db.models import ScoreModel, TrendSnapshot
from viral.db.repository import TenantRepositoryBase


@dataclass(frozen=True)
class Snapshot:
    id: uuid.UUID
    fetched_at: datetime
    trends: list[dict[str, Any]]
    sources: dict[str, Any]


@dataclass(frozen=True)
class EngineInputs:
    snapshot: Snapshot | None
    model_version: int | None
    model_weights: dict[str, Any] | None


# One statement: the freshest trend snapshot within the TTL and the tenant's current score model.
_INPUTS = text("""
select s.id, s.fetched_at, s.trends, s.sources, m.version, m.weights
  from (select 1) as one
  left join lateral (
    select id, fetched_at, trends, sources from trend_snapshots
     where region = :region and fetched_at > now() - make_interval(secs => :ttl)
     order by fetched_at desc limit 1) s on true
  left join lateral (
    select version, weights from score_models where tenant_id = :tenant order by version desc limit 1) m on true
""")

# One statement, atomic under concurrency: grant min(asked, left) concepts, or nothing when none are left.
# The row lock taken by FOR UPDATE serialises concurrent calls; each sees the previous one's result.
_CONSUME = text("""
with current as (
  select id, used_quota, monthly_quota from tenants where id = :tenant for update
)
update tenants t
   set used_quota = least(current.monthly_quota, current.used_quota + :asked), updated_at = now()
  from current
 where t.id = current.id and current.used_quota < current.monthly_quota
returning t.used_quota - current.used_quota as granted, t.used_quota, t.monthly_quota
""")
_QUOTA = text("select used_quota, monthly_quota from tenants where id = :tenant")

# One statement, atomic under concurrency: take the region's refresh unless it was taken within the interval.
# A concurrent claim waits on the row and then re-checks the condition against the winner's time.
_CLAIM_REFRESH = text("""
insert into trend_refreshes as r (region, claimed_at) values (:region, now())
on conflict (region) do update set claimed_at = excluded.claimed_at
 where r.claimed_at <= now() - make_interval(secs => :interval)
returning claimed_at
""")
_LATEST = text("""
select id, fetched_at, trends, sources from trend_snapshots where region = :region order by fetched_at desc limit 1
""")


@dataclass(frozen=True)
class QuotaGrant:
    granted: int
    used: int
    total: int


class EngineRepository(TenantRepositoryBase[ScoreModel]):
    """The concept engine's inputs for the bound tenant: its score models, the shared trend cache and its quota.

    `inputs` and `consume_quota` are single hand-written statements (one round trip each on the generate path);
    they take this repository's tenant as a parameter, and row-level security checks it again underneath.
    """

    model = ScoreModel

    def inputs(self, *, region: str, ttl_s: int) -> EngineInputs:
        row = self.session.execute(_INPUTS, {"region": region, "ttl": ttl_s, "tenant": self.tenant_id}).one()
        snapshot = None if row.id is None else Snapshot(row.id, row.fetched_at, row.trends, row.sources)
        return EngineInputs(snapshot=snapshot, model_version=row.version, model_weights=row.weights)

    def store_snapshot(self, *, region: str, trends: list[dict[str, Any]], sources: dict[str, Any]) -> Snapshot:
        row = self.session.scalars(
            insert(TrendSnapshot).values(region=region, trends=trends, sources=sources).returning(TrendSnapshot)
        ).one()
        return Snapshot(row.id, row.fetched_at, row.trends, row.sources)

    def claim_trend_refresh(self, *, region: str, interval_s: int) -> bool:
        """Take the region's trend refresh: False when someone took it less than `interval_s` seconds ago."""
        row = self.session.execute(_CLAIM_REFRESH, {"region": region, "interval": interval_s}).one_or_none()
        return row is not None

    def latest_snapshot(self, *, region: str) -> Snapshot | None:
        """The region's newest trend snapshot, however old."""
        row = self.session.execute(_LATEST, {"region": region}).one_or_none()
        return None if row is None else Snapshot(row.id, row.fetched_at, row.trends, row.sources)

    def consume_quota(self, asked: int) -> QuotaGrant:
        row = self.session.execute(_CONSUME, {"tenant": self.tenant_id, "asked": asked}).one_or_none()
        if row is not None:
            return QuotaGrant(granted=row.granted, used=row.used_quota, total=row.monthly_quota)
        used, total = self.session.execute(_QUOTA, {"tenant": self.tenant_id}).one()
        return QuotaGrant(granted=0, used=used, total=total)

    def ensure_default_model(self, weights: dict[str, Any]) -> None:
        """Store version 1 (the defaults, implicit until the first change) so it can be restored later."""
        self.session.execute(
            insert(ScoreModel)
            .values(self._stamp({"version": 1, "weights": weights, "source": "initial", "reason": "defaults"}))
            .on_conflict_do_nothing()
        )

    def current_score_model(self) -> tuple[int, dict[str, Any]] | None:
        """The tenant's newest score-model version and its weights (None: the implicit defaults, version 1)."""
        statement = self._select(ScoreModel.version, ScoreModel.weights).order_by(ScoreModel.version.desc()).limit(1)
        row = self.session.execute(statement).one_or_none()
        return None if row is None else (row.version, row.weights)

    def last_rollback_at(self) -> datetime | None:
        """When the tenant last rolled its score model back (None: never): earlier evidence no longer counts."""
        statement = self._select(func.max(ScoreModel.created_at)).where(ScoreModel.source == "rollback")
        return self.session.execute(statement).scalar()

    def score_model(self, version: int) -> dict[str, Any] | None:
        statement = self._select(ScoreModel.weights).where(ScoreModel.version == version)
        return self.session.execute(statement).scalar_one_or_none()

    def score_models(self) -> list[dict[str, Any]]:
        statement = self._select(
            ScoreModel.version,
            ScoreModel.source,
            ScoreModel.based_on_version,
            ScoreModel.reason,
            ScoreModel.created_at,
        ).order_by(ScoreModel.version.desc())
        return [dict(row._mapping) for row in self.session.execute(statement)]

    def add_score_model(
        self, *, version: int, weights: dict[str, Any], source: str, based_on: int | None, reason: str | None
    ) -> None:
        self.session.execute(
            insert(ScoreModel).values(
                self._stamp(
                    {
                        "version": version,
                        "weights": weights,
                        "source": source,
                        "based_on_version": based_on,
                        "reason": reason,
                    }
                )
            )
        )

"""Feedback, critiques, insights and adjustments of one tenant."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, text, update
from sqlalchemy.dialects.postgresql import insert

from viral.db.models import PerformanceFeedback, ReflexionInsight, ScoringAdjustment, SelfCritique
from viral.db.repository import TenantRepositoryBase
from viral.learning import schemas as schema


class FeedbackRepository(TenantRepositoryBase[PerformanceFeedback]):
    model = PerformanceFeedback

    def _values(self, feedback: schema.PerformanceFeedback) -> dict[str, Any]:
        m = feedback.metrics
        values = self._stamp(
            {
                "id": feedback.id,
                "concept_id": feedback.concept_id,
                "concept_title": feedback.concept_title,
                "category": feedback.category,
                "platform": feedback.platform,
                "variant_id": feedback.variant_id,
                "views": m.views,
                "likes": m.likes,
                "shares": m.shares,
                "comments": m.comments,
                "engagement_rate": Decimal(str(round(feedback.engagement_rate or 0.0, 4))),
                "data_source": feedback.data_source,
            }
        )
        if feedback.reported_at is not None:
            values["reported_at"] = feedback.reported_at
        return values

    def add(self, feedback: schema.PerformanceFeedback) -> None:
        self.session.execute(insert(PerformanceFeedback).values(self._values(feedback)))

    def add_once(self, feedback: schema.PerformanceFeedback) -> None:
        """Insert unless a feedback with this id exists already."""
        self.session.execute(insert(PerformanceFeedback).values(self._values(feedback)).on_conflict_do_nothing())

    def add_derived(self, feedback: schema.PerformanceFeedback, snapshot_id: uuid.UUID) -> bool:
        """Insert a feedback read from the platform (data source `api`) unless its concept and platform have one
        already; whether it was inserted."""
        values = {**self._values(feedback), "data_source": "api", "snapshot_id": snapshot_id}
        statement = (
            insert(PerformanceFeedback)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "concept_id", "platform"], index_where=text("data_source = 'api'")
            )
            .returning(PerformanceFeedback.id)
        )
        return self.session.execute(statement).first() is not None

    def recent(self, *, limit: int) -> list[schema.PerformanceFeedback]:
        rows = self.session.scalars(
            self._select().order_by(PerformanceFeedback.reported_at.desc(), PerformanceFeedback.id).limit(limit)
        )
        return [
            schema.PerformanceFeedback(
                id=r.id,
                concept_id=r.concept_id,
                concept_title=r.concept_title,
                category=r.category,
                platform=r.platform,
                variant_id=r.variant_id,
                engagement_rate=float(r.engagement_rate),
                metrics=schema.FeedbackMetrics(views=r.views, likes=r.likes, shares=r.shares, comments=r.comments),
                reported_at=r.reported_at,
                data_source=r.data_source,
            )
            for r in rows
        ]


def _critique(row: SelfCritique) -> schema.SelfCritique:
    return schema.SelfCritique(
        id=row.id,
        concept_id=row.concept_id,
        feedback_id=row.feedback_id,
        performance_gap=schema.PerformanceGap.model_validate(row.performance_gap),
        critique=row.critique,
        hypothesized_reasons=row.hypothesized_reasons,
        scoring_issues=row.scoring_issues,
        adjustment_plan=row.adjustment_plan,
        confidence_level=row.confidence_level,
        created_at=row.created_at,
        applied_at=row.applied_at,
    )


class CritiqueRepository(TenantRepositoryBase[SelfCritique]):
    model = SelfCritique

    def _values(self, critique: schema.SelfCritique) -> dict[str, Any]:
        values = self._stamp(
            {
                "id": critique.id,
                "concept_id": critique.concept_id,
                "feedback_id": critique.feedback_id,
                "performance_gap": critique.performance_gap.wire(),
                "critique": critique.critique,
                "hypothesized_reasons": critique.hypothesized_reasons,
                "scoring_issues": critique.scoring_issues,
                "adjustment_plan": critique.adjustment_plan,
                "confidence_level": critique.confidence_level,
                "applied_at": critique.applied_at,
            }
        )
        if critique.created_at is not None:
            values["created_at"] = critique.created_at
        return values

    def add(self, critique: schema.SelfCritique) -> None:
        self.session.execute(insert(SelfCritique).values(self._values(critique)))

    def _newest(self, *where: Any, limit: int | None = None, offset: int = 0) -> list[schema.SelfCritique]:
        statement = self._select().where(*where).order_by(SelfCritique.created_at.desc(), SelfCritique.id)
        if limit is not None:
            statement = statement.limit(limit)
        if offset:
            statement = statement.offset(offset)
        return [_critique(row) for row in self.session.scalars(statement)]

    def recent(self, *, limit: int, offset: int = 0) -> list[schema.SelfCritique]:
        return self._newest(limit=limit, offset=offset)

    def add_once(self, critique: schema.SelfCritique) -> bool:
        """Insert unless this concept and feedback already have a critique; whether it was inserted."""
        statement = insert(SelfCritique).values(self._values(critique)).on_conflict_do_nothing()
        return self.session.execute(statement.returning(SelfCritique.id)).first() is not None

    def for_feedback(self, concept_id: str, feedback_id: str) -> schema.SelfCritique | None:
        found = self._newest(SelfCritique.concept_id == concept_id, SelfCritique.feedback_id == feedback_id)
        return found[0] if found else None

    def mark_applied(self, ids: list[str]) -> None:
        self.session.execute(
            update(SelfCritique)
            .where(SelfCritique.tenant_id == self.tenant_id, SelfCritique.id.in_(ids))
            .values(applied_at=func.now())
        )

    def by_concept(self, concept_id: str) -> list[schema.SelfCritique]:
        return self._newest(SelfCritique.concept_id == concept_id)

    def unapplied(self) -> list[schema.SelfCritique]:
        return self._newest(SelfCritique.applied_at.is_(None))

    def evidence(self, *, since: datetime | None, limit: int) -> list[schema.SelfCritique]:
        """The newest critiques (applied or not) written after `since`, newest first: the learner's evidence."""
        where = [] if since is None else [SelfCritique.created_at > since]
        return self._newest(*where, limit=limit)


def _insight(row: ReflexionInsight) -> schema.ReflexionInsight:
    return schema.ReflexionInsight(
        id=row.id,
        category=row.category,
        platform=row.platform,
        pattern=row.pattern,
        evidence_count=row.evidence_count,
        impact=row.impact,
        recommendation=row.recommendation,
        applied_to_scoring=row.applied_to_scoring,
        discovered_at=row.discovered_at,
        last_seen_at=row.last_seen_at,
    )


class InsightRepository(TenantRepositoryBase[ReflexionInsight]):
    model = ReflexionInsight

    def upsert(self, insight: schema.ReflexionInsight) -> schema.ReflexionInsight:
        """Insert, or update the existing insight with the same (category, platform, pattern); one statement."""
        values = self._stamp(
            {
                "id": insight.id,
                "category": insight.category,
                "platform": insight.platform,
                "pattern": insight.pattern,
                "evidence_count": insight.evidence_count,
                "impact": insight.impact,
                "recommendation": insight.recommendation,
                "applied_to_scoring": insight.applied_to_scoring,
            }
        )
        for field in ("discovered_at", "last_seen_at"):
            if (value := getattr(insight, field)) is not None:
                values[field] = value
        new = insert(ReflexionInsight).values(values)
        # The excluded row carries the given last_seen_at, or now() by the column default.
        updated = ("evidence_count", "impact", "recommendation", "applied_to_scoring", "last_seen_at")
        upsert = new.on_conflict_do_update(
            constraint="uq_insights_pattern", set_={k: new.excluded[k] for k in updated}
        ).returning(ReflexionInsight)
        return _insight(self.session.scalars(upsert).one())

    def record_evidence(self, insight: schema.ReflexionInsight) -> schema.ReflexionInsight:
        """Count one more piece of evidence for a pattern (insert it the first time); one statement."""
        new = insert(ReflexionInsight).values(
            self._stamp(
                {
                    "id": insight.id,
                    "category": insight.category,
                    "platform": insight.platform,
                    "pattern": insight.pattern,
                    "evidence_count": 1,
                    "impact": insight.impact,
                    "recommendation": insight.recommendation,
                }
            )
        )
        count = ReflexionInsight.evidence_count + 1
        upsert = new.on_conflict_do_update(
            constraint="uq_insights_pattern",
            set_={
                "evidence_count": count,
                "last_seen_at": func.now(),
                "recommendation": case(
                    (count >= 3, func.concat("Strong pattern detected (", count, "x). Apply scoring adjustment.")),
                    else_=new.excluded.recommendation,
                ),
            },
        ).returning(ReflexionInsight)
        return _insight(self.session.scalars(upsert).one())

    def mark_applied(self, category: str, platform: str, pattern: str) -> None:
        self.session.execute(
            update(ReflexionInsight)
            .where(
                ReflexionInsight.tenant_id == self.tenant_id,
                ReflexionInsight.category == category,
                ReflexionInsight.platform == platform,
                ReflexionInsight.pattern == pattern,
            )
            .values(applied_to_scoring=True)
        )

    def newest(self, *, category: str | None = None) -> list[schema.ReflexionInsight]:
        statement = self._select()
        if category is not None:
            statement = statement.where(ReflexionInsight.category == category)
        statement = statement.order_by(ReflexionInsight.last_seen_at.desc(), ReflexionInsight.id)
        return [_insight(row) for row in self.session.scalars(statement)]

    def by_pattern(self, pattern: str) -> list[schema.ReflexionInsight]:
        statement = (
            self._select()
            .where(ReflexionInsight.pattern == pattern)
            .order_by(ReflexionInsight.last_seen_at.desc(), ReflexionInsight.id)
        )
        return [_insight(row) for row in self.session.scalars(statement)]


def _adjustment(row: ScoringAdjustment) -> schema.ScoringAdjustment:
    return schema.ScoringAdjustment(
        id=row.id,
        category=row.category,
        adjustment_type=row.adjustment_type,
        old_value=float(row.old_value),
        new_value=float(row.new_value),
        reason=row.reason,
        critique_id=row.critique_id,
        applied_at=row.applied_at,
    )


class AdjustmentRepository(TenantRepositoryBase[ScoringAdjustment]):
    model = ScoringAdjustment

    def add(self, adjustment: schema.ScoringAdjustment, *, score_model_version: int | None = None) -> None:
        values = self._stamp(
            {
                "id": adjustment.id,
                "critique_id": adjustment.critique_id,
                "category": adjustment.category,
                "adjustment_type": adjustment.adjustment_type,
                "old_value": Decimal(str(round(adjustment.old_value, 4))),
                "new_value": Decimal(str(round(adjustment.new_value, 4))),
                "reason": adjustment.reason,
                "score_model_version": score_model_version,
            }
        )
        if adjustment.applied_at is not None:
            values["applied_at"] = adjustment.applied_at
        self.session.execute(insert(ScoringAdjustment).values(values))

    def recent(self, *, limit: int, category: str | None = None, offset: int = 0) -> list[schema.ScoringAdjustment]:
        statement = self._select()
        if category is not None:
            statement = statement.where(ScoringAdjustment.category == category)
        statement = statement.order_by(ScoringAdjustment.applied_at.desc(), ScoringAdjustment.id).limit(limit)
        if offset:
            statement = statement.offset(offset)
        return [_adjustment(row) for row in self.session.scalars(statement)]


def reflexion_stats(repo: CritiqueRepository, *, now: datetime) -> schema.ReflexionStats:
    """The four counters of the original's getReflexionStats, in one statement."""
    row = repo.session.execute(_STATS, {"tenant": repo.tenant_id, "since": now - timedelta(days=7)}).one()
    return schema.ReflexionStats(
        total_critiques=row.critiques,
        total_insights=row.insights,
        total_adjustments=row.adjustments,
        recent_critiques=row.recent,
    )


_STATS = text("""
select
  (select count(*) from self_critiques where tenant_id = :tenant) as critiques,
  (select count(*) from reflexion_insights where tenant_id = :tenant) as insights,
  (select count(*) from scoring_adjustments where tenant_id = :tenant) as adjustments,
  (select count(*) from self_critiques where tenant_id = :tenant and created_at >= :since) as recent
""")

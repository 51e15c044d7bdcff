"""POST /api/generate: trends to concepts, scored by the tenant's model, quota consumed atomically, one transaction."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from viral.content.concepts import ConceptRequest, write_concepts
from viral.content.engine_repository import EngineRepository
from viral.content.repository import GenerationRepository
from viral.content.schemas import Generation, TrendData
from viral.content.scoring import ScoreModel
from viral.content.trends import refresh_trends
from viral.db.uow import unit_of_work
from viral.errors import QuotaExceeded
from viral.observability import business_metric
from viral.outbound.events import emit_quota_low
from viral.settings import get_settings


@dataclass(frozen=True)
class QuotaReport:
    used: int
    total: int
    requested: int
    granted: int

    def wire(self) -> dict[str, Any]:
        return {
            "used": self.used,
            "total": self.total,
            "remaining": max(0, self.total - self.used),
            "requested": self.requested,
            "granted": self.granted,
            "limited": self.granted < self.requested,
        }


@dataclass(frozen=True)
class GenerationResult:
    generation: Generation
    quota: QuotaReport

    def wire(self) -> dict[str, Any]:
        """The Generation at top level plus `quota`, as the original answered."""
        return {**self.generation.wire(), "quota": self.quota.wire()}


def generate(
    request: ConceptRequest | None = None,
    *,
    now: datetime | None = None,
    seed: int | None = None,
    generation_id: str | None = None,
    refresh_trends_if_cold: bool = True,
) -> GenerationResult:
    """Write concepts for the current tenant and persist them with the generation, consuming quota exactly once.

    Warm path, one transaction, five statements: bind tenant, read trend cache and score model, consume quota,
    upsert the generation, upsert its concepts. With no quota left: QuotaExceeded and nothing written.
    """
    settings = get_settings()
    request = request or ConceptRequest()
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    result: GenerationResult | None = None
    # Without refresh (a caller inside its own transaction), a cold cache means the offline set, never network.
    for attempt in range(0 if refresh_trends_if_cold else 1, 2):
        with unit_of_work() as uow:
            inputs = uow.repository(EngineRepository).inputs(region=settings.trends_region, ttl_s=settings.trends_ttl_s)
            if inputs.snapshot is not None or attempt == 1:
                trends = (
                    [TrendData.model_validate(t) for t in inputs.snapshot.trends] if inputs.snapshot is not None else []
                )
                model = (
                    ScoreModel(version=inputs.model_version, weights=inputs.model_weights)
                    if inputs.model_version is not None and inputs.model_weights is not None
                    else ScoreModel()
                )
                concepts = write_concepts(trends, request, model=model, rng=rng, now=now)
                grant = uow.repository(EngineRepository).consume_quota(len(concepts))
                emit_quota_low(uow, used=grant.used, granted=grant.granted, total=grant.total)
                if grant.granted == 0:
                    raise QuotaExceeded(
                        "Quota exceeded",
                        details=f"You've used all {grant.total} concepts this month. "
                        "Upgrade your plan or wait for quota reset.",
                    )
                generation = Generation(
                    id=generation_id or str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    date=now,
                    concepts=concepts[: grant.granted],
                    trends=trends,
                    is_favorite=False,
                )
                uow.repository(GenerationRepository).upsert(generation)
                report = QuotaReport(used=grant.used, total=grant.total, requested=len(concepts), granted=grant.granted)
                result = GenerationResult(generation=generation, quota=report)
        if result is not None:  # committed
            business_metric("Generations")
            business_metric("Concepts", result.quota.granted)
            return result
        # Cache miss: gather outside any transaction (network), then try once more.
        refresh_trends(now=now, settings=settings)
    raise AssertionError("unreachable")  # pragma: no cover

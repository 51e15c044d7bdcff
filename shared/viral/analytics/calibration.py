"""How well calibrated the viral score is: predicted against actual virality, from the critics' performance gaps.

Every critique records the score the concept was given (`predictedVirality`) and the score its real performance
earned (`actualViralityScore`). Grouped per platform and category, per feedback source (`api`: read from the
platform by the collector; `manual`: typed in; `import`, `scraped`; `none` once the feedback was deleted) and
overall: the mean of each side, the mean absolute error, the bias (mean of predicted minus actual: above 0 the
score promises too much) and Spearman's rank correlation (does a higher score mean a better post?), null under
three samples or when either side does not vary.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import Uuid, bindparam, text

from viral.content.repository import GenerationRepository
from viral.content.schemas import AnalyticsData
from viral.db.models import SelfCritique
from viral.db.repository import TenantRepositoryBase
from viral.db.uow import unit_of_work
from viral.wire import CamelModel

MIN_RANK_SAMPLES = 3
OVERALL, BY_SOURCE, BY_PLATFORM_CATEGORY = "overall", "source", "platform_category"


class CalibrationFigures(CamelModel):
    samples: int = Field(description="critiques with both a predicted and an actual virality")
    mean_predicted: float | None = Field(description="mean predicted virality (0-100); null without samples")
    mean_actual: float | None = Field(description="mean actual virality score (0-100); null without samples")
    mean_absolute_error: float | None = Field(description="mean of |predicted - actual|; null without samples")
    bias: float | None = Field(description="mean of predicted - actual: above 0 the score promises too much")
    rank_correlation: float | None = Field(
        description="Spearman's rank correlation of predicted and actual; null under 3 samples or without variation"
    )


class SourceCalibration(CalibrationFigures):
    source: str = Field(description="where the feedback came from: api (the platform), manual, import, scraped, none")


class PlatformCategoryCalibration(CalibrationFigures):
    platform: str
    category: str


class Calibration(CamelModel):
    overall: CalibrationFigures
    by_source: list[SourceCalibration]
    by_platform_category: list[PlatformCategoryCalibration]


class AnalyticsAnswer(AnalyticsData):
    """GET /api/analytics: the original's totals and breakdowns, plus the score's calibration."""

    calibration: Calibration


# One statement: the pairs read once, ranked within each grouping (ties share their average rank, so the Pearson
# correlation of the ranks is Spearman's), then aggregated per platform and category, per source and overall.
# The tenant filter is explicit (RLS applies it too) so the tenant prefix of the critiques' indexes serves it.
_CALIBRATION = text("""
with pairs as (
  select c.performance_gap ->> 'platform' as platform,
         c.performance_gap ->> 'category' as category,
         coalesce(f.data_source, 'none') as source,
         (c.performance_gap ->> 'predictedVirality')::float8 as predicted,
         (c.performance_gap ->> 'actualViralityScore')::float8 as actual
    from self_critiques c
    left join performance_feedback f on f.tenant_id = c.tenant_id and f.id = c.feedback_id
   where c.tenant_id = :tenant
     and jsonb_typeof(c.performance_gap -> 'predictedVirality') = 'number'
     and jsonb_typeof(c.performance_gap -> 'actualViralityScore') = 'number'
), ranked as (
  select platform, category, source, predicted, actual,
         rank() over (partition by platform, category order by predicted)
           + (count(*) over (partition by platform, category, predicted) - 1) / 2.0 as pc_predicted_rank,
         rank() over (partition by platform, category order by actual)
           + (count(*) over (partition by platform, category, actual) - 1) / 2.0 as pc_actual_rank,
         rank() over (partition by source order by predicted)
           + (count(*) over (partition by source, predicted) - 1) / 2.0 as source_predicted_rank,
         rank() over (partition by source order by actual)
           + (count(*) over (partition by source, actual) - 1) / 2.0 as source_actual_rank,
         rank() over (order by predicted) + (count(*) over (partition by predicted) - 1) / 2.0 as predicted_rank,
         rank() over (order by actual) + (count(*) over (partition by actual) - 1) / 2.0 as actual_rank
    from pairs
)
select 'platform_category' as level, platform, category, null as source, count(*) as samples,
       avg(predicted) as mean_predicted, avg(actual) as mean_actual, avg(abs(predicted - actual)) as mae,
       avg(predicted - actual) as bias, corr(pc_predicted_rank, pc_actual_rank) as rank_correlation
  from ranked group by platform, category
union all
select 'source', null, null, source, count(*), avg(predicted), avg(actual), avg(abs(predicted - actual)),
       avg(predicted - actual), corr(source_predicted_rank, source_actual_rank)
  from ranked group by source
union all
select 'overall', null, null, null, count(*), avg(predicted), avg(actual), avg(abs(predicted - actual)),
       avg(predicted - actual), corr(predicted_rank, actual_rank)
  from ranked
order by 1, 2, 3, 4
""").bindparams(bindparam("tenant", type_=Uuid(as_uuid=True)))


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _figures(row: Any) -> dict[str, Any]:
    samples = int(row.samples)
    return {
        "samples": samples,
        "mean_predicted": _rounded(row.mean_predicted),
        "mean_actual": _rounded(row.mean_actual),
        "mean_absolute_error": _rounded(row.mae),
        "bias": _rounded(row.bias),
        "rank_correlation": _rounded(row.rank_correlation) if samples >= MIN_RANK_SAMPLES else None,
    }


class CalibrationRepository(TenantRepositoryBase[SelfCritique]):
    model = SelfCritique

    def calibration(self) -> Calibration:
        """The bound tenant's calibration, aggregated in SQL in one statement."""
        overall = CalibrationFigures(
            samples=0, mean_predicted=None, mean_actual=None, mean_absolute_error=None, bias=None, rank_correlation=None
        )
        by_source: list[SourceCalibration] = []
        by_platform_category: list[PlatformCategoryCalibration] = []
        for row in self.session.execute(_CALIBRATION, {"tenant": self.tenant_id}):
            if row.level == OVERALL:
                overall = CalibrationFigures(**_figures(row))
            elif row.level == BY_SOURCE:
                by_source.append(SourceCalibration(source=row.source, **_figures(row)))
            else:
                by_platform_category.append(
                    PlatformCategoryCalibration(platform=row.platform, category=row.category, **_figures(row))
                )
        return Calibration(overall=overall, by_source=by_source, by_platform_category=by_platform_category)


def analytics_with_calibration() -> AnalyticsAnswer:
    """The bound tenant's analytics (the original's storage function) and calibration, in one transaction."""
    with unit_of_work() as uow:
        data = uow.repository(GenerationRepository).analytics()
        calibration = uow.repository(CalibrationRepository).calibration()
    return AnalyticsAnswer(**data.model_dump(), calibration=calibration)

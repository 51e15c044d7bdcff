"""What /api/feedback and /api/reflexion take and answer: the original's shapes, typed."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from viral.errors import InvalidInput
from viral.learning.feedback import validate_feedback_request
from viral.learning.schemas import (
    Confidence,
    Direction,
    PerformanceFeedback,
    ReflexionInsight,
    ScoringAdjustment,
    SelfCritique,
)
from viral.vocabulary import Category, Platform
from viral.wire import CamelModel, ContentId

Count = Annotated[float, Field(ge=0, le=10**13)]


class FeedbackRefused(InvalidInput):
    """The original's 400 "Validation failed" with every {field, message}: the API's one 400 validation answer."""

    http_status = HTTPStatus.BAD_REQUEST


class FeedbackMetricsBody(CamelModel):
    model_config = ConfigDict(extra="allow")

    views: Count
    likes: Count
    comments: Count
    shares: Count
    saves: Count | None = None
    click_through_rate: float | None = Field(default=None, ge=0, le=100)
    watch_time_seconds: Count | None = None


class FeedbackBody(CamelModel):
    """A concept's real performance, checked by the original's rules first (400 with all problems together)."""

    model_config = ConfigDict(extra="allow")

    concept_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    concept_title: Annotated[str, StringConstraints(max_length=500)] | None = None
    category: Category
    platform: Platform
    variant_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    metrics: FeedbackMetricsBody
    estimated_rpm: float | None = Field(default=None, ge=0, alias="estimatedRpm")
    sponsor_interest: bool | None = None
    notes: Annotated[str, StringConstraints(max_length=5000)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _the_original_rules(cls, value: Any) -> Any:
        problems = validate_feedback_request(value)
        if problems:
            raise FeedbackRefused("Validation failed", details=problems)
        return value


class FeedbackEntry(CamelModel):
    id: str
    engagement_rate: float
    reported_at: str | None


class FeedbackReflexion(CamelModel):
    critique_id: str
    direction: Direction
    gap_percentage: float


class FeedbackRecorded(CamelModel):
    success: bool
    entry: FeedbackEntry
    message: str
    reflexion: FeedbackReflexion


class PlatformStats(CamelModel):
    total_entries: int
    avg_engagement: float
    avg_views: float


class PlatformBreakdown(CamelModel):
    entries: int
    avg_engagement: float


class BestPerforming(CamelModel):
    concept_id: str
    engagement_rate: float


class CategoryStats(CamelModel):
    total_entries: int
    avg_views: float
    avg_engagement_rate: float
    best_performing: BestPerforming | None
    platform_breakdown: dict[str, PlatformBreakdown]


class TopCategory(CamelModel):
    category: str
    stats: CategoryStats


class FeedbackOverview(CamelModel):
    recent: list[PerformanceFeedback]
    platform_comparison: dict[str, PlatformStats]
    top_categories: list[TopCategory]


class ReflexionSummaryFigures(CamelModel):
    total_critiques: int
    total_adjustments: int
    total_insights: int
    avg_gap: float
    accuracy_rate: float
    top_issue: str | None
    model_version: int


class RecentRecords(CamelModel):
    critiques: list[SelfCritique]
    insights: list[ReflexionInsight]
    adjustments: list[ScoringAdjustment]


class ReflexionSummary(CamelModel):
    summary: ReflexionSummaryFigures
    recent: RecentRecords


class CritiqueList(CamelModel):
    critiques: list[SelfCritique]
    next_offset: int | None = Field(default=None, description="pass as `offset` for the next page; null at the end")


class InsightList(CamelModel):
    insights: list[ReflexionInsight]


class AdjustmentList(CamelModel):
    adjustments: list[ScoringAdjustment]
    next_offset: int | None = Field(default=None, description="pass as `offset` for the next page; null at the end")


class ModelVersion(CamelModel):
    version: int
    source: str
    based_on_version: int | None
    reason: str | None
    created_at: str


class ModelVersionList(CamelModel):
    models: list[ModelVersion]


ReflexionListing = ReflexionSummary | CritiqueList | InsightList | AdjustmentList | ModelVersionList


class ConceptRef(CamelModel):
    """The concept as the dashboard holds it (only these fields are read; the stored concept is the reference)."""

    model_config = ConfigDict(extra="allow")

    id: ContentId
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    category: Category


class ReflexionMetrics(CamelModel):
    model_config = ConfigDict(extra="allow")

    views: Count
    likes: Count
    shares: Count
    comments: Count


class FeedbackRef(CamelModel):
    model_config = ConfigDict(extra="allow")

    id: ContentId | None = None
    concept_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    platform: Platform
    metrics: ReflexionMetrics
    reported_at: Annotated[str, StringConstraints(max_length=64)] | None = None


class ReflexionBody(CamelModel):
    concept: ConceptRef
    feedback: FeedbackRef


class CritiqueAnswer(CamelModel):
    id: str
    gap: float
    gap_percentage: float
    direction: Direction
    critique: str
    hypothesized_reasons: list[str]
    scoring_issues: list[str]
    adjustment_plan: str
    confidence_level: Confidence


class LearningReport(CamelModel):
    critiques_considered: int
    adjustments_applied: int
    model_version: int
    adjustments: list[ScoringAdjustment]


class ReflexionAnswer(CamelModel):
    success: bool
    critique: CritiqueAnswer
    learning: LearningReport
    message: str


class RollbackAnswer(CamelModel):
    success: bool
    restored_version: int
    model_version: int


ListKind = Literal["summary", "critiques", "insights", "adjustments", "models"]

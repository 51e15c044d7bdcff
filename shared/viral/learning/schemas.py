"""Performance feedback and the reflexion loop's records, as the original's types name them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from viral.vocabulary import Category, Platform
from viral.wire import CamelModel, ContentId, LongText, ShortText

Direction = Literal["over-predicted", "under-predicted", "accurate"]
Confidence = Literal["low", "medium", "high"]
AdjustmentType = Literal["category-weight", "hook-effectiveness", "platform-multiplier", "recency-boost"]


class FeedbackMetrics(CamelModel):
    views: int = Field(ge=0, le=10**13)
    likes: int = Field(ge=0, le=10**13)
    shares: int = Field(ge=0, le=10**13)
    comments: int = Field(ge=0, le=10**13)


class PerformanceFeedback(CamelModel):
    id: ContentId
    concept_id: ContentId
    concept_title: ShortText
    category: Category
    platform: Platform
    variant_id: ContentId | None = None
    metrics: FeedbackMetrics
    engagement_rate: float | None = Field(default=None, ge=0, description="(likes+shares+comments)/views*100")
    reported_at: datetime | None = None
    data_source: Literal["manual", "scraped", "api", "import"] = "manual"

    @model_validator(mode="after")
    def _engagement_within_views(self) -> PerformanceFeedback:
        m = self.metrics
        if max(m.likes, m.shares, m.comments) > m.views:
            raise ValueError("likes, shares and comments cannot exceed views")
        return self


class PerformanceGap(CamelModel):
    concept_id: ContentId
    concept_title: ShortText
    category: Category
    platform: Platform
    predicted_virality: float
    actual_engagement: float
    actual_virality_score: float
    gap: float
    gap_percentage: float
    direction: Direction
    # What the learner needs to correct the right weight (absent in the original's records and in imports).
    model_version: int | None = None
    predicted_raw: float | None = None
    category_weight: float | None = None


class SelfCritique(CamelModel):
    id: ContentId
    concept_id: ContentId
    feedback_id: ContentId | None = None
    performance_gap: PerformanceGap
    critique: LongText
    hypothesized_reasons: list[LongText] = Field(max_length=50)
    scoring_issues: list[LongText] = Field(max_length=50)
    adjustment_plan: LongText
    confidence_level: Confidence
    created_at: datetime | None = None
    applied_at: datetime | None = None


class ReflexionInsight(CamelModel):
    id: ContentId
    category: Category
    platform: Platform
    pattern: LongText
    evidence_count: int = Field(ge=1, le=10**9)
    impact: Literal["positive", "negative", "neutral"]
    recommendation: LongText
    applied_to_scoring: bool = False
    discovered_at: datetime | None = None
    last_seen_at: datetime | None = None


class ScoringAdjustment(CamelModel):
    id: ContentId
    category: Category
    adjustment_type: AdjustmentType
    old_value: float = Field(ge=-999_999, le=999_999)
    new_value: float = Field(ge=-999_999, le=999_999)
    reason: LongText
    critique_id: ContentId
    applied_at: datetime | None = None


class ReflexionStats(CamelModel):
    total_critiques: int
    total_insights: int
    total_adjustments: int
    recent_critiques: int

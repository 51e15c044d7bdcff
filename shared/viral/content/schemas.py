"""Generations, concepts and trends, field for field as the original dashboard reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from viral.vocabulary import Category
from viral.wire import CamelModel, ContentId, LongText, ShortText

SourceApi = Literal["youtube", "reddit", "gnews", "google-trends", "tiktok-creative", "fallback", "offline"]
Hashtag = Annotated[str, StringConstraints(max_length=100)]


class ScriptSegment(CamelModel):
    time_range: Annotated[str, StringConstraints(max_length=32)]
    visual: LongText
    on_screen_text: ShortText | None = None
    camera: ShortText


class PostTime(CamelModel):
    utc: Annotated[str, StringConstraints(max_length=64)]
    est: Annotated[str, StringConstraints(max_length=64)]
    reason: ShortText | None = None
    at: Annotated[str, StringConstraints(max_length=64)] | None = None  # the next slot, as an ISO UTC timestamp


class PlatformScore(CamelModel):
    model_config = ConfigDict(extra="allow")

    score: float = Field(ge=0, le=100)
    label: ShortText
    factors: list[ShortText] = Field(default_factory=list, max_length=50)


class PlatformVirality(CamelModel):
    model_config = ConfigDict(extra="allow")

    tiktok: PlatformScore
    youtube_shorts: PlatformScore
    instagram_reels: PlatformScore | None = None


class EstimatedRpm(CamelModel):
    model_config = ConfigDict(extra="allow")

    tiktok: float
    youtube_shorts: float


class Monetization(CamelModel):
    estimated_rpm: EstimatedRpm = Field(alias="estimatedRPM")
    score: float = Field(ge=0, le=100)
    label: ShortText
    sponsor_potential: Literal["low", "medium", "high", "premium"]
    best_strategy: LongText


class AbVariant(CamelModel):
    id: ContentId
    label: Annotated[str, StringConstraints(max_length=8)]
    title: ShortText
    caption: LongText
    hook_source: Literal["template", "evolved", "knowledge-base"]
    selected: bool | None = None
    performance_id: ContentId | None = None


class ViralConcept(CamelModel):
    """One concept; unknown extra fields are kept (newer dashboards add some) within the size limits."""

    model_config = ConfigDict(extra="allow")

    id: ContentId
    title: ShortText
    script: list[ScriptSegment] = Field(max_length=20)
    sora_prompt: LongText
    veo_prompt: LongText
    caption: LongText
    hashtags: list[Hashtag] = Field(max_length=50)
    post_time: PostTime
    why_it_works: LongText
    trend_source: ShortText
    category: Category
    platform_virality: PlatformVirality | None = None
    monetization: Monetization | None = None
    variants: list[AbVariant] | None = Field(default=None, max_length=10)


class TrendData(CamelModel):
    model_config = ConfigDict(extra="allow")

    id: ContentId
    topic: ShortText
    source: ShortText
    score: float = Field(ge=0, le=1000)
    recency: Literal["today", "yesterday", "older"]
    visual_potential: float = Field(ge=0, le=100)
    emotional_impact: float = Field(ge=0, le=100)
    shareability: float = Field(ge=0, le=100)
    category: Category
    source_api: SourceApi | None = None
    source_url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    velocity: float | None = None
    engagement_count: float | None = None
    platform: Literal["youtube", "reddit", "news", "general"] | None = None
    timestamp: Annotated[str, StringConstraints(max_length=64)] | None = None
    related_keywords: list[ShortText] | None = Field(default=None, max_length=50)
    sentiment: Literal["positive", "negative", "neutral", "mixed"] | None = None


class Generation(CamelModel):
    """One run of the generator: its concepts and the trends they came from."""

    id: ContentId
    date: datetime
    concepts: list[ViralConcept] = Field(max_length=100)
    trends: list[TrendData] = Field(default_factory=list, max_length=200)
    is_favorite: bool = False

    @field_validator("date")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @field_validator("concepts")
    @classmethod
    def _unique_concept_ids(cls, concepts: list[ViralConcept]) -> list[ViralConcept]:
        ids = [c.id for c in concepts]
        if len(set(ids)) != len(ids):
            raise ValueError("concept ids must be unique within a generation")
        return concepts


class AnalyticsData(CamelModel):
    total_generations: int
    total_concepts: int
    category_breakdown: dict[str, int]
    trend_frequency: dict[str, int]
    daily_generations: dict[str, int]

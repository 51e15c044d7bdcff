"""Self-critiques: rule-based by default; an optional LLM critic that must answer strict JSON, else the rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from viral.http.client import make_client
from viral.learning.schemas import PerformanceFeedback, PerformanceGap
from viral.observability import logger


@dataclass(frozen=True)
class WrittenCritique:
    critique: str
    reasons: list[str]
    scoring_issues: list[str]
    adjustment_plan: str
    confidence: Literal["low", "medium", "high"]


class Critic(Protocol):
    def critique(self, concept: dict[str, Any], gap: PerformanceGap) -> WrittenCritique | None:
        """A critique, or None to fall back to the rules."""
        ...


def _confidence(gap: PerformanceGap, views: int) -> Literal["low", "medium", "high"]:
    """How much one data point says: little below 500 views; much for a large gap on a real audience."""
    if views < 500:
        return "low"
    if abs(gap.gap_percentage) > 40 and views >= 1000:
        return "high"
    return "medium"


def rule_based_critique(gap: PerformanceGap, feedback: PerformanceFeedback) -> WrittenCritique:
    """The default critic: deterministic, explains the gap in terms of the score's factors."""
    where = f"{gap.category} on {gap.platform}"
    confidence = _confidence(gap, feedback.metrics.views)
    if gap.direction == "accurate":
        return WrittenCritique(
            critique=f"Predicted {gap.predicted_virality:g}, actual {gap.actual_virality_score:g}: within "
            f"{abs(gap.gap_percentage):g}% for {where}. The model holds here.",
            reasons=["The category weight and trend signals matched this audience."],
            scoring_issues=[],
            adjustment_plan="No change: keep collecting evidence for this category and platform.",
            confidence=confidence,
        )
    over = gap.direction == "over-predicted"
    return WrittenCritique(
        critique=f"{'Over' if over else 'Under'}-predicted {where} by {abs(gap.gap_percentage):g}% "
        f"(predicted {gap.predicted_virality:g}, actual {gap.actual_virality_score:g} from "
        f"{gap.actual_engagement:.2f}% engagement).",
        reasons=[
            f"The {gap.category} weight for {gap.platform} is {'too high' if over else 'too low'} for this tenant's "
            "audience."
            if confidence != "low"
            else "Too few views to tell signal from noise.",
            "The hook may have " + ("promised more than the video delivered." if over else "undersold a strong topic."),
        ],
        scoring_issues=[f"categoryWeight({gap.category}, {gap.platform}) {'over' if over else 'under'}states reach"],
        adjustment_plan=f"{'Lower' if over else 'Raise'} the {gap.category} weight for {gap.platform} once more "
        "critiques agree (bounded step, new model version).",
        confidence=confidence,
    )


class _LlmAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    critique: str = Field(min_length=1, max_length=4000)
    reasons: list[str] = Field(max_length=10)
    scoring_issues: list[str] = Field(alias="scoringIssues", max_length=10)
    adjustment_plan: str = Field(alias="adjustmentPlan", min_length=1, max_length=2000)
    confidence: Literal["low", "medium", "high"]


class LlmCritic:
    """An LLM over the Messages API wire format (POST /v1/messages); any failure or timeout means None."""

    def __init__(self, *, api_key: str, base_url: str, model: str, timeout_s: float = 8.0) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s

    def critique(self, concept: dict[str, Any], gap: PerformanceGap) -> WrittenCritique | None:
        prompt = (
            "You review why a short-video concept performed differently than predicted. Answer with ONLY a JSON "
            'object {"critique": str, "reasons": [str], "scoringIssues": [str], "adjustmentPlan": str, '
            '"confidence": "low"|"medium"|"high"}.\n'
            f"Concept: {json.dumps({k: concept.get(k) for k in ('title', 'category', 'caption', 'hashtags')})}\n"
            f"Gap: {gap.model_dump_json(by_alias=True)}"
        )
        try:
            with make_client(read_s=self.timeout_s) as client:
                response = client.post(
                    f"{self.base_url}/v1/messages",
                    headers={"x-api-key": self.api_key, "anthropic-version": "2023-06-01"},
                    json={"model": self.model, "max_tokens": 800, "messages": [{"role": "user", "content": prompt}]},
                )
            response.raise_for_status()
            text = "".join(b.get("text", "") for b in response.json().get("content", []) if isinstance(b, dict))
            answer = _LlmAnswer.model_validate_json(text)
        except (httpx.HTTPError, ValueError, ValidationError, AttributeError, TypeError) as error:
            logger.warning("LLM critic failed, using the rules", extra={"error": type(error).__name__})
            return None
        return WrittenCritique(
            answer.critique, answer.reasons, answer.scoring_issues, answer.adjustment_plan, answer.confidence
        )


def configured_critic() -> Critic | None:
    from viral.settings import get_settings

    settings = get_settings()
    if not settings.llm_api_key:
        return None
    return LlmCritic(api_key=settings.llm_api_key, base_url=settings.llm_api_url, model=settings.llm_model)

"""The reflexion loop on the real database: critiques once, insights, bounded adjustments, rollback, isolation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import pytest
from sqlalchemy import Engine, text
from viral.content.concepts import ConceptRequest
from viral.content.generation import generate
from viral.content.scoring import DEFAULT_WEIGHTS
from viral.identity import auth
from viral.learning import storage as learning_storage
from viral.learning.critic import LlmCritic
from viral.learning.reflexion import (
    engagement_to_score,
    reflect_on_feedback,
    rollback,
    run_reflexion,
    score_to_engagement,
)
from viral.learning.schemas import FeedbackMetrics, PerformanceFeedback
from viral.tenancy import tenant_scope

from local.fakes.http_server import FakeServer, Reply
from tests.gateway import Gateway

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def setup_concepts(
    tenant: uuid.UUID,
    owner_engine: Engine,
    *,
    categories: frozenset[str] = frozenset({"absurd"}),
    count: int = 3,
    seed: int = 1,
) -> list[dict[str, Any]]:
    with owner_engine.begin() as connection:
        connection.execute(text("update tenants set monthly_quota = 1000 where id = :t"), {"t": tenant})
    with tenant_scope(tenant):
        result = generate(ConceptRequest(count=count, categories=categories), now=NOW, seed=seed)
    return [c.wire() for c in result.generation.concepts]


def feedback_for(
    concept: dict[str, Any], *, actual_score: float, platform: str = "tiktok", views: int = 5000
) -> PerformanceFeedback:
    rate = score_to_engagement(actual_score)
    likes = round(views * rate / 100)
    return PerformanceFeedback(
        id=str(uuid.uuid4()),
        concept_id=concept["id"],
        concept_title=concept["title"],
        category=concept["category"],
        platform=platform,
        metrics=FeedbackMetrics(views=views, likes=likes, shares=0, comments=0),
        engagement_rate=likes / views * 100,
    )


def halved(concept: dict[str, Any]) -> PerformanceFeedback:
    """Feedback whose real performance is half what was predicted on TikTok."""
    return feedback_for(concept, actual_score=concept["platformVirality"]["tiktok"]["score"] * 0.5)


def store_and_reflect(tenant: uuid.UUID, feedback: PerformanceFeedback) -> Any:
    with tenant_scope(tenant):
        learning_storage.save_performance_feedback(feedback)
        return reflect_on_feedback(feedback)


def test_engagement_mapping_is_the_documented_one() -> None:
    assert [engagement_to_score(e) for e in (0, 1, 2, 3.5, 5, 7.5, 10, 12, 30)] == [10, 25, 40, 55, 70, 80, 90, 94, 100]
    for score in (10, 25, 40, 63, 70, 85, 90, 99):
        assert engagement_to_score(score_to_engagement(score)) == pytest.approx(score)


def test_gap_direction_and_one_critique_per_feedback(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    concept = setup_concepts(tenant_a, owner_engine)[0]
    predicted = concept["platformVirality"]["tiktok"]["score"]
    feedback = feedback_for(concept, actual_score=predicted / 2)
    first = store_and_reflect(tenant_a, feedback)
    with tenant_scope(tenant_a):
        again = reflect_on_feedback(feedback)
        critiques = learning_storage.get_critiques_by_concept(concept["id"])
        insights = learning_storage.get_insights_by_pattern("absurd-tiktok-over-predicted")
    gap = first.critique.performance_gap
    assert (first.created, again.created) == (True, False)
    assert [c.id for c in critiques] == [first.critique.id]
    assert gap.direction == "over-predicted"
    assert gap.gap_percentage == pytest.approx(50, abs=2)
    assert gap.model_version == 1
    assert first.critique.confidence_level == "high"
    assert insights[0].evidence_count == 1
    assert insights[0].impact == "negative"


def test_consistent_evidence_moves_the_weight_within_bounds_as_a_new_version(
    tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    concepts = setup_concepts(tenant_a, owner_engine, count=3)
    for round_ in range(2):
        for concept in concepts:
            predicted = concept["platformVirality"]["tiktok"]["score"]
            store_and_reflect(tenant_a, feedback_for(concept, actual_score=predicted * 0.55 - round_))
    with tenant_scope(tenant_a):
        report = run_reflexion()
        adjustments = learning_storage.get_adjustments_by_category("absurd")
        unapplied = learning_storage.get_unapplied_critiques()
        insights = learning_storage.get_insights_by_pattern("absurd-tiktok-over-predicted")
        after = generate(ConceptRequest(count=1, categories=frozenset({"absurd"})), now=NOW, seed=9)
    old = DEFAULT_WEIGHTS["categoryWeights"]["tiktok"]["absurd"]
    assert report.model_version == 2
    [adjustment] = adjustments
    assert adjustment.old_value == pytest.approx(old)
    assert 0.5 <= adjustment.new_value < old
    assert adjustment.new_value >= old * 0.75 - 1e-4, "one step moves a weight by at most 25%"
    assert adjustment.critique_id
    assert unapplied == []
    assert insights[0].applied_to_scoring is True
    breakdown = after.generation.concepts[0].wire()["platformVirality"]["tiktok"]["breakdown"]
    assert breakdown["modelVersion"] == 2
    weight = next(f for f in breakdown["factors"] if f["name"] == "categoryWeight")["multiplier"]
    assert weight == pytest.approx(adjustment.new_value)


def test_thin_or_noisy_evidence_changes_nothing(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    concepts = setup_concepts(tenant_a, owner_engine, count=3)
    predicted = [c["platformVirality"]["tiktok"]["score"] for c in concepts]
    store_and_reflect(tenant_a, feedback_for(concepts[0], actual_score=predicted[0] * 0.5))  # one point only
    with tenant_scope(tenant_a):
        assert run_reflexion().adjustments == []
    # contradicting evidence: one far over, one far under
    store_and_reflect(tenant_a, feedback_for(concepts[1], actual_score=min(99, predicted[1] * 1.5)))
    store_and_reflect(tenant_a, feedback_for(concepts[2], actual_score=predicted[2] * 0.6))
    with tenant_scope(tenant_a):
        assert run_reflexion().adjustments == []
        assert len(learning_storage.get_unapplied_critiques()) == 3


def test_rollback_restores_the_exact_earlier_weights(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    concepts = setup_concepts(tenant_a, owner_engine, count=3)
    for concept in concepts * 2:
        store_and_reflect(
            tenant_a, feedback_for(concept, actual_score=concept["platformVirality"]["tiktok"]["score"] * 0.5)
        )
    with tenant_scope(tenant_a):
        assert run_reflexion().model_version == 2
        restored = rollback(1)
        after = generate(ConceptRequest(count=1, categories=frozenset({"absurd"})), now=NOW, seed=3)
    assert restored == {"restoredVersion": 1, "modelVersion": 3}
    with owner_engine.connect() as connection:
        weights = connection.execute(
            text("select weights from score_models where tenant_id = :t and version = 3"), {"t": tenant_a}
        ).scalar_one()
    assert weights == json.loads(json.dumps(DEFAULT_WEIGHTS))
    assert after.generation.concepts[0].wire()["platformVirality"]["tiktok"]["breakdown"]["modelVersion"] == 3


def test_rollback_to_an_unknown_version_is_404(gateway: Gateway, tenant_a: uuid.UUID) -> None:
    with tenant_scope(tenant_a):
        key = auth.create_api_key().secret
    answer = gateway.request(
        "POST", "/api/reflexion/rollback", headers={"Authorization": f"Bearer {key}"}, json={"version": 7}
    )
    assert answer.status == HTTPStatus.NOT_FOUND


def test_tenant_isolation_of_critiques_insights_adjustments_and_models(
    tenant_a: uuid.UUID, tenant_b: uuid.UUID, owner_engine: Engine
) -> None:
    concepts = setup_concepts(tenant_a, owner_engine, count=3)
    for concept in concepts * 2:
        store_and_reflect(
            tenant_a, feedback_for(concept, actual_score=concept["platformVirality"]["tiktok"]["score"] * 0.5)
        )
    with tenant_scope(tenant_b):
        report_b = run_reflexion()
        seen = (learning_storage.get_critiques(), learning_storage.get_insights(), learning_storage.get_adjustments())
        after_b = generate(ConceptRequest(count=1, categories=frozenset({"absurd"})), now=NOW, seed=3)
        with pytest.raises(Exception, match="not found"):
            rollback(2)
    with tenant_scope(tenant_a):
        report_a = run_reflexion()
    assert report_b.adjustments == []
    assert seen == ([], [], [])
    assert after_b.generation.concepts[0].wire()["platformVirality"]["tiktok"]["breakdown"]["modelVersion"] == 1
    assert report_a.model_version == 2


def test_feedback_route_critiques_and_reflexion_routes_answer_the_original_shapes(
    gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    concept = setup_concepts(tenant_a, owner_engine)[0]
    with tenant_scope(tenant_a):
        key = auth.create_api_key().secret
    headers = {"Authorization": f"Bearer {key}"}
    body = {
        "conceptId": concept["id"],
        "conceptTitle": concept["title"],
        "category": "absurd",
        "platform": "tiktok",
        "metrics": {"views": 4000, "likes": 40, "shares": 4, "comments": 4},
    }
    posted = gateway.request("POST", "/api/feedback", headers=headers, json=body).json()
    assert posted["reflexion"]["direction"] == "over-predicted"
    now = gateway.request(
        "POST", "/api/reflexion", headers=headers, json={"concept": concept, "feedback": {**body, "id": "fb-fixed-1"}}
    ).json()
    twice = gateway.request(
        "POST", "/api/reflexion", headers=headers, json={"concept": concept, "feedback": {**body, "id": "fb-fixed-1"}}
    ).json()
    assert now["success"] is True
    assert now["critique"]["id"] == twice["critique"]["id"]
    assert now["message"].startswith("Reflexion complete: over-predicted by ")
    summary = gateway.request("GET", "/api/reflexion", headers=headers).json()
    assert summary["summary"]["totalCritiques"] == 2
    for kind in ("critiques", "insights", "adjustments", "models"):
        assert kind in gateway.request("GET", f"/api/reflexion?type={kind}", headers=headers).json()
    missing = gateway.request("POST", "/api/reflexion", headers=headers, json={"concept": concept})
    assert (missing.status, missing.json()["details"]) == (
        HTTPStatus.UNPROCESSABLE_ENTITY,
        [{"field": "feedback", "message": "Field required"}],
    )
    bad = gateway.request("POST", "/api/reflexion", headers=headers, json={"concept": {"id": "x"}, "feedback": body})
    assert bad.status == HTTPStatus.UNPROCESSABLE_ENTITY
    assert {d["field"] for d in bad.json()["details"]} == {"concept.title", "concept.category"}


@pytest.fixture
def llm() -> Iterator[FakeServer]:
    server = FakeServer()
    with server.running():
        yield server


def _messages_reply(text_: str) -> Reply:
    return Reply(
        200,
        json.dumps(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": text_}],
                "stop_reason": "end_turn",
            }
        ),
    )


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(_messages_reply("Sure! Here is my analysis: it flopped."), id="garbage"),
        pytest.param(_messages_reply('{"critique": "x"}'), id="incomplete-json"),
        pytest.param(Reply(500, '{"type": "error", "error": {"type": "api_error"}}'), id="500"),
        pytest.param(Reply(200, "{}", delay_s=2.0), id="timeout"),
    ],
)
def test_llm_critic_failures_fall_back_to_the_rules(
    llm: FakeServer, reply: Reply, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    llm.route("POST", "/v1/messages", lambda r: reply)
    concept = setup_concepts(tenant_a, owner_engine)[0]
    feedback = feedback_for(concept, actual_score=20)
    critic = LlmCritic(api_key="test-key", base_url=llm.url, model="test-model", timeout_s=0.5)
    with tenant_scope(tenant_a):
        learning_storage.save_performance_feedback(feedback)
        reflection = reflect_on_feedback(feedback, critic=critic)
    assert reflection.critique.critique.startswith("Over-predicted absurd on tiktok")
    assert llm.count("POST", "/v1/messages") == 1


def test_llm_critic_strict_json_is_used(llm: FakeServer, tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    answer = {
        "critique": "The hook buried the payoff.",
        "reasons": ["slow open"],
        "scoringIssues": ["hook weight"],
        "adjustmentPlan": "Lower hook effectiveness for list hooks.",
        "confidence": "medium",
    }
    llm.route("POST", "/v1/messages", lambda r: _messages_reply(json.dumps(answer)))
    concept = setup_concepts(tenant_a, owner_engine)[0]
    feedback = feedback_for(concept, actual_score=20)
    critic = LlmCritic(api_key="test-key", base_url=llm.url, model="test-model", timeout_s=2)
    with tenant_scope(tenant_a):
        learning_storage.save_performance_feedback(feedback)
        reflection = reflect_on_feedback(feedback, critic=critic)
    assert reflection.critique.critique == "The hook buried the payoff."
    assert reflection.critique.confidence_level == "medium"
    sent = json.loads(llm.requests[0].body)
    assert sent["model"] == "test-model"
    assert llm.requests[0].headers["x-api-key"] == "test-key"


def test_evidence_keeps_counting_after_an_adjustment_and_a_rerun_without_news_changes_nothing(
    tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    concepts = setup_concepts(tenant_a, owner_engine, count=3)
    for concept in concepts * 2:  # the audience gives about half of what was predicted, consistently
        store_and_reflect(
            tenant_a, feedback_for(concept, actual_score=concept["platformVirality"]["tiktok"]["score"] * 0.5)
        )
    with tenant_scope(tenant_a):
        first = run_reflexion()
        assert run_reflexion().adjustments == []  # the same evidence again (a duplicate job): no change
    [step_one] = first.adjustments
    # One more critique: the six earlier ones still count, so the weight moves on towards what they all say.
    store_and_reflect(
        tenant_a, feedback_for(concepts[0], actual_score=concepts[0]["platformVirality"]["tiktok"]["score"] * 0.5)
    )
    with tenant_scope(tenant_a):
        second = run_reflexion()
    [step_two] = second.adjustments
    assert step_two.old_value == pytest.approx(step_one.new_value)
    assert step_two.new_value < step_one.new_value
    assert second.critiques_considered == 7


def test_a_rollback_makes_earlier_evidence_stop_counting(tenant_a: uuid.UUID, owner_engine: Engine) -> None:
    concepts = setup_concepts(tenant_a, owner_engine, count=3)
    for concept in concepts * 2:
        store_and_reflect(
            tenant_a, feedback_for(concept, actual_score=concept["platformVirality"]["tiktok"]["score"] * 0.5)
        )
    with tenant_scope(tenant_a):
        assert run_reflexion().model_version == 2
        rollback(1)
    store_and_reflect(
        tenant_a, feedback_for(concepts[1], actual_score=concepts[1]["platformVirality"]["tiktok"]["score"] * 0.5)
    )
    with tenant_scope(tenant_a):
        report = run_reflexion()
    assert report.adjustments == []  # one critique since the rollback is too thin to move anything
    assert report.critiques_considered == 1

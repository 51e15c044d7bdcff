"""GET /api/metrics on known figures: the original's names and labels, reflexion_accuracy from the real
predictions, a HELP and a TYPE line for every family (read back with prometheus_client's parser), and the alert
rules at their thresholds."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from viral.analytics.metrics import HELP, tenant_alerts
from viral.tenancy import tenant_scope

from tests.gateway import Gateway
from tests.integration.analytics.test_calibration import KNOWN, key_of, seed_known_set


def add_videos(engine: Engine, tenant: uuid.UUID, videos: Iterable[tuple[str, str, float]]) -> None:
    """Videos (status, provider, cost) of the tenant, made now."""
    with engine.begin() as connection:
        for status, provider, cost in videos:
            connection.execute(
                text(
                    "insert into videos (id, tenant_id, platform, provider, status, generation_cost) "
                    "values (gen_random_uuid(), :t, 'tiktok', :provider, :status, :cost)"
                ),
                {"t": tenant, "provider": provider, "status": status, "cost": cost},
            )


def families(body: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(body)}


def test_prometheus_text_carries_the_original_names_known_values_and_help_and_type_for_every_family(
    gateway: Gateway, tenant_a: uuid.UUID, owner_engine: Engine
) -> None:
    add_videos(owner_engine, tenant_a, [("ready", "veo", 4.0), ("ready", "veo", 6.0), ("failed", "runway", 2.5)])
    add_videos(owner_engine, tenant_a, [("ready", "storyboard", 0.0)])  # free renders have no average cost
    seed_known_set(owner_engine, tenant_a)

    answer = gateway.request("GET", "/api/metrics?format=prometheus", headers=key_of(tenant_a))
    assert answer.status == HTTPStatus.OK and answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    body = answer.body.decode()
    parsed = families(body)
    for name, family in parsed.items():
        assert f"# HELP {name} " in body and f"# TYPE {name} gauge" in body
        assert family.documentation == HELP[name] and family.type == "gauge"
    totals = {(s.labels["status"], s.labels["provider"]): s.value for s in parsed["video_generation_total"].samples}
    assert totals == {("ready", "veo"): 2, ("failed", "runway"): 1, ("ready", "storyboard"): 1}
    costs = {s.labels["provider"]: s.value for s in parsed["video_generation_cost_avg"].samples}
    assert costs == {"veo": 5.0, "runway": 2.5}
    # The known set's mean absolute gap is 21.5 points: accuracy 78.5, from 10 critiques (never the original's 85).
    assert [s.value for s in parsed["reflexion_accuracy"].samples] == [78.5]
    assert [s.value for s in parsed["reflexion_samples"].samples] == [len(KNOWN)]

    as_json = gateway.request("GET", "/api/metrics?format=json", headers=key_of(tenant_a)).json()
    [accuracy, samples] = as_json["reflexion"]
    assert (accuracy["name"], accuracy["value"], samples["value"]) == ("reflexion_accuracy", 78.5, len(KNOWN))
    assert datetime.fromisoformat(accuracy["timestamp"]).tzinfo is not None


@pytest.mark.parametrize(
    ("videos", "expected"),
    [
        # 1 failure in 10 is 10%: not over the line. 2 in 10 is.
        ([("failed", "veo", 1.0)] + [("ready", "veo", 1.0)] * 9, []),
        ([("failed", "veo", 1.0)] * 2 + [("ready", "veo", 1.0)] * 8, ["critical"]),
        # An average of exactly $10 is not over $10; $10.50 is.
        ([("ready", "veo", 10.0)] * 2, []),
        ([("ready", "veo", 10.0), ("ready", "veo", 11.0)], ["warning"]),
    ],
)
def test_video_alerts_fire_only_over_their_thresholds(
    owner_engine: Engine, new_tenant: Any, videos: list[tuple[str, str, float]], expected: list[str]
) -> None:
    tenant = new_tenant("alerts")
    add_videos(owner_engine, tenant, videos)
    with tenant_scope(tenant):
        alerts = tenant_alerts(now=datetime.now(UTC))
    assert [a["severity"] for a in alerts] == expected, alerts


def test_an_empty_tenant_sees_every_family_with_no_samples_but_a_zero_sample_count_and_no_alerts(
    gateway: Gateway, tenant_a: uuid.UUID
) -> None:
    headers = key_of(tenant_a)
    exposition = gateway.request("GET", "/api/metrics", headers=headers).body.decode()
    families = {f.name: [(s.name, s.value) for s in f.samples] for f in text_string_to_metric_families(exposition)}
    assert set(families) == set(HELP)  # every family described, with its HELP and TYPE
    assert {name: samples for name, samples in families.items() if samples} == {
        "reflexion_samples": [("reflexion_samples", 0.0)]
    }
    answer = gateway.request("GET", "/api/metrics?format=json", headers=headers).json()
    [samples] = answer.pop("reflexion")
    assert (samples["name"], samples["value"], samples.get("labels")) == ("reflexion_samples", 0, None)
    assert datetime.fromisoformat(samples["timestamp"]).tzinfo is not None
    assert answer == {"video": [], "posting": [], "collection": []}
    assert gateway.request("GET", "/api/metrics?format=alerts", headers=headers).json() == {"alerts": []}


def test_the_average_video_cost_weighs_each_group_by_its_costed_videos_only(
    owner_engine: Engine, new_tenant: Any
) -> None:
    # Given a failed free video and a failed $20 one (one group), and two ready $4 ones
    tenant = new_tenant("Costs")
    add_videos(owner_engine, tenant, [("failed", "veo", 0.0), ("failed", "veo", 20.0)])
    add_videos(owner_engine, tenant, [("ready", "veo", 4.0), ("ready", "veo", 4.0)])
    # When the metrics are read
    from viral.analytics.metrics import tenant_metrics

    with tenant_scope(tenant):
        metrics = tenant_metrics()
    # Then the average is (20 + 4 + 4) / 3, not weighted by the free video too (48 / 4 = 12)
    [cost] = [m for m in metrics.video if m.name == "video_generation_cost_avg"]
    assert (cost.labels, cost.value) == ({"provider": "veo"}, 9.3333)

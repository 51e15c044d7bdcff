"""Business metrics: one EMF record each, with only low-cardinality dimensions (never a tenant)."""

from __future__ import annotations

import json

import pytest
from viral.observability import business_metric


def _records(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_a_metric_is_emitted_at_once_with_its_own_dimensions(capsys: pytest.CaptureFixture[str]) -> None:
    business_metric("Videos", provider="veo", status="ready")
    business_metric("VendorCostUSD", 0.25, unit="None", provider="veo")

    videos, cost = _records(capsys.readouterr().out)
    assert videos["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["provider", "status"]]  # type: ignore[index]
    assert (videos["Videos"], videos["provider"], videos["status"]) == ([1.0], "veo", "ready")
    assert cost["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["provider"]]  # type: ignore[index]
    assert cost["VendorCostUSD"] == [0.25]


@pytest.mark.parametrize("dimension", ["tenant_id", "tenant", "user_id", "video_id"])
def test_ids_are_refused_as_dimensions(dimension: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=dimension):
        business_metric("Videos", **{dimension: "0b8f3c1e-0000-4000-8000-000000000001"})
    assert _records(capsys.readouterr().out) == []

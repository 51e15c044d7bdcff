"""Provider routing by category tier, fallback order, costs, and the video message and status contracts."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from viral.db.models import VIDEO_STATUSES
from viral.errors import InvalidInput
from viral.settings import Settings
from viral.video.messages import VideoJobMessage
from viral.video.providers.registry import build_providers, cost_of, provider_chain
from viral.video.schemas import VideoState

from tests.events import load_event


def settings(**values: Any) -> Settings:
    base = {"veo_api_key": None, "runway_api_key": None, "luma_api_key": None, "video_secret_name": None}
    return Settings(**{**base, **values})


def chain(category: str, config: Settings, requested: str | None = None) -> list[str]:
    return provider_chain(category, build_providers(config), config, requested=requested)


ALL_KEYS = {"veo_api_key": "k1", "runway_api_key": "k2", "luma_api_key": "k3"}


def test_without_vendor_keys_everything_goes_to_the_storyboard() -> None:
    assert chain("finance", settings()) == ["storyboard"]
    assert chain("food", settings()) == ["storyboard"]


@pytest.mark.parametrize(
    ("category", "expected"),
    [
        ("finance", ["veo", "runway", "luma"]),
        ("tech", ["veo", "runway", "luma"]),
        ("luxury", ["veo", "runway", "luma"]),
        ("news", ["veo", "runway", "luma"]),
        ("food", ["luma", "runway", "veo"]),
        ("cartoon", ["luma", "runway", "veo"]),
    ],
)
def test_tiers_order_the_vendors_as_the_original_router_without_sora(category: str, expected: list[str]) -> None:
    assert chain(category, settings(**ALL_KEYS)) == expected


def test_only_vendors_with_keys_take_part() -> None:
    assert chain("tech", settings(runway_api_key="k")) == ["runway"]
    assert chain("food", settings(luma_api_key="k", veo_api_key="k")) == ["luma", "veo"]


def test_a_requested_provider_goes_first_and_must_be_configured() -> None:
    assert chain("tech", settings(**ALL_KEYS), requested="luma") == ["luma", "veo", "runway"]
    assert chain("tech", settings(), requested="storyboard") == ["storyboard"]
    with pytest.raises(InvalidInput, match="'veo' is not configured"):
        chain("tech", settings(), requested="veo")


def test_tiers_and_prices_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEO_PROVIDER_TIERS", json.dumps({"premium": ["luma", "veo"]}))
    monkeypatch.setenv("VIDEO_COST_PER_SECOND", json.dumps({"luma": 0.1}))
    config = settings(**ALL_KEYS)
    assert chain("finance", config) == ["luma", "veo"]
    assert cost_of("luma", 9.0, config) == Decimal("0.9000")


def test_costs_per_second_follow_the_original() -> None:
    config = settings()
    assert cost_of("veo", 8.0, config) == Decimal("0.2640")
    assert cost_of("runway", 8.0, config) == Decimal("0.4000")
    assert cost_of("luma", 9.0, config) == Decimal("0.2250")
    assert cost_of("storyboard", 15.0, config) == Decimal("0.0000")


def test_the_route_statuses_are_the_state_machine() -> None:
    assert set(VideoState.__args__) == set(VIDEO_STATUSES)  # type: ignore[attr-defined]


def test_the_sample_event_is_a_valid_version_1_message() -> None:
    body = json.loads(load_event("sqs_video_job_v1")["Records"][0]["body"])
    message = VideoJobMessage.model_validate(body)
    assert (message.schema_version, message.step) == (1, 0)
    assert json.loads(message.model_dump_json(by_alias=True)) == body
    with pytest.raises(ValueError, match=r"schema_?[vV]ersion"):
        VideoJobMessage.model_validate({**body, "schemaVersion": 2, "videoId": str(uuid.uuid4())})


def test_the_api_never_imports_the_media_libraries() -> None:
    import subprocess
    import sys

    from tests.events import ROOT

    probe = "import sys, viral.api.app; print(sorted(m for m in ('av', 'PIL') if m in sys.modules))"
    out = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", probe], cwd=ROOT, env={"PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}", "STAGE": "test"},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.strip() == "[]", "PyAV and Pillow belong to the video worker's media layer only"

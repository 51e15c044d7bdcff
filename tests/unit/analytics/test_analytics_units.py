"""Age buckets and the normalisation of a platform's answer (empty is "not yet", never zero)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from viral.analytics.normalise import normalise
from viral.analytics.repository import bucket_for


@pytest.mark.parametrize(
    ("age", "bucket"),
    [
        (timedelta(minutes=59), None),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=23), "6h"),
        (timedelta(hours=80), "72h"),
        (timedelta(days=7), "7d"),
        (timedelta(days=40), "30d"),
    ],
)
def test_a_late_run_files_a_post_under_the_largest_age_it_has_reached(age: timedelta, bucket: str | None) -> None:
    assert bucket_for(age) == bucket


def test_an_answer_without_figures_is_not_yet_and_a_zero_is_a_figure() -> None:
    assert normalise("sandbox", {"post_id": "1"}).empty
    zero = normalise("sandbox", {"views": 0, "likes": 0, "comments": 0, "shares": 0})
    assert not zero.empty and zero.views == 0 and zero.saves is None


def test_sandbox_figures_keep_their_definition_and_derive_watch_time() -> None:
    figures = normalise(
        "sandbox",
        {"views": 10, "likes": 2, "comments": 1, "shares": -3, "avg_watch_time_ms": 4500, "definition": "sandbox-v1"},
    )
    assert figures.shares is None  # a negative count is no figure
    assert figures.avg_view_duration_s == Decimal("4.5") and figures.watch_time_s == Decimal("45.0")
    assert figures.methodology == "sandbox:sandbox-v1"
    with pytest.raises(ValueError, match="no normaliser"):
        normalise("myspace", {})

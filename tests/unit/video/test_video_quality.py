"""Quality checks: each rule reports what it expected and what it found; only a fully passing video is accepted."""

from __future__ import annotations

import io

from viral.video.quality import Requirements, inspect

from tests.fakes.video_vendors import sample_mp4


def report_of(data: bytes, rules: Requirements | None = None) -> tuple[bool, list[str], str]:
    report = inspect(io.BytesIO(data), len(data), rules or Requirements())
    return report.passed, report.failed, report.reason()


def test_a_vertical_h264_mp4_passes_every_check() -> None:
    passed, failed, _ = report_of(sample_mp4())
    assert (passed, failed) == (True, [])


def test_a_landscape_video_fails_the_aspect_check_and_says_so() -> None:
    passed, failed, reason = report_of(sample_mp4(width=1280, height=720))
    assert (passed, failed) == (False, ["aspect"])
    assert "aspect: expected 9:16 (vertical), got 1280x720" in reason


def test_too_short_too_small_and_wrong_codec_are_each_reported() -> None:
    assert report_of(sample_mp4(seconds=1.0))[1] == ["duration"]
    assert report_of(sample_mp4(width=360, height=640))[1] == ["resolution"]
    assert report_of(sample_mp4(codec="mpeg4"))[1] == ["codec"]


def test_something_that_is_not_a_video_fails_container_and_decoding() -> None:
    passed, failed, _ = report_of(b"this is not an mp4 at all" * 100)
    assert not passed
    assert {"container", "decodable", "codec"} <= set(failed)


def test_a_file_over_the_size_limit_fails_the_size_check() -> None:
    data = sample_mp4()
    assert report_of(data, Requirements(max_bytes=len(data) - 1))[1] == ["size"]

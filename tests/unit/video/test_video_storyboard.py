"""The offline storyboard: script timing becomes slides, and the render is a real vertical H.264 MP4."""

from __future__ import annotations

import io

import av
import pytest
from viral.video.providers import RenderRequest, ScriptLine
from viral.video.providers.storyboard import StoryboardProvider, parse_seconds, plan_slides, render_storyboard
from viral.video.quality import Requirements, inspect

SCRIPT = (
    ScriptLine("0:00-0:03", "A cat at a desk covered in tax forms", "POV: it's April 14th"),
    ScriptLine("0:03-0:08", "The calculator explodes in confetti", None),
    ScriptLine("0:08-0:15", "Zoom out: an office full of cats", "Follow for part 2"),
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("0:03", 3.0), ("1:02", 62.0), ("3s", 3.0), ("4.5", 4.5), ("soon", None)]
)
def test_parse_seconds_reads_the_original_time_formats(text: str, seconds: float | None) -> None:
    assert parse_seconds(text) == seconds


def test_slides_follow_the_script_timing() -> None:
    slides = plan_slides(SCRIPT, title="Cats")
    assert [(s.start_s, s.end_s) for s in slides] == [(0.0, 3.0), (3.0, 8.0), (8.0, 15.0)]
    assert [s.heading for s in slides] == ["POV: it's April 14th", "Cats", "Follow for part 2"]


def test_short_scripts_are_stretched_to_ten_seconds_and_long_ones_squeezed_to_thirty() -> None:
    short = plan_slides([ScriptLine("0-2s", "a"), ScriptLine("2-4s", "b")], title="T")
    long = plan_slides([ScriptLine("0:00-0:40", "a"), ScriptLine("0:40-1:00", "b")], title="T")
    assert short[-1].end_s == pytest.approx(10.0)
    assert short[0].end_s == pytest.approx(5.0)
    assert long[-1].end_s == pytest.approx(30.0)
    assert long[0].end_s == pytest.approx(20.0)


def test_unreadable_timing_shares_fifteen_seconds_and_no_script_gives_one_title_slide() -> None:
    shared = plan_slides([ScriptLine("first", "a"), ScriptLine("then", "b"), ScriptLine("end", "c")], title="T")
    assert [round(s.end_s - s.start_s, 6) for s in shared] == [5.0, 5.0, 5.0]
    [only] = plan_slides([], title="Just a title")
    assert (only.heading, only.end_s) == ("Just a title", 15.0)


def test_storyboard_renders_a_vertical_h264_mp4_of_the_script_length() -> None:
    sink = io.BytesIO()
    info = render_storyboard(sink, title="Cats that do taxes", slides=plan_slides(SCRIPT, title="Cats"), fps=12)
    with av.open(io.BytesIO(sink.getvalue())) as container:
        stream = container.streams.video[0]
        decoded = sum(1 for _ in container.decode(video=0))
        assert "mp4" in container.format.name.split(",")
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 720, 1280)
        assert float(stream.duration * stream.time_base) == pytest.approx(15.0, abs=0.1)
    assert decoded == info.frames == 15 * 12
    assert info.size_bytes == len(sink.getvalue())


def test_storyboard_provider_output_passes_the_quality_checks() -> None:
    provider = StoryboardProvider(fps=6)
    request = RenderRequest(
        video_id="v1", title="Cats", prompt="p", category="absurd", script=SCRIPT, hashtags=("cats",)
    )
    job = provider.submit(request)
    sink = io.BytesIO()
    size = provider.download(provider.poll(job), sink, request)
    report = inspect(sink, size, Requirements())
    assert report.passed, report.reason()
    assert (report.info.width, report.info.height, report.info.codec) == (720, 1280, "h264")
    assert 10.0 <= (report.info.duration_s or 0) <= 30.0

"""The offline `storyboard` provider: a concept's script rendered as a real vertical H.264 MP4, with no vendor.

Each script line becomes a slide (gradient background, shapes, the on-screen text large, the visual
description small, the title on top) shown for its time range; a progress bar and a drifting shape keep the
picture moving. Frames are made one at a time from a cached slide (never all frames in memory) and encoded
with PyAV's libx264. PyAV and Pillow live in the media layer and are imported inside the functions that use them.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from viral.errors import Permanent
from viral.video.providers.base import JobState, JobStatus, RenderRequest, ScriptLine

if TYPE_CHECKING:
    from PIL import Image as PILImage

WIDTH, HEIGHT = 720, 1280
MIN_SECONDS, MAX_SECONDS, DEFAULT_SECONDS = 10.0, 30.0, 15.0
MIN_SLIDE_SECONDS = 1.0
INTRO_SECONDS = 0.4
_TIME = re.compile(r"^\s*(?:(\d+):)?(\d+(?:\.\d+)?)\s*s?\s*$")

# Two gradient colours per category; slides alternate between a palette's shades.
PALETTES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "news": ((18, 32, 71), (52, 97, 168)),
    "absurd": ((88, 24, 110), (232, 99, 160)),
    "luxury": ((20, 18, 14), (156, 124, 56)),
    "emotional": ((70, 28, 48), (214, 120, 110)),
    "tech": ((8, 26, 40), (24, 160, 170)),
    "cartoon": ((255, 140, 40), (250, 210, 60)),
    "gaming": ((16, 10, 40), (120, 60, 220)),
    "fitness": ((10, 40, 24), (60, 190, 100)),
    "food": ((90, 30, 10), (240, 150, 60)),
    "finance": ((6, 36, 30), (30, 140, 90)),
    "music": ((30, 10, 50), (220, 60, 120)),
    "relationships": ((80, 20, 40), (240, 130, 150)),
}


@dataclass(frozen=True)
class Slide:
    start_s: float
    end_s: float
    heading: str
    body: str


@dataclass(frozen=True)
class RenderInfo:
    width: int
    height: int
    fps: int
    frames: int
    duration_s: float
    size_bytes: int


def parse_seconds(value: str) -> float | None:
    """'0:03' -> 3.0, '1:02' -> 62.0, '3s' -> 3.0, '4.5' -> 4.5; None when unreadable."""
    match = _TIME.match(value)
    if match is None:
        return None
    minutes, seconds = match.groups()
    return int(minutes or 0) * 60 + float(seconds)


def _span(time_range: str) -> float | None:
    start, sep, end = time_range.partition("-")
    if not sep:
        return None
    a, b = parse_seconds(start), parse_seconds(end)
    return b - a if a is not None and b is not None and b > a else None


def plan_slides(
    script: Sequence[ScriptLine], *, title: str, min_s: float = MIN_SECONDS, max_s: float = MAX_SECONDS
) -> list[Slide]:
    """Slides timed by the script's ranges, the total stretched or squeezed into [min_s, max_s].

    Unreadable ranges share the default length equally; a script with no lines gets one title slide.
    """
    lines = list(script) or [ScriptLine(time_range="", visual=title, on_screen_text=title)]
    spans = [_span(line.time_range) for line in lines]
    if any(s is None for s in spans):
        spans = [DEFAULT_SECONDS / len(lines)] * len(lines)
    lengths = [max(float(s or 0), MIN_SLIDE_SECONDS) for s in spans]
    total = sum(lengths)
    target = min(max(total, min_s), max_s)
    lengths = [length * target / total for length in lengths]
    slides, start = [], 0.0
    for line, length in zip(lines, lengths, strict=True):
        heading = (line.on_screen_text or "").strip() or title
        slides.append(Slide(start_s=start, end_s=start + length, heading=heading, body=line.visual.strip()))
        start += length
    return slides


class _Painter:
    """Draws slides with Pillow; fonts are loaded once per render."""

    def __init__(self, width: int, height: int) -> None:
        from PIL import ImageFont

        self.width, self.height = width, height
        scale = width / WIDTH
        self.heading_font: Any
        self.body_font: Any
        self.title_font: Any
        self.small_font: Any
        self.heading_font = ImageFont.load_default(size=int(64 * scale))
        self.body_font = ImageFont.load_default(size=int(34 * scale))
        self.title_font = ImageFont.load_default(size=int(40 * scale))
        self.small_font = ImageFont.load_default(size=int(28 * scale))

    def background(self, colours: tuple[tuple[int, int, int], tuple[int, int, int]], flip: bool) -> PILImage.Image:
        from PIL import Image, ImageDraw

        top, bottom = colours[::-1] if flip else colours
        mask = Image.linear_gradient("L").resize((self.width, self.height))
        image = Image.composite(Image.new("RGB", mask.size, bottom), Image.new("RGB", mask.size, top), mask)
        draw = ImageDraw.Draw(image, "RGBA")
        w, h = self.width, self.height
        draw.ellipse((-0.3 * w, 0.55 * h, 0.7 * w, 1.1 * h), fill=(255, 255, 255, 28))
        draw.ellipse((0.5 * w, -0.1 * h, 1.3 * w, 0.35 * h), fill=(0, 0, 0, 40))
        draw.rectangle((0, 0, w, 0.1 * h), fill=(0, 0, 0, 90))
        return image

    def _wrapped(self, text: str, font: Any, max_width: float, max_lines: int) -> list[str]:
        words_per_line = max(8, int(max_width / (font.size * 0.55)))
        lines = textwrap.wrap(text, width=words_per_line)[:max_lines]
        while lines and any(font.getlength(line) > max_width for line in lines) and words_per_line > 6:
            words_per_line -= 2
            lines = textwrap.wrap(text, width=words_per_line)[:max_lines]
        return lines

    def _centered(self, draw: Any, lines: list[str], font: Any, top: float, fill: tuple[int, ...]) -> float:
        y = top
        for line in lines:
            x = (self.width - font.getlength(line)) / 2
            draw.text((x, y), line, font=font, fill=fill)
            y += font.size * 1.25
        return y

    def slide(
        self, slide: Slide, index: int, count: int, title: str, tags: str, base: PILImage.Image
    ) -> tuple[PILImage.Image, PILImage.Image, float]:
        """The slide without its heading, the heading as a transparent layer, and the heading's resting top."""
        from PIL import Image, ImageDraw

        image = base.copy()
        draw = ImageDraw.Draw(image, "RGBA")
        w, h = self.width, self.height
        title_lines = self._wrapped(title, self.title_font, w * 0.9, 2)
        self._centered(draw, title_lines, self.title_font, 0.02 * h, (255, 255, 255, 255))
        body = self._wrapped(slide.body, self.body_font, w * 0.84, 6)
        self._centered(draw, body, self.body_font, 0.62 * h, (255, 255, 255, 230))
        draw.text((0.05 * w, 0.93 * h), f"{index + 1}/{count}", font=self.small_font, fill=(255, 255, 255, 200))
        if tags:
            tag_x = w * 0.95 - self.small_font.getlength(tags)
            draw.text((max(tag_x, 0.2 * w), 0.93 * h), tags, font=self.small_font, fill=(255, 255, 255, 200))
        heading = self._wrapped(slide.heading, self.heading_font, w * 0.84, 4)
        layer_height = int(self.heading_font.size * 1.25 * len(heading) + 0.06 * h)
        layer = Image.new("RGBA", (w, layer_height), (0, 0, 0, 0))
        layer_draw = ImageDraw.Draw(layer)
        layer_draw.rounded_rectangle((0.05 * w, 0, 0.95 * w, layer_height), radius=int(0.03 * w), fill=(0, 0, 0, 150))
        self._centered(layer_draw, heading, self.heading_font, 0.03 * h, (255, 255, 255, 255))
        return image, layer, 0.3 * h - layer_height / 2

    def overlay(self, image: PILImage.Image, elapsed: float, total: float, t: float) -> None:
        """The moving parts, drawn onto `image` in place: the progress bar and a drifting dot."""
        from PIL import ImageDraw

        draw = ImageDraw.Draw(image)
        w, h = self.width, self.height
        bar_top = int(0.975 * h)
        draw.rectangle((0, bar_top, int(w * min(1.0, elapsed / total)), h), fill=(255, 255, 255))
        cx = w * (0.5 + 0.38 * math.sin(t * 1.3))
        cy = h * (0.47 + 0.03 * math.cos(t * 2.1))
        r = 0.018 * w
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 255, 255))


def _frames(
    painter: _Painter, slides: Sequence[Slide], title: str, tags: str, category: str, fps: int
) -> Iterator[Any]:
    """Every frame in order, one at a time: each slide is drawn once, then copied and animated per frame."""
    palette = PALETTES.get(category, PALETTES["news"])
    total = slides[-1].end_s
    for index, slide in enumerate(slides):
        background = painter.background(palette, flip=index % 2 == 1)
        base, heading, rest_top = painter.slide(slide, index, len(slides), title, tags, background)
        still = None
        for n in range(round(slide.start_s * fps), round(slide.end_s * fps)):
            t = n / fps
            since = t - slide.start_s
            if since < INTRO_SECONDS:  # the heading slides up into place
                image = base.copy()
                eased = 1 - (1 - since / INTRO_SECONDS) ** 3
                image.paste(heading, (0, int(rest_top + (1 - eased) * 0.08 * painter.height)), heading)
            else:
                if still is None:
                    still = base.copy()
                    still.paste(heading, (0, int(rest_top)), heading)
                image = still.copy()
            painter.overlay(image, t, total, t)
            yield image


def render_storyboard(
    sink: IO[bytes],
    *,
    title: str,
    slides: Sequence[Slide],
    category: str = "news",
    hashtags: Sequence[str] = (),
    width: int = WIDTH,
    height: int = HEIGHT,
    fps: int = 24,
    preset: str = "veryfast",
) -> RenderInfo:
    """Encode the slides as an H.264 MP4 into `sink` (seekable); what was written."""
    import av

    if not slides:
        raise Permanent("a storyboard needs at least one slide")
    painter = _Painter(width, height)
    tags = " ".join(t if t.startswith("#") else f"#{t}" for t in list(hashtags)[:3])
    sink.seek(0)
    sink.truncate()
    frames = 0
    with av.open(sink, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": preset, "crf": "23", "g": str(fps * 2), "tune": "stillimage"}
        stream.codec_context.thread_count = 2
        for image in _frames(painter, slides, title, tags, category, fps):
            frame = av.VideoFrame.from_image(image)
            frame.pts = frames
            frames += 1
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    size = sink.seek(0, 2)
    sink.seek(0)
    return RenderInfo(width=width, height=height, fps=fps, frames=frames, duration_s=frames / fps, size_bytes=size)


class StoryboardProvider:
    """The offline renderer: always configured, free, and done as soon as it is submitted."""

    name = "storyboard"
    poll_interval_s = 0
    can_look_up = False

    def __init__(self, *, fps: int = 24, width: int = WIDTH, height: int = HEIGHT, preset: str = "veryfast") -> None:
        self.fps, self.width, self.height, self.preset = fps, width, height, preset

    def configured(self) -> bool:
        return True

    def submit(self, request: RenderRequest) -> str:
        return f"storyboard-{request.video_id}"

    def look_up(self, request: RenderRequest, *, since: datetime) -> str | None:
        return None  # a submission here never has an unknown outcome

    def poll(self, job_id: str) -> JobStatus:
        return JobStatus(state=JobState.SUCCEEDED, result_url=f"storyboard:{job_id}", progress=1.0)

    def download(self, status: JobStatus, sink: IO[bytes], request: RenderRequest) -> int:
        slides = plan_slides(request.script, title=request.title)
        info = render_storyboard(
            sink,
            title=request.title,
            slides=slides,
            category=request.category,
            hashtags=request.hashtags,
            width=self.width,
            height=self.height,
            fps=self.fps,
            preset=self.preset,
        )
        return info.size_bytes

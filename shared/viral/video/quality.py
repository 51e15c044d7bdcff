"""Is a video fit to post? Probe it with PyAV (container, streams, one decoded frame) and check it against the rules.

Every check is reported (name, passed, expected, actual) so a failure says exactly what is wrong; a video is
accepted only when all pass. PyAV is imported inside `probe` (it lives in the media layer).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import IO, Any

from viral.settings import Settings

ASPECT = 9 / 16
ASPECT_TOLERANCE = 0.02
CODECS = ("h264", "hevc")


@dataclass(frozen=True)
class MediaInfo:
    """What PyAV found in a file (None where it could not tell)."""

    size_bytes: int
    container: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    fps: float | None = None
    has_audio: bool = False
    decodable: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Requirements:
    min_duration_s: float = 3.0
    max_duration_s: float = 180.0
    min_width: int = 720
    max_bytes: int = 500 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> Requirements:
        return cls(
            min_duration_s=settings.video_min_duration_s,
            max_duration_s=settings.video_max_duration_s,
            min_width=settings.video_min_width,
            max_bytes=settings.video_max_bytes,
        )


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    expected: str
    actual: str


@dataclass(frozen=True)
class QualityReport:
    info: MediaInfo
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def reason(self) -> str:
        """One line naming each failed check, for the video's error message."""
        return "; ".join(f"{c.name}: expected {c.expected}, got {c.actual}" for c in self.checks if not c.passed)

    def wire(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "checks": [asdict(c) for c in self.checks],
            "media": {k: v for k, v in asdict(self.info).items() if v is not None},
        }


def probe(source: IO[bytes], size_bytes: int) -> MediaInfo:
    """Open the file with PyAV and read its container, first video stream and first frame."""
    import av

    source.seek(0)
    try:
        with av.open(source, mode="r") as container:
            video = next(iter(container.streams.video), None)
            has_audio = bool(container.streams.audio)
            fmt = container.format.name
            if video is None:
                return MediaInfo(size_bytes=size_bytes, container=fmt, has_audio=has_audio, error="no video stream")
            duration = _duration(container, video)
            fps = float(video.average_rate) if video.average_rate else None
            decodable = next(container.decode(video=0), None) is not None
            return MediaInfo(
                size_bytes=size_bytes,
                container=fmt,
                duration_s=duration,
                width=video.codec_context.width or None,
                height=video.codec_context.height or None,
                codec=video.codec_context.name,
                fps=round(fps, 3) if fps else None,
                has_audio=has_audio,
                decodable=decodable,
            )
    except (av.FFmpegError, ValueError, StopIteration) as exc:
        return MediaInfo(size_bytes=size_bytes, error=type(exc).__name__)
    finally:
        source.seek(0)


def _duration(container: Any, video: Any) -> float | None:
    if video.duration is not None and video.time_base is not None:
        return round(float(video.duration * video.time_base), 3)
    if container.duration is not None:
        return round(container.duration / 1_000_000, 3)
    return None


def check(info: MediaInfo, rules: Requirements) -> QualityReport:
    """Every rule applied to what the probe found."""
    formats = (info.container or "").split(",")
    aspect = info.width / info.height if info.width and info.height else None
    duration = info.duration_s
    checks = (
        Check("container", "mp4" in formats, "an MP4 container", info.container or info.error or "unreadable"),
        Check("decodable", info.decodable, "a decodable video stream", "yes" if info.decodable else "no"),
        Check("codec", info.codec in CODECS, " or ".join(CODECS), info.codec or "none"),
        Check(
            "duration",
            duration is not None and rules.min_duration_s <= duration <= rules.max_duration_s,
            f"{rules.min_duration_s:g}-{rules.max_duration_s:g} s",
            f"{duration:g} s" if duration is not None else "unknown",
        ),
        Check(
            "aspect",
            aspect is not None and abs(aspect - ASPECT) <= ASPECT * ASPECT_TOLERANCE,
            "9:16 (vertical)",
            f"{info.width}x{info.height}" if aspect is not None else "unknown",
        ),
        Check(
            "resolution",
            bool(info.width and info.width >= rules.min_width),
            f"at least {rules.min_width} px wide",
            f"{info.width} px" if info.width else "unknown",
        ),
        Check(
            "size",
            0 < info.size_bytes <= rules.max_bytes,
            f"1 byte to {rules.max_bytes} bytes",
            f"{info.size_bytes} bytes",
        ),
    )
    return QualityReport(info=info, checks=checks)


def inspect(source: IO[bytes], size_bytes: int, rules: Requirements) -> QualityReport:
    """Probe then check."""
    return check(probe(source, size_bytes), rules)

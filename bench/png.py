"""A tiny PNG line chart (standard library only): error per cycle for several series."""

from __future__ import annotations

import itertools
import struct
import zlib
from pathlib import Path

WIDTH, HEIGHT, MARGIN = 720, 420, 50
COLOURS = [(214, 39, 40), (31, 119, 180), (44, 160, 44), (148, 103, 189)]


def _line(pixels: bytearray, x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int]) -> None:
    steps = max(abs(x1 - x0), abs(y1 - y0), 1)
    for i in range(steps + 1):
        x = round(x0 + (x1 - x0) * i / steps)
        y = round(y0 + (y1 - y0) * i / steps)
        for dx in (0, 1):
            for dy in (0, 1):
                if 0 <= x + dx < WIDTH and 0 <= y + dy < HEIGHT:
                    offset = ((y + dy) * WIDTH + x + dx) * 3
                    pixels[offset : offset + 3] = bytes(colour)


def line_chart(path: Path, series: dict[str, list[float]]) -> list[str]:
    """Draw every series (x = cycle, y = value from 0 to the maximum) with axes; the legend as text lines."""
    pixels = bytearray(b"\xff" * WIDTH * HEIGHT * 3)
    top = max((max(values) for values in series.values() if values), default=1.0) or 1.0
    longest = max((len(values) for values in series.values()), default=2)
    _line(pixels, MARGIN, HEIGHT - MARGIN, WIDTH - MARGIN, HEIGHT - MARGIN, (0, 0, 0))
    _line(pixels, MARGIN, MARGIN, MARGIN, HEIGHT - MARGIN, (0, 0, 0))
    for tick in range(1, 5):  # light horizontal grid at quarters of the maximum
        y = HEIGHT - MARGIN - round((HEIGHT - 2 * MARGIN) * tick / 4)
        _line(pixels, MARGIN, y, WIDTH - MARGIN, y, (225, 225, 225))
    legend = []
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = [
            (
                MARGIN + round((WIDTH - 2 * MARGIN) * i / max(1, longest - 1)),
                HEIGHT - MARGIN - round((HEIGHT - 2 * MARGIN) * v / top),
            )
            for i, v in enumerate(values)
        ]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            _line(pixels, x0, y0, x1, y1, colour)
        legend.append(f"{name}: rgb{colour}")
    raw = b"".join(b"\x00" + bytes(pixels[row * WIDTH * 3 : (row + 1) * WIDTH * 3]) for row in range(HEIGHT))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    )
    return legend

"""A PNG line chart with nothing but zlib and struct (matplotlib is not a dependency): each series
relative to its value at the end of the warm-up, in percent, so that the soak's criterion (under
5 % growth) reads off the chart directly. No text is drawn: the caption (colours, scales) goes in
the results file beside it.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

# Distinguishable colours, in the order series are given (the caption names them).
PALETTE = [
    ("blue", (31, 119, 180)),
    ("orange", (255, 127, 14)),
    ("green", (44, 160, 44)),
    ("red", (214, 39, 40)),
    ("purple", (148, 103, 189)),
    ("brown", (140, 86, 75)),
    ("pink", (227, 119, 194)),
    ("grey", (127, 127, 127)),
    ("olive", (188, 189, 34)),
    ("cyan", (23, 190, 207)),
]
WHITE, BLACK, LIGHT, GUIDE = (255, 255, 255), (0, 0, 0), (225, 225, 225), (200, 60, 60)


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = [bytearray(WHITE * width) for _ in range(height)]

    def dot(self, x: int, y: int, colour: tuple[int, int, int]) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.pixels[y][3 * x : 3 * x + 3] = bytes(colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int], thick: int = 1) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        error = dx + dy
        while True:
            for ox in range(thick):
                for oy in range(thick):
                    self.dot(x0 + ox, y0 + oy, colour)
            if x0 == x1 and y0 == y1:
                return
            doubled = 2 * error
            if doubled >= dy:
                error += dy
                x0 += sx
            if doubled <= dx:
                error += dx
                y0 += sy

    def png(self) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        raw = b"".join(b"\0" + bytes(row) for row in self.pixels)
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def panel(
    canvas: Canvas,
    top: int,
    height: int,
    series: list[list[tuple[float, float]]],
    x_max: float,
    y_range: float,
    warmup: float,
    margin: int = 20,
) -> None:
    """Series of (x, percent) in a band [-y_range, +y_range] %; guides at 0 and +-5 %, the warm-up's end."""
    left, right = margin, canvas.width - margin
    bottom = top + height

    def to_xy(x: float, percent: float) -> tuple[int, int]:
        percent = max(-y_range, min(y_range, percent))
        px = left + int((right - left) * x / x_max) if x_max else left
        py = bottom - int(height * (percent + y_range) / (2 * y_range))
        return px, py

    for tenth in range(11):  # light grid: tenths of the time
        x = left + (right - left) * tenth // 10
        canvas.line(x, top, x, bottom, LIGHT)
    for percent, colour in ((5, GUIDE), (-5, GUIDE), (0, BLACK)):
        y = to_xy(0, percent)[1]
        canvas.line(left, y, right, y, colour)
    wx = to_xy(warmup, 0)[0]
    canvas.line(wx, top, wx, bottom, BLACK)
    canvas.line(left, top, left, bottom, BLACK)
    canvas.line(left, bottom, right, bottom, BLACK)
    for index, points in enumerate(series):
        colour = PALETTE[index % len(PALETTE)][1]
        previous = None
        for at, share in points:
            xy = to_xy(at, share)
            if previous is not None:
                canvas.line(*previous, *xy, colour, thick=2)
            previous = xy


def relative(points: list[tuple[float, float]], at: float) -> list[tuple[float, float]]:
    """Each value in percent of the value at `at` (the first sample at or after it)."""
    base = next((value for x, value in points if x >= at), points[-1][1]) or 1.0
    return [(x, 100.0 * (value - base) / base) for x, value in points]


def soak_chart(
    path: Path,
    rss: dict[str, list[tuple[float, float]]],
    fds: dict[str, list[tuple[float, float]]],
    warmup: float,
) -> list[str]:
    """Two panels (RSS on top, open fds below), each series relative to its value at the end of
    the warm-up, clipped to +-20 %. Returns the colour of each role, in order."""
    canvas = Canvas(900, 620)
    roles = list(rss)
    x_max = max(x for points in rss.values() for x, _ in points)
    panel(canvas, 20, 280, [relative(rss[role], warmup) for role in roles], x_max, 20.0, warmup)
    panel(canvas, 320, 280, [relative(fds[role], warmup) for role in roles], x_max, 20.0, warmup)
    path.write_bytes(canvas.png())
    return [PALETTE[index % len(PALETTE)][0] for index in range(len(roles))]

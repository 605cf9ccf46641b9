"""A progress bar on stderr: bytes done, MB/s, ETA. Redrawn at most ``HZ`` times a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO

HZ = 10  # redraws per second: smooth to the eye, negligible cost
WIDTH = 30  # characters of the bar itself


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """``update(done)`` as bytes move; ``close()`` draws the last line and a newline."""

    def __init__(self, total: int, label: str, out: TextIO | None = None, enabled: bool = True,
                 start_at: int = 0) -> None:  # fmt: skip
        self.total, self.label, self.out = total, label, out or sys.stderr
        self.enabled = enabled
        self.started = time.monotonic()
        self.base = start_at  # bytes that were already there (a resume): not in the rate
        self.done = start_at
        self.drawn = 0.0

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.enabled and now - self.drawn >= 1 / HZ:
            self.drawn = now
            self._draw(now)

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = (self.done - self.base) / elapsed
        frac = self.done / self.total if self.total else 1.0
        filled = int(frac * WIDTH)
        eta = clock((self.total - self.done) / rate) if rate > 0 else "--:--"
        return (f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {frac * 100:5.1f}% "
                f"{human(self.done)} / {human(self.total)}  {rate / 1e6:7.1f} MB/s  ETA {eta}")  # fmt: skip

    def _draw(self, now: float) -> None:
        self.out.write("\r" + self.line(now))
        self.out.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.out.write("\n")
            self.out.flush()

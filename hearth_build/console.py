"""Build output: numbered steps, one-line errors and a progress bar for long steps.

The bar redraws in place on a terminal and degrades to a few plain lines in CI logs,
so a log never fills with carriage-return noise.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO


class BuildError(Exception):
    """A failure the user can act on; `build.py` prints it as one line and exits 1."""


def step(message: str) -> None:
    """Announce one build step."""
    print(f"==> {message}", flush=True)


def detail(message: str) -> None:
    """Say what a step decided (skipped, reused a cache, wrote a file)."""
    print(f"    {message}", flush=True)


class Progress:
    """A bar for a step whose total size is known (bytes hashed, files copied)."""

    WIDTH = 30

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self._last_draw = 0.0
        self._last_decile = -1

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.done = self.total
            self._draw(final=True)

    def advance(self, amount: int) -> None:
        self.done = min(self.total, self.done + amount)
        self._draw(final=False)

    def _draw(self, final: bool) -> None:
        fraction = self.done / self.total
        if self.interactive:
            now = time.monotonic()
            if not final and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            filled = int(fraction * self.WIDTH)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            end = "\n" if final else ""
            self.stream.write(f"\r    [{bar}] {fraction:4.0%} {self.label}{end}")
            self.stream.flush()
            return
        decile = int(fraction * 10)
        if decile != self._last_decile and (final or decile in (0, 5)):
            self._last_decile = decile
            self.stream.write(f"    {fraction:4.0%} {self.label}\n")
            self.stream.flush()

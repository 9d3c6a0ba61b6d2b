"""Progress on stderr: a bar redrawn in place on a terminal, an occasional line otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30


class Progress:
    def __init__(self, label: str, total: int, start: int = 0, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 0)
        self.stream = stream or sys.stderr
        self.is_terminal = self.stream.isatty()
        self.interval_s = 0.2 if self.is_terminal else 5.0
        self.started = time.perf_counter()
        self.shown_at = 0.0
        self.start = self.done = start

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if now - self.shown_at >= self.interval_s:
            self.shown_at = now
            self._show(final=False)

    def finish(self) -> None:
        self._show(final=True)

    def _show(self, final: bool) -> None:
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        elapsed_s = time.perf_counter() - self.started
        rate = (self.done - self.start) / elapsed_s if elapsed_s > 0 else 0.0
        text = f"{self.label}: {self.done:,}/{self.total:,} ({fraction:.0%}) {rate:,.0f}/s {elapsed_s:.1f}s"
        if self.is_terminal:
            filled = int(fraction * BAR_WIDTH)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {text[len(self.label) + 2:]}\x1b[K" + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

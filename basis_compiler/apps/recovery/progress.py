"""Progress of a grid run on stderr: a redrawn bar on a terminal, occasional plain lines elsewhere.

A bar redraws with carriage returns, which in a log file (make demo > log, CI) piles up as
kilobytes of one long line; so the bar is used only when the stream is a terminal.
"""

from __future__ import annotations

import math
import sys
import time

PLAIN_INTERVAL = 30.0
"""Seconds between plain progress lines when the stream is not a terminal (the last task always prints)."""


class Progress:
    """Progress over `total` tasks; epoch(), start() and done() are called by the grid."""

    def __init__(self, total: int, enabled: bool, stream=None, interval: float = PLAIN_INTERVAL):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.finished, self.interval = total, 0, interval
        self.enabled = bool(enabled and total)
        self.running: dict[str, tuple[int, float]] = {}
        self.bar = None
        self.last_draw = 0.0
        self.began = self.last_line = time.monotonic()
        if self.enabled and _is_terminal(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="recover", unit="task", file=self.stream, dynamic_ncols=True)

    def epoch(self, label: str, epoch: int, val_loss: float) -> None:
        self.running[label] = (epoch, val_loss)
        self._draw()

    def start(self, label: str) -> None:
        self.running.setdefault(label, (0, math.nan))
        self._draw()

    def done(self, label: str) -> None:
        self.running.pop(label, None)
        self.finished += 1
        if self.bar is not None:
            self.bar.update(1)
            self._draw()
        elif self.enabled:
            now = time.monotonic()
            if self.finished == self.total or now - self.last_line >= self.interval:
                self.last_line = now
                self.stream.write(f"recover: {self.finished}/{self.total} tasks done ({now - self.began:.0f} s)\n")
                self.stream.flush()

    def _draw(self) -> None:
        if self.bar is None:
            return
        parts = [f"{k} epoch {e} val {v:.4f}" if e else k for k, (e, v) in self.running.items()]
        self.bar.set_postfix_str(" | ".join(parts), refresh=False)
        now = time.monotonic()
        if now - self.last_draw > 0.5:  # epochs can be milliseconds apart: redraw at most twice a second
            self.last_draw = now
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False

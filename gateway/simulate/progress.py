"""The simulator's progress display: one line refreshed in place on a terminal, a line now and then otherwise."""

from __future__ import annotations

import time
from typing import TextIO

TTY_EVERY_S = 0.5
LINES_EVERY_S = 5.0


class Progress:
    def __init__(
        self, stream: TextIO, *, tty: bool | None = None, every_s: float | None = None, enabled: bool = True
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.every_s = every_s if every_s is not None else (TTY_EVERY_S if self.tty else LINES_EVERY_S)
        self.enabled = enabled
        self._last = float("-inf")
        self._open = False  # a refreshed line is on screen, not yet ended

    def update(self, text: str, *, force: bool = False) -> None:
        """Show text, at most once per every_s unless forced."""
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < self.every_s):
            return
        self._last = now
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
            self._open = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the refreshed line, so what follows starts on a line of its own."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False

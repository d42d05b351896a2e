"""Progress of the long phases (reading, planning, applying).

The job reports ``(phase, done, total)`` through a :data:`Progress` callable and
never prints; the command line chooses how it shows: a bar redrawn in place on a
terminal (:class:`Bar`), or one log line every few seconds for a console log
that is read later, such as Jenkins' (:class:`Lines`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TextIO


def _fraction(done: int, total: int | None) -> str:
    if total is None:
        return f"{done}"
    percent = 100 * done // total if total else 100
    return f"{done}/{total} ({percent}%)"


class Lines:
    """One log line per phase every ``interval`` seconds, and one when a phase that took that long ends.

    A phase shorter than ``interval`` says nothing: a quick run stays quiet. A phase told
    only its start and its end (planning) still says when it ends, if it took that long.
    """

    def __init__(
        self, logger: logging.Logger, interval: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._started: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = self.clock()
        started = self._started.setdefault(phase, now)
        last = self._last.setdefault(phase, now)
        finished = total is not None and done >= total
        if now - last >= self.interval or (finished and now - started >= self.interval):
            self._last[phase] = now
            self.logger.info(
                "%s: %s",
                phase,
                _fraction(done, total),
                extra={"phase": phase, "done": done, "total": total},
            )
        if finished:
            self._started.pop(phase, None)
            self._last.pop(phase, None)


class Bar:
    """A bar redrawn in place on a terminal; a finished phase's bar stays as a line of its own.

    Log lines written while a bar shows would land in the middle of it: the handler that
    writes them to the same terminal gets :meth:`clear` as a filter (see ``observe.logs``).
    """

    WIDTH = 30

    def __init__(
        self, stream: TextIO, min_interval: float = 0.1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.min_interval = min_interval
        self.clock = clock
        self._drawn_at = float("-inf")
        self._showing = False

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = self.clock()
        finished = total is not None and done >= total
        if not finished and now - self._drawn_at < self.min_interval:
            return
        self._drawn_at = now
        if total:
            filled = min(self.WIDTH, self.WIDTH * done // total)
            bar = "[" + "#" * filled + "." * (self.WIDTH - filled) + "] "
        else:
            bar = ""
        self.stream.write(f"\r{phase:<20} {bar}{_fraction(done, total)}\x1b[K")
        if finished:
            self.stream.write("\n")
        self._showing = not finished
        self.stream.flush()

    def clear(self, record: logging.LogRecord | None = None) -> bool:
        """Erase the bar's line (the next update draws it again); as a logging filter, lets every record pass."""
        if self._showing:
            self.stream.write("\r\x1b[K")
            self._showing = False
            self._drawn_at = float("-inf")
        return True

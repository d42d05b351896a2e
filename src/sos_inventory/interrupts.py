"""SIGINT and SIGTERM at any moment of a run: an orderly stop, never a lost report.

The console script installs one :class:`Interrupts` before it imports anything
else. What a signal does depends on where the run is:

* while the command loads (imports), it is only recorded: the command stops as
  soon as it can say so, with its report;
* in the command's synchronous work (reading the config, parsing exports), that
  is inside :meth:`Interrupts.armed`, it raises
  :class:`~sos_inventory.errors.Interrupted` there and then;
* inside the job's event loop, the job has delegated it (:meth:`Interrupts.delegate`)
  and decides: reads are cancelled at once, writes in flight finish;
* while the reports are written (:meth:`Interrupts.deferred`), it is recorded and
  the exit code says so once they are on disk.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from sos_inventory.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """The process's SIGINT/SIGTERM handler for one command."""

    def __init__(self) -> None:
        self.received: int | None = None  # the first signal received
        self._raise = False
        self._delegate: Callable[[int], None] | None = None

    def install(self) -> None:
        for number in SIGNALS:
            signal.signal(number, self._handle)

    def interrupted(self) -> Interrupted | None:
        """The error that says a signal arrived, if one did."""
        if self.received is None:
            return None
        return Interrupted(f"stopped by {signal.Signals(self.received).name}", self.received)

    @contextmanager
    def armed(self) -> Iterator[None]:
        """In the ``with`` block a signal raises Interrupted where the command is (at once if one
        already came); outside it, the state before."""
        armed, self._raise = self._raise, True
        try:
            self.check()
            yield
        finally:
            self._raise = armed

    def check(self) -> None:
        """Raise Interrupted if a signal has arrived."""
        error = self.interrupted()
        if error is not None:
            raise error

    @contextmanager
    def delegate(self, handler: Callable[[int], None]) -> Iterator[None]:
        """Let ``handler`` decide what a signal does (it must not raise), for the ``with`` block."""
        previous = self._delegate
        self._delegate = handler
        try:
            if self.received is not None:
                handler(self.received)
            yield
        finally:
            self._delegate = previous

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Only record signals during the ``with`` block (e.g. while the reports are written)."""
        armed, self._raise = self._raise, False
        try:
            yield
        finally:
            self._raise = armed

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = number
        if self._delegate is not None:
            self._delegate(number)
        elif self._raise:
            self._raise = False  # one Interrupted: the command's own handling runs undisturbed
            raise Interrupted(f"stopped by {signal.Signals(number).name}", number)

"""Waiting for another process without assuming how fast it runs.

A test that races a job waits for something it can observe (the reference
server's statistics, a file, a connection) under a generous overall timeout,
never for a fixed time: on a loaded machine a fixed sleep is either too short
(the test flakes) or too long (the suite crawls).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sos_inventory.server.control import ReferenceControl

__all__ = ["GENEROUS", "SilentListener", "catches", "silent_listener", "wait_for", "wait_for_updates"]

T = TypeVar("T")

#: The overall bound of a wait: far beyond what any healthy run needs, even on a busy machine.
GENEROUS = 120.0
_POLL = 0.02


def wait_for(
    observe: Callable[[], T | None],
    what: str,
    *,
    timeout: float = GENEROUS,
    alive: Callable[[], bool] = lambda: True,
) -> T:
    """Poll ``observe`` until it returns a truthy value and return that value.

    Fails the test after ``timeout`` seconds, or at once when ``alive()`` turns
    false (the process the test waits on has exited: what it waits for will not come).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = observe()
        if value:
            return value
        if not alive():
            raise AssertionError(f"gave up waiting for {what}: the process it depends on has ended")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g}s")
        time.sleep(_POLL)  # a poll interval, not a guess at how long the other side takes


def wait_for_updates(
    server: ReferenceControl, count: int, *, alive: Callable[[], bool] = lambda: True
) -> int:
    """Wait until the server has answered at least ``count`` update requests; return how many."""

    def updates() -> int | None:
        done = int(server.stats()["by_kind"]["update"])
        return done if done >= count else None

    return wait_for(updates, f"{count} updates on the server", alive=alive)


def catches(pid: int, signal_number: int) -> bool:
    """Whether process ``pid`` has a handler for ``signal_number`` now (Linux: SigCgt in /proc).

    The moment a Python program installs its handler is otherwise invisible from outside;
    a signal sent before it kills the process instead of stopping it in order.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return False
    caught = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught, 16) >> (signal_number - 1) & 1)


@dataclass
class SilentListener:
    """A loopback TCP port that accepts connections and never answers on them."""

    port: int
    held: list[socket.socket] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def silent_listener() -> Iterator[SilentListener]:
    """A service that accepts but never answers, until the block ends (then every connection closes)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    silent = SilentListener(listener.getsockname()[1])
    closing = threading.Event()

    def accept() -> None:
        while not closing.is_set():
            try:
                silent.held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield silent
    finally:
        closing.set()
        thread.join(timeout=10)
        listener.close()
        for connection in silent.held:
            connection.close()

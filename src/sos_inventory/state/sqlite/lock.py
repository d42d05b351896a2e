"""One run at a time: an exclusive lock on a file in the state directory.

The lock is an ``flock`` on ``<state-dir>/update.lock``: the kernel releases it
when its process dies, however it dies, so a lock left by a killed run is taken
over safely by the next one (the file's stale holder text is simply replaced).
The file holds the holder's pid, host and start time, for the message a second
run prints.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sos_inventory.errors import ConfigError, LockHeld

log = logging.getLogger(__name__)

LOCK_NAME = "update.lock"
_POLL = 0.2


def _holder_text(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        return f"pid {info['pid']} on {info['host']}, started {info['started_at']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a run that has not said who it is yet"


@contextmanager
def run_lock(state_dir: Path, *, wait: float = 0.0) -> Iterator[Path]:
    """Hold the state directory's lock for the block; raise LockHeld if another run keeps it."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = (state_dir / LOCK_NAME).open("a+", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"--state-dir {state_dir}: cannot create the lock file: {exc.strerror or exc}",
            action="Point --state-dir at a folder the job can write (it keeps the run lock there).",
        ) from None
    path = state_dir / LOCK_NAME
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(str(path), _holder_text(path)) from None
                time.sleep(_POLL)
        handle.seek(0)
        if handle.read().strip():
            log.debug("lock taken over from %s (that run has ended)", _holder_text(path))
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
        )
        handle.flush()
        try:
            yield path
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
    finally:
        handle.close()  # releases the flock

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
from typing import TextIO

from sos_inventory.errors import LockHeld, StateError
from sos_inventory.private import private_file, private_folder
from sos_inventory.state.disk import unwritable

log = logging.getLogger(__name__)

LOCK_NAME = "update.lock"
_POLL = 0.2
LOCK_ACTION = (
    "Make --state-dir a folder the job can write, with free disk space (it keeps the run lock and "
    "the ledger there), then rerun; nothing was written."
)


def _holder_text(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        return f"pid {info['pid']} on {info['host']}, started {info['started_at']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a run that has not said who it is yet"


@contextmanager
def run_lock(state_dir: Path, *, wait: float = 0.0) -> Iterator[Path]:
    """Hold the state directory's lock for the block; raise LockHeld if another run keeps it, and
    StateError (exit 3, naming the folder and the reason) if the lock file cannot be written."""
    path = state_dir / LOCK_NAME
    try:
        private_folder(state_dir)
        handle = private_file(path).open("a+", encoding="utf-8")
    except OSError as exc:
        raise StateError(unwritable(f"the lock file {path}", state_dir, exc), action=LOCK_ACTION) from None
    deadline = time.monotonic() + wait
    try:
        waiting = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(str(path), _holder_text(path)) from None
                if not waiting:
                    log.info("waiting up to %gs for the lock %s, held by %s", wait, path, _holder_text(path))
                    waiting = True
                time.sleep(_POLL)
        handle.seek(0)
        if handle.read().strip():
            log.debug("lock taken over from %s (that run has ended)", _holder_text(path))
        _say_who(handle, path, state_dir)
        try:
            yield path
        finally:
            try:
                handle.seek(0)
                handle.truncate()
                handle.flush()
            except OSError as exc:  # the lock is released all the same when the file closes
                log.warning("could not clear %s: %s", path, exc)
    finally:
        try:
            handle.close()  # releases the flock
        except OSError as exc:
            log.debug("closing %s: %s", path, exc)


def _say_who(handle: TextIO, path: Path, state_dir: Path) -> None:
    """Write the holder's pid, host and start into the lock file (a full disk: StateError)."""
    try:
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
    except OSError as exc:
        raise StateError(unwritable(f"the lock file {path}", state_dir, exc), action=LOCK_ACTION) from None

"""Where the job keeps what outlives a run: the StateStore protocol (store.py) and its stores.

The embedded store (state/sqlite/) is the default: the state directory (``--state-dir``)."""

from __future__ import annotations

from pathlib import Path

from sos_inventory.state.store import StateStore


def open_store(state_dir: Path) -> StateStore:
    """The state store of ``state_dir`` (nothing is opened or written until it is used)."""
    from sos_inventory.state.sqlite.store import SqliteStore  # sqlite3: only for the commands that keep state

    return SqliteStore(state_dir)

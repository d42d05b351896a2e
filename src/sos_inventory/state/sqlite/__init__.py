"""The evidence store: every run and every attempted field change, hash-chained (README, Evidence).

``<state-dir>/ledger.db`` is a SQLite file (WAL) holding one append-only table.
Its rows are never updated: a change is written ``pending`` before its request
is sent and *settled* by a later row, so a run killed at any moment leaves its
pending rows behind as evidence, never a gap. Each row carries
``hash = sha256(previous row's hash + canonical JSON of the row)``; the
canonical JSON is made from the row's own columns, so editing any column of any
row, deleting a row or reordering rows breaks the chain from there on.

Row kinds::

    run      a run started (data: command, version, config SHA-256, user...)
    change   one field of one record, about to be written (pending)
    settle   the answer to one request: outcome applied | failed | not_attempted
    finish   a run ended (data: exit code, counts, stopped); a run with no
             finish row was killed (the next run closes it, saying so)

Commits of pending rows survive a killed process (WAL, ``synchronous=NORMAL``);
the finish row is committed with ``synchronous=FULL`` (fsync) before the run
reports anything. This package knows nothing of HTTP or the command line:
``schema`` (the table, the chain), ``store`` (the writer), ``read`` (runs, history)
and ``audit`` (verify, export).
"""

from __future__ import annotations

from sos_inventory.state.sqlite.audit import export_rows, verify
from sos_inventory.state.sqlite.reader import (
    applied_writes,
    history,
    last_success,
    open_reader,
    run_changes,
    runs,
)
from sos_inventory.state.sqlite.schema import (
    COLUMNS,
    GENESIS,
    LEDGER_NAME,
    SORTED_COLUMNS,
    canonical,
    chain_hash,
    ledger_path,
)
from sos_inventory.state.sqlite.store import SqliteStore
from sos_inventory.state.sqlite.writer import Ledger
from sos_inventory.state.store import LedgerRecorder

__all__ = [
    "COLUMNS",
    "GENESIS",
    "LEDGER_NAME",
    "SORTED_COLUMNS",
    "Ledger",
    "LedgerRecorder",
    "SqliteStore",
    "applied_writes",
    "canonical",
    "chain_hash",
    "export_rows",
    "history",
    "last_success",
    "ledger_path",
    "open_reader",
    "run_changes",
    "runs",
    "verify",
]

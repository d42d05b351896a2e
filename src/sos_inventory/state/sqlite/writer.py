"""The ledger's writer: one per writing run, under the state directory's lock."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sos_inventory.errors import StateError
from sos_inventory.model import Change
from sos_inventory.private import private_folder
from sos_inventory.state.disk import unwritable
from sos_inventory.state.sqlite.reader import unfinished_runs, unsettled
from sos_inventory.state.sqlite.schema import (
    COLUMNS,
    GENESIS,
    INSERT,
    chain_hash,
    connect,
    damaged,
    ledger_path,
    now_text,
    stored_hash,
    to_json,
)

log = logging.getLogger(__name__)

#: What fixes a ledger the run cannot write.
UNWRITABLE = (
    "Make --state-dir writable (free disk space, fix its permissions), then rerun: the job makes no write "
    "it cannot record."
)


class Ledger:
    """The writer: one per run, under the state directory's lock.

    A pending change is committed before its request is sent; its settlement waits for
    the next transaction (the next pending change, or the finish row), which halves the
    transactions on the apply path. A run killed in between leaves that change pending:
    the ledger then says what it knows, that the answer was never recorded.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._settles: list[dict[str, Any]] = []  # settle rows for the next transaction
        self._synchronous = "NORMAL"
        self._head: str = self._last()[1]

    @classmethod
    def open(cls, state_dir: Path) -> Ledger:
        """Open (or create) the ledger; StateError when it cannot be written."""
        path = ledger_path(state_dir)
        try:
            private_folder(state_dir)
            connection = connect(path, write=True)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(unwritable(f"the ledger {path}", state_dir, exc), action=UNWRITABLE) from None
        try:
            # Take the write lock once now, so a read-only file or full disk shows before any request.
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("COMMIT")
            return cls(connection, path)
        except sqlite3.Error as exc:
            connection.close()
            raise StateError(unwritable(f"the ledger {path}", state_dir, exc), action=UNWRITABLE) from None
        except BaseException:
            connection.close()
            raise

    def _last(self) -> tuple[int, str]:
        """The last row's number and hash (0 and the genesis hash for an empty ledger); StateError
        when that hash is not one the ledger writes (the chain cannot go on from it)."""
        last = self._db.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        if last is None:
            return 0, GENESIS
        head = stored_hash(last["hash"])
        if head is None or not isinstance(last["seq"], int):
            raise damaged(
                self.path, f"row {last['seq']!r} has no 32-byte hash (it holds {last['hash']!r:.40})"
            )
        return last["seq"], head

    @property
    def connection(self) -> sqlite3.Connection:
        """The writer's connection (the store keeps its alert state in the same database)."""
        return self._db

    @property
    def head(self) -> str:
        """The hash of the last row: quoting it elsewhere anchors the whole chain."""
        return self._head

    def close(self) -> None:
        """Write the settlements still held back, then close. A ledger that cannot take them has
        refused a write already, and that refusal is the run's to report: here it is only logged."""
        try:
            if self._settles:
                self._append([])
        except StateError as exc:
            log.warning("%s (%d answer(s) not recorded: their changes read pending)", exc, len(self._settles))
        finally:
            self._db.close()

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (for a copy or an archive)."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _append(
        self, rows: Sequence[dict[str, Any]], *, durable: bool = False, request: bool = False
    ) -> list[int]:
        """Append the held-back settlements and ``rows`` in one transaction; the sequence
        numbers of ``rows``.

        With ``request``, ``rows`` are one request's: each names it by the first one's number.
        """
        synchronous = "FULL" if durable else "NORMAL"
        batch = [*self._settles, *rows]
        try:
            if synchronous != self._synchronous:
                self._db.execute(f"PRAGMA synchronous={synchronous}")
                self._synchronous = synchronous
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # The chain continues from the row on disk, whoever wrote it (one writer holds the
                # run lock, but the chain must not fork even if another wrote meanwhile).
                seq, head = self._last()
                first = seq + len(self._settles) + 1
                values = []
                for row in batch:
                    seq += 1
                    row["seq"] = seq
                    if request and row["kind"] == "change":
                        row["request"] = first
                    head = chain_hash(head, row)
                    values.append((*(row.get(name) for name in COLUMNS), bytes.fromhex(head)))
                self._db.executemany(INSERT, values)
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        except sqlite3.Error as exc:
            where = f"the ledger {self.path}"
            raise StateError(unwritable(where, self.path.parent, exc), action=UNWRITABLE) from None
        self._head = head
        self._settles.clear()
        return list(range(first, seq + 1))

    def _rollback(self) -> None:
        """Undo a transaction that failed, if SQLite has not already (a COMMIT that fails on a full
        disk rolls back by itself): the error that made it fail is the one to report."""
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error as exc:
                log.debug("rollback of %s failed after an error: %s", self.path, exc)

    def start_run(self, run_id: str, data: Mapping[str, Any]) -> None:
        """The run row, written before any request."""
        self._append(
            [{"kind": "run", "run_id": run_id, "time": now_text(), "data": to_json(data)}], durable=True
        )

    def finish_run(self, run_id: str, data: Mapping[str, Any]) -> None:
        """The finish row (exit code, counts...), fsynced: the run may then report."""
        self._append(
            [{"kind": "finish", "run_id": run_id, "time": now_text(), "data": to_json(data)}], durable=True
        )

    def pending(self, run_id: str, change: Change) -> int:
        """One pending row per field of the change; the request's number (its first row)."""
        now = now_text()
        rows: list[dict[str, Any]] = [
            {
                "kind": "change",
                "run_id": run_id,
                "time": now,
                "c_code": change.c_code,
                "hostname": change.hostname,
                "unid": change.unid,
                "field": name,
                "before": change.before.get(name),
                "after": value,
                "outcome": "pending",
                "rule": change.rules.get(name),
            }
            for name, value in sorted(change.after.items())
        ]
        return self._append(rows, request=True)[0]

    def settle(
        self, run_id: str, request: int, change: Change, outcome: str, error: str | None = None
    ) -> None:
        """The answer to a request: ``applied``, ``failed`` (with the error) or ``not_attempted``;
        written with the next transaction."""
        # The request number names the change rows it settles; repeating the record here would
        # only make the ledger bigger.
        row = {
            "kind": "settle",
            "run_id": run_id,
            "time": now_text(),
            "outcome": outcome,
            "request": request,
            "data": to_json({"error": error}) if error else None,
        }
        self._settles.append(row)

    def close_unfinished(self, run_id: str) -> list[str]:
        """Close the runs that were killed before their finish row; their ids.

        The closing row says which run found them and how many of their changes
        were never settled: whether those requests reached the inventory is unknown.
        """
        closed = []
        for run in unfinished_runs(self._db):
            left = unsettled(self._db, run)
            last = self._db.execute("SELECT MAX(time) FROM ledger WHERE run_id = ?", (run,)).fetchone()[0]
            data = {
                "exit_code": None,
                # Killed, or its ledger refused a row (a full disk): the ledger cannot tell which.
                "ended": "stopped before its finish row (killed, or its ledger could not be written)",
                "closed_by": run_id,
                "unsettled": left,
                "last_row_at": last,  # its duration ends there, not when this run closed it
            }
            self._append([{"kind": "finish", "run_id": run, "time": now_text(), "data": to_json(data)}])
            closed.append(run)
        return closed

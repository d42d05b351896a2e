"""The embedded state store: one SQLite database in the state directory, and the lock beside it.

``<state-dir>/ledger.db`` holds the ledger (schema.py: the hash-chained rows) and the alert
state (the ``alerts`` table); ``<state-dir>/update.lock`` is the run lock (lock.py: a ``flock``
the kernel releases when its holder dies). Opening it does nothing: the database is opened
when a run writes or reads. An ``alerts.json`` of the versions before the alert state moved
into the database is read once, on the first write, and renamed ``alerts.json.migrated``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sos_inventory.errors import StateError
from sos_inventory.private import private_file
from sos_inventory.state.sqlite import audit, reader
from sos_inventory.state.sqlite.lock import run_lock
from sos_inventory.state.sqlite.schema import GENESIS, damaged, ledger_path, table_damage
from sos_inventory.state.sqlite.writer import Ledger
from sos_inventory.state.store import AlertState, FieldChange, RunSummary, Verification, WriteKey

log = logging.getLogger(__name__)

#: The alert state of the versions that kept it in a file of its own.
ALERTS_FILE = "alerts.json"


T = TypeVar("T")
#: What reading a row of an edited ledger can raise (a text where a number belongs, a NULL...).
_UNREADABLE = (sqlite3.Error, TypeError, ValueError, KeyError, IndexError, OverflowError)


class SqliteReader:
    """The ledger read through one read-only connection.

    The ledger is evidence, so it is read as a file that may have been edited: a table that is
    not the ledger's, or a row whose values are not of the ledger's types, is a StateError that
    says so (and points at ``audit verify``), never a crash. ``verify`` itself reads any table.
    """

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    def _read(self, read: Callable[[], T]) -> T:
        damage = table_damage(self.db)
        if damage is not None:
            raise damaged(self.path, damage)
        try:
            return read()
        except _UNREADABLE as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: Exception) -> StateError:
        return damaged(self.path, f"a row does not read as the ledger's ({type(exc).__name__}: {exc})")

    def runs(self, limit: int | None = None) -> list[RunSummary]:
        return self._read(lambda: reader.runs(self.db, limit))

    def history(self, hostname: str) -> list[FieldChange]:
        return self._read(lambda: reader.history(self.db, hostname))

    def run_changes(self, run_id: str) -> list[FieldChange]:
        return self._read(lambda: reader.run_changes(self.db, run_id))

    def applied_writes(self, hostnames: Sequence[str], inventory: str) -> dict[WriteKey, list[FieldChange]]:
        return self._read(lambda: reader.applied_writes(self.db, hostnames, inventory))

    def last_success(self, codes: Collection[int]) -> datetime | None:
        return self._read(lambda: reader.last_success(self.db, codes))

    def verify(self) -> Verification:
        try:
            return audit.verify(self.db)
        except sqlite3.Error as exc:  # a value SQLite itself cannot turn into the row's JSON
            return Verification(0, GENESIS, None, f"the ledger table cannot be read whole: {exc}")

    def export_rows(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        rows = self._read(lambda: audit.export_rows(self.db, since))
        try:
            yield from rows  # streamed: a ledger of a million rows is never held whole
        except _UNREADABLE as exc:
            raise self._unreadable(exc) from None


class SqliteStore:
    """The state of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    @property
    def location(self) -> str:
        return str(self.state_dir)

    def lock(self, c_codes: Collection[str], *, wait: float) -> AbstractContextManager[object]:
        # One lock for the directory: runs of any C_Codes take turns.
        return run_lock(self.state_dir, wait=wait)

    @contextmanager
    def writer(self) -> Iterator[Ledger]:
        with Ledger.open(self.state_dir) as book:
            self._migrate_alerts_file(book.connection)
            yield book

    @contextmanager
    def reader(self) -> Iterator[SqliteReader]:
        db = reader.open_reader(self.state_dir)
        try:
            yield SqliteReader(db, ledger_path(self.state_dir))
        finally:
            db.close()

    def alert_state(self) -> AlertState:
        try:
            db = reader.open_reader(self.state_dir)
        except StateError:
            return _read_alerts_file(self.state_dir / ALERTS_FILE)
        try:
            rows = db.execute("SELECT key, since, last_sent FROM alerts").fetchall()
        except sqlite3.Error:  # not migrated yet (no write since the alert state moved in)
            return _read_alerts_file(self.state_dir / ALERTS_FILE)
        finally:
            db.close()
        return {row[0]: {k: v for k, v in (("since", row[1]), ("last_sent", row[2])) if v} for row in rows}

    def save_alert_state(self, state: Mapping[str, Mapping[str, str]]) -> None:
        try:
            with Ledger.open(self.state_dir) as book:
                self._migrate_alerts_file(book.connection)
                _replace_alerts(book.connection, state)
        except (StateError, sqlite3.Error) as exc:
            log.warning("could not save the alert state in %s: %s", ledger_path(self.state_dir), exc)

    def _migrate_alerts_file(self, db: sqlite3.Connection) -> None:
        """Move an ``alerts.json`` into the database, once: its open alerts keep their dates."""
        path = self.state_dir / ALERTS_FILE
        if not path.is_file():
            return
        if db.execute("SELECT 1 FROM alerts LIMIT 1").fetchone() is None:
            _replace_alerts(db, _read_alerts_file(path))
        kept = path.with_name(ALERTS_FILE + ".migrated")
        path.rename(kept)
        try:
            private_file(kept)  # an older version made it 0644
        except OSError as exc:
            log.debug("could not make %s private: %s", kept, exc)
        log.info("alert state moved from %s into %s", path, ledger_path(self.state_dir))


def _replace_alerts(db: sqlite3.Connection, state: Mapping[str, Mapping[str, str]]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM alerts")
        db.executemany(
            "INSERT INTO alerts (key, since, last_sent) VALUES (?, ?, ?)",
            [(key, value.get("since"), value.get("last_sent")) for key, value in state.items()],
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _read_alerts_file(path: Path) -> AlertState:
    """The open failures of an alerts.json (an unreadable file: none, so alerts are sent again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in data.items() if isinstance(v, dict)}

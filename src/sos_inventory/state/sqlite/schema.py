"""The ledger's table, its canonical JSON and hash chain, and the helpers its parts share."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sos_inventory.errors import StateError
from sos_inventory.private import private_file
from sos_inventory.state.disk import read_only_media

log = logging.getLogger(__name__)

LEDGER_NAME = "ledger.db"


GENESIS = "0" * 64


#: The chained columns, in the order of the table (``hash`` is computed from them).
COLUMNS: tuple[str, ...] = (
    "seq",
    "kind",
    "run_id",
    "time",
    "c_code",
    "hostname",
    "unid",
    "field",
    "before",
    "after",
    "outcome",
    "rule",
    "request",
    "data",
)


SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    seq      INTEGER PRIMARY KEY,
    kind     TEXT NOT NULL,
    run_id   TEXT NOT NULL,
    time     TEXT NOT NULL,
    c_code   TEXT,
    hostname TEXT,
    unid     TEXT,
    field    TEXT,
    before   TEXT,
    after    TEXT,
    outcome  TEXT,
    rule     TEXT,
    request  INTEGER,
    data     TEXT,
    hash     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_hostname ON ledger(hostname) WHERE kind = 'change';
CREATE INDEX IF NOT EXISTS ledger_settle ON ledger(request) WHERE kind = 'settle';
CREATE INDEX IF NOT EXISTS ledger_runs ON ledger(run_id) WHERE request IS NULL;
"""


INSERT = f"INSERT INTO ledger ({', '.join(COLUMNS)}, hash) VALUES ({', '.join('?' * (len(COLUMNS) + 1))})"


#: The chained columns in the canonical JSON's key order (sorted), and its encoder: one encoder
#: made once, fed dicts already in key order (``verify`` runs it on every row of the ledger).
SORTED_COLUMNS: tuple[str, ...] = tuple(sorted(COLUMNS))


ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def canonical(row: Mapping[str, Any]) -> str:
    """The canonical JSON of a row's chained columns: sorted keys, no spaces, UTF-8 text."""
    return ENCODER.encode({name: row.get(name) for name in SORTED_COLUMNS})


def chain_hash(previous: str, row: Mapping[str, Any]) -> str:
    """``sha256(previous row's hash + canonical JSON of the row)``, hex."""
    return hashlib.sha256((previous + canonical(row)).encode("utf-8")).hexdigest()


def ledger_path(state_dir: Path) -> Path:
    return state_dir / LEDGER_NAME


ALERTS = """
CREATE TABLE IF NOT EXISTS alerts (
    key       TEXT PRIMARY KEY,
    since     TEXT,
    last_sent TEXT
);
"""


#: The inventory a run row names: its data's ``inventory_url`` (every version wrote it there, in
#: the chained ``data`` column). A run row whose data names none (or is not JSON) belongs to no
#: inventory: undo refuses it and the drift review reads none of its writes.
RUN_INVENTORY = "CASE WHEN kind = 'run' AND json_valid(data) THEN json_extract(data, '$.inventory_url') END"

#: Version 3 keys the runs by their inventory: a column computed from the chained ``data`` (never
#: stored, never hashed: the chain covers it through ``data``, so every existing chain verifies
#: unchanged and the column cannot say other than the row), and an index of the run rows by it.
INVENTORY = "CREATE INDEX IF NOT EXISTS ledger_inventory ON ledger(inventory, run_id) WHERE kind = 'run';"

#: The columns a version adds to the ledger before its script runs (when they are missing: SQLite
#: has no ADD COLUMN IF NOT EXISTS).
ADDED_COLUMNS: dict[int, tuple[tuple[str, str], ...]] = {
    3: (("inventory", f"TEXT GENERATED ALWAYS AS ({RUN_INVENTORY}) VIRTUAL"),),
}

#: The schema's versions, each the script that takes a database from the version before it
#: (``PRAGMA user_version``). A ledger made before the versions were counted reads 0 and holds
#: version 1's table already: its script only adds what is missing.
MIGRATIONS: tuple[str, ...] = (
    SCHEMA,  # 1: the ledger
    ALERTS,  # 2: the alert state, which lived in alerts.json before
    INVENTORY,  # 3: the runs keyed by the inventory they wrote to
)
VERSION = len(MIGRATIONS)


def connect(path: Path, *, write: bool) -> sqlite3.Connection:
    """A connection to the database (``write``: its schema brought to this version first, the file
    made private). A reader opens it read-only (``mode=ro``), and as immutable when its folder
    cannot be written (read-only media, an archive copy): SQLite then needs no ``-shm`` file.

    StateError when the database was made by a newer version of the tool (its rows may mean
    what this version cannot know, and writing there could break them), or when its table is not
    the ledger's (a column missing or added: see :func:`table_damage`)."""
    if write:
        for name in (path, *_companions(path)):  # the ledger and SQLite's files beside it
            if name == path or name.exists():
                private_file(name)
        connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
    else:
        connection = _read_only(path)
    try:
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version > VERSION:
            raise StateError(
                f"{path} was written by a newer sos-inventory (schema {version}; this one knows up to "
                f"{VERSION})",
                action="Run the version of sos-inventory that wrote it (or a newer one); this one leaves "
                "the state untouched.",
            )
        for number in range(version + 1, VERSION + 1) if write else ():
            _add_columns(connection, ADDED_COLUMNS.get(number, ()))
            # All of a step or none: a reader never sees half a schema.
            connection.executescript(f"BEGIN;{MIGRATIONS[number - 1]}PRAGMA user_version = {number};COMMIT;")
        if write and (damage := table_damage(connection)):
            raise damaged(path, damage)
    except BaseException:
        connection.close()
        raise
    connection.row_factory = sqlite3.Row
    return connection


def _columns(db: sqlite3.Connection) -> set[str]:
    return {str(row[1]) for row in db.execute("PRAGMA table_xinfo(ledger)")}


def _add_columns(db: sqlite3.Connection, columns: tuple[tuple[str, str], ...]) -> None:
    """Add the ``columns`` the ledger lacks, in one transaction that holds the write lock while it
    looks (another writer migrating at the same moment finds them added). A column added by a step
    that then failed is found the next time: each step may run again."""
    if not columns:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        have = _columns(db)
        for name, kind in columns:
            if name not in have:
                db.execute(f"ALTER TABLE ledger ADD COLUMN {name} {kind}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def inventory_column(db: sqlite3.Connection) -> str:
    """The SQL of a run row's inventory: the column of version 3, or its expression in a ledger
    read (read-only) before a writer migrated it."""
    return "inventory" if "inventory" in _columns(db) else f"({RUN_INVENTORY})"


def _companions(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    wal = _companions(path)[0]
    folder = path.parent
    try:
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30)
        connection.execute("PRAGMA user_version").fetchone()
        return connection
    except sqlite3.OperationalError:
        connection.close()
        # Immutable only where no writer can be at work: read-only media, or a folder nobody
        # writes into now (a writer keeps its write-ahead log there while it runs).
        if os.access(folder, os.W_OK) or (wal.exists() and not read_only_media(folder)):
            raise
    if wal.exists() and wal.stat().st_size:
        # A run killed on this medium before it was made read-only: its last rows are in a log
        # that cannot be read without writing beside it.
        log.warning("%s: the write-ahead log beside it cannot be read on read-only media", path)
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=30)


#: What a damaged ledger needs.
DAMAGED_ACTION = (
    "Treat it as evidence tampered with: keep a copy, run `sos-inventory audit verify` on it, and "
    "restore the ledger from a backup; the job writes nothing with a ledger it cannot trust."
)


def damaged(path: Path, damage: str) -> StateError:
    """The error of a ledger that is not as the job writes it: evidence tampered with."""
    return StateError(f"the ledger {path} is damaged or was edited: {damage}", action=DAMAGED_ACTION)


def table_damage(db: sqlite3.Connection) -> str | None:
    """What is wrong with the ledger table's columns (None: they are the ledger's, or no table yet)."""
    have = [str(row[1]) for row in db.execute("PRAGMA table_info(ledger)")]
    if not have:
        return None
    want = (*COLUMNS, "hash")
    missing = [name for name in want if name not in have]
    extra = [name for name in have if name not in want]
    problems = []
    if missing:
        problems.append(f"column(s) {', '.join(missing)} missing")
    if extra:
        problems.append(f"column(s) {', '.join(extra)} not the ledger's")
    return "; ".join(problems) or None


def stored_hash(value: object) -> str | None:
    """A row's stored hash as hex, or None when it is not the 32 bytes the ledger writes."""
    if isinstance(value, bytes) and len(value) == 32:
        return value.hex()
    return None


def shown_hash(value: object) -> str | None:
    """A stored hash as an export shows it: hex, or what is there instead (text, NULL) as it is."""
    if isinstance(value, bytes):
        return value.hex()
    return None if value is None else str(value)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def from_json(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))

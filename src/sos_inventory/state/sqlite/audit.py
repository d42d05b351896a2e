"""``audit``: the hash chain recomputed, and the rows exported for an auditor or a SIEM."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sos_inventory.state.sqlite.schema import (
    COLUMNS,
    GENESIS,
    SORTED_COLUMNS,
    chain_hash,
    shown_hash,
    stored_hash,
    table_damage,
)
from sos_inventory.state.store import Verification


def verify(db: sqlite3.Connection) -> Verification:
    """Recompute the chain from the first row; stop at the first row that does not match.

    SQLite's ``json_object`` writes each row's canonical JSON in C (about 3x faster than
    here); a row whose hash does not match that text is checked again with
    :func:`canonical` itself, so an encoding difference can never pass for an edit.
    """
    damage = table_damage(db)
    if damage is not None:
        return Verification(0, GENESIS, None, f"the ledger table is not the ledger's: {damage}")
    cursor = db.cursor()
    cursor.row_factory = None  # plain tuples: (seq, SQLite's JSON, hash, the columns...)
    columns = ", ".join(SORTED_COLUMNS)
    as_json = "json_object(" + ", ".join(f"'{name}', {name}" for name in SORTED_COLUMNS) + ")"
    try:
        rows = cursor.execute(f"SELECT seq, {as_json}, hash, {columns} FROM ledger ORDER BY seq")
    except sqlite3.OperationalError:  # an SQLite without JSON functions
        rows = cursor.execute(f"SELECT seq, NULL, hash, {columns} FROM ledger ORDER BY seq")
    head, expected, count = GENESIS, 1, 0
    sha256 = hashlib.sha256
    for seq, text, stored, *values in rows:
        if seq != expected:
            if not isinstance(seq, int):
                return Verification(count, head, expected, f"row {expected} is numbered {seq!r}")
            return Verification(count, head, seq, f"row {expected} is missing (rows are numbered from 1)")
        want = stored_hash(stored)
        if want is None:
            shown = "NULL" if stored is None else f"{type(stored).__name__} {str(stored)[:40]!r}"
            return Verification(count, head, seq, f"its hash is not the 32 bytes the ledger writes: {shown}")
        computed = sha256((head + text).encode("utf-8")).hexdigest() if text is not None else ""
        if computed != want:
            computed = chain_hash(head, dict(zip(SORTED_COLUMNS, values, strict=True)))
            if computed != want:
                return Verification(
                    count, head, seq, "its hash does not match its content and the previous row's hash"
                )
        head, expected, count = computed, expected + 1, count + 1
    return Verification(count, head)


def export_rows(db: sqlite3.Connection, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every row with its hash, in ledger order (from ``since``, when given)."""
    query = f"SELECT {', '.join(COLUMNS)}, hash FROM ledger"
    params: tuple[Any, ...] = ()
    if since is not None:
        query += " WHERE time >= ?"
        params = (since.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),)
    for row in db.execute(query + " ORDER BY seq", params):
        # A hash that is not one the ledger writes is exported as it is: `audit verify` names its row.
        yield {**dict(zip(COLUMNS, row[: len(COLUMNS)], strict=True)), "hash": shown_hash(row[len(COLUMNS)])}

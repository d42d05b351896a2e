"""The ledger's readers: runs, a machine's history, a run's changes, the last success.

They never write, and tolerate a crash at any point: a change never settled reads
``pending``, a run with no finish row ``unfinished``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sos_inventory.errors import StateError
from sos_inventory.model import host_key
from sos_inventory.state.sqlite.schema import connect, from_json, inventory_column, ledger_path, parse_time
from sos_inventory.state.store import FieldChange, RunSummary

# Run and finish rows are the rows without a request: the partial index ledger_runs holds them,
# and a query uses it when its WHERE has the term "request IS NULL" as written.


def unfinished_runs(db: sqlite3.Connection) -> list[str]:
    """The runs with no finish row, oldest first (killed, or the one running now)."""
    rows = db.execute(
        "SELECT run_id FROM ledger AS r WHERE request IS NULL AND kind = 'run' AND NOT EXISTS "
        "(SELECT 1 FROM ledger AS f WHERE f.run_id = r.run_id AND f.request IS NULL AND f.kind = 'finish') "
        "ORDER BY seq"
    )
    return [row["run_id"] for row in rows]


def run_span(db: sqlite3.Connection, run_id: str) -> tuple[int, int] | None:
    """The sequence numbers a run's rows lie between, or None for an unknown run.

    One writer at a time: between a run's start and finish rows there are only its own rows
    (and the finish rows it writes for runs killed before it)."""
    rows = db.execute(
        "SELECT kind, seq FROM ledger WHERE run_id = ? AND request IS NULL ORDER BY seq", (run_id,)
    ).fetchall()
    starts = [row["seq"] for row in rows if row["kind"] == "run"]
    if not starts:
        return None
    ends = [row["seq"] for row in rows if row["kind"] == "finish"]
    return int(starts[0]), int(ends[0]) if ends else 2**62


def unsettled(db: sqlite3.Connection, run_id: str) -> int:
    """How many of a run's requests have no settle row (their answer never came)."""
    span = run_span(db, run_id)
    if span is None:
        return 0
    row = db.execute(
        "SELECT COUNT(DISTINCT CASE WHEN kind = 'change' THEN request END) "
        "- COUNT(CASE WHEN kind = 'settle' THEN 1 END) FROM ledger WHERE seq BETWEEN ? AND ? AND run_id = ?",
        (*span, run_id),
    ).fetchone()
    return int(row[0] or 0)


def open_reader(state_dir: Path) -> sqlite3.Connection:
    """A read-only connection to the ledger; StateError when there is none."""
    path = ledger_path(state_dir)
    if not path.is_file():
        raise StateError(f"no ledger in {state_dir} (no update has run with this --state-dir)")
    try:
        db = connect(path, write=False)
        made = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger'").fetchone()
    except sqlite3.Error as exc:
        raise StateError(f"the ledger {path} cannot be read: {exc}") from None
    if made is None:  # created this instant by a first run, or not a ledger
        db.close()
        raise StateError(f"{path} holds no ledger yet")
    return db


def runs(db: sqlite3.Connection, limit: int | None = None) -> list[RunSummary]:
    """The latest runs, newest first."""
    started = db.execute(
        # The partial index holds only run and finish rows: without it, the newest runs would be
        # found by walking back through every change row since.
        "SELECT run_id, time, data FROM ledger INDEXED BY ledger_runs WHERE request IS NULL AND kind = 'run' "
        "ORDER BY seq DESC LIMIT ?",
        (-1 if limit is None else limit,),
    ).fetchall()
    out = []
    for row in started:
        data = from_json(row["data"])
        end = db.execute(
            "SELECT time, data FROM ledger WHERE run_id = ? AND request IS NULL AND kind = 'finish' "
            "ORDER BY seq LIMIT 1",
            (row["run_id"],),
        ).fetchone()
        finish = from_json(end["data"]) if end else {}
        out.append(
            RunSummary(
                run_id=row["run_id"],
                command=str(data.get("command", "")),
                started_at=row["time"],
                finished_at=end["time"] if end else None,
                exit_code=finish.get("exit_code"),
                counts=finish.get("counts") or {},
                details={**data, **finish},
            )
        )
    return out


def _changes(db: sqlite3.Connection, where: str, params: Sequence[Any]) -> list[FieldChange]:
    """Change rows matching ``where`` (in ledger order) with their settlements."""
    rows = db.execute(
        f"SELECT * FROM ledger WHERE kind = 'change' AND {where} ORDER BY seq", params
    ).fetchall()
    requests = sorted({row["request"] for row in rows})
    settled: dict[int, sqlite3.Row] = {}
    for start in range(0, len(requests), 500):
        chunk = requests[start : start + 500]
        query = f"SELECT * FROM ledger WHERE kind = 'settle' AND request IN ({','.join('?' * len(chunk))})"
        settled.update((row["request"], row) for row in db.execute(query, chunk))
    out = []
    for row in rows:
        settle = settled.get(row["request"])
        out.append(
            FieldChange(
                seq=row["seq"],
                run_id=row["run_id"],
                time=row["time"],
                c_code=row["c_code"],
                hostname=row["hostname"],
                unid=row["unid"],
                field=row["field"],
                before=row["before"],
                after=row["after"],
                outcome=settle["outcome"] if settle else "pending",
                rule=row["rule"],
                error=from_json(settle["data"]).get("error") if settle else None,
                settled_at=settle["time"] if settle else None,
            )
        )
    return out


def history(db: sqlite3.Connection, hostname: str) -> list[FieldChange]:
    """Every change of one machine (short hostname, any case), newest first; none for a name that is
    not ASCII (a lookalike of a real name: model.host_key)."""
    key = host_key(hostname)
    return [] if key is None else _changes(db, "hostname = ?", (key,))[::-1]


def run_changes(db: sqlite3.Connection, run_id: str) -> list[FieldChange]:
    """The changes one run attempted, in ledger order."""
    span = run_span(db, run_id)
    return [] if span is None else _changes(db, "seq BETWEEN ? AND ? AND run_id = ?", (*span, run_id))


def runs_on(db: sqlite3.Connection, inventory: str) -> set[str]:
    """The runs that wrote to ``inventory`` (the URL as the config gives it), as their run rows say."""
    column = inventory_column(db)
    query = f"SELECT run_id FROM ledger WHERE kind = 'run' AND {column} = ?"
    return {str(row[0]) for row in db.execute(query, (inventory,))}


def applied_writes(
    db: sqlite3.Connection, hostnames: Sequence[str], inventory: str
) -> dict[tuple[str, str, str], list[FieldChange]]:
    """The applied field changes of these machines in ``inventory``, oldest first, by (c_code, unid,
    field): the writes of runs on another inventory (a ledger copied from another job) say nothing
    of this one's records."""
    out: dict[tuple[str, str, str], list[FieldChange]] = {}
    ours = runs_on(db, inventory)
    for start in range(0, len(hostnames), 500):
        chunk = list(hostnames[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for change in _changes(db, f"hostname IN ({marks})", chunk):
            if change.outcome == "applied" and change.run_id in ours:
                out.setdefault((change.c_code, change.unid, change.field), []).append(change)
    for writes in out.values():
        writes.sort(key=lambda c: c.seq)
    return out


def last_success(db: sqlite3.Connection, codes: Collection[int] = (0,)) -> datetime | None:
    """When the last run that exited with one of ``codes`` finished (None: no such run)."""
    query = (
        "SELECT time, data FROM ledger INDEXED BY ledger_runs WHERE request IS NULL AND kind = 'finish' "
        "ORDER BY seq DESC"
    )
    for row in db.execute(query):
        data = from_json(row["data"])
        if data.get("exit_code") in codes:
            return parse_time(str(data.get("finished_at") or row["time"]))
    return None

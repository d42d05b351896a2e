"""The ledger: a real SQLite file, its hash chain, crash tolerance and readers."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import datetime
from pathlib import Path

import pytest

from sos_inventory.errors import StateError
from sos_inventory.model import Change
from sos_inventory.state import open_store
from sos_inventory.state import sqlite as ledger
from sos_inventory.state.sqlite import Ledger, LedgerRecorder
from sos_inventory.state.sqlite.schema import parse_time

CHANGE = Change(
    "ALC",
    "prod-dal10-carrier2-worker-01",
    "A01",
    {"status": "Build", "application": "x"},
    {"status": "Live", "application": "containers-kubernetes"},
    {"status": "lifecycle", "application": "ownership.application[0]"},
)


URL = "https://sos.example.com/api"


def _run(
    state: Path,
    run_id: str,
    *,
    settle: str | None = "applied",
    exit_code: int | None = 0,
    inventory: str | None = URL,
) -> None:
    with Ledger.open(state) as book:
        book.start_run(run_id, {"command": "update", **({"inventory_url": inventory} if inventory else {})})
        recorder = LedgerRecorder(book, run_id)
        token = recorder.pending(CHANGE)
        if settle:
            recorder.settled(token, CHANGE, settle, "boom" if settle == "failed" else None)
        if exit_code is not None:
            book.finish_run(run_id, {"exit_code": exit_code, "counts": {"changes": 1}})


def test_a_run_is_listed_and_each_field_change_has_its_outcome_and_rule(tmp_path: Path) -> None:
    _run(tmp_path, "20261127T120000Z-0001")
    db = ledger.open_reader(tmp_path)
    [run] = ledger.runs(db)
    assert (run.run_id, run.command, run.exit_code, run.state) == (
        "20261127T120000Z-0001",
        "update",
        0,
        "finished",
    )
    changes = ledger.history(db, "PROD-DAL10-CARRIER2-WORKER-01.alchemy.ibm.com")
    assert {(c.field, c.before, c.after, c.outcome, c.rule) for c in changes} == {
        ("status", "Build", "Live", "applied", "lifecycle"),
        ("application", "x", "containers-kubernetes", "applied", "ownership.application[0]"),
    }
    assert ledger.verify(db).intact


def test_a_change_never_settled_reads_as_pending_and_the_next_run_closes_its_run(tmp_path: Path) -> None:
    _run(tmp_path, "20261127T120000Z-0001", settle=None, exit_code=None)  # killed mid-request
    db = ledger.open_reader(tmp_path)
    assert [c.outcome for c in ledger.history(db, CHANGE.hostname)] == ["pending", "pending"]
    assert ledger.runs(db)[0].state == "unfinished"
    with Ledger.open(tmp_path) as book:
        assert book.close_unfinished("20261127T130000Z-0002") == ["20261127T120000Z-0001"]
        assert book.close_unfinished("20261127T130000Z-0002") == []  # closed once
    [run] = ledger.runs(db)
    assert run.state == "stopped"
    assert run.details["unsettled"] == 1 and run.details["closed_by"] == "20261127T130000Z-0002"
    # Its duration ends at its own last row (the pending change), not when the next run closed it.
    last = db.execute(
        "SELECT MAX(time) FROM ledger WHERE run_id = ? AND kind != 'finish'", (run.run_id,)
    ).fetchone()[0]
    assert run.details["last_row_at"] == last
    assert run.duration == (parse_time(last) - parse_time(run.started_at)).total_seconds()
    assert ledger.verify(db).intact


def test_editing_or_deleting_a_row_by_hand_is_found(tmp_path: Path) -> None:
    _run(tmp_path, "20261127T120000Z-0001")
    _run(tmp_path, "20261128T120000Z-0002", settle="failed", exit_code=1)
    path = ledger.ledger_path(tmp_path)
    db = ledger.open_reader(tmp_path)
    intact = ledger.verify(db)
    assert intact.intact and intact.rows == 10
    raw = sqlite3.connect(path)
    raw.execute("UPDATE ledger SET after = 'Available' WHERE seq = 3")
    raw.commit()
    broken = ledger.verify(db)
    assert (broken.intact, broken.bad_seq, broken.rows) == (False, 3, 2)
    raw.execute("UPDATE ledger SET after = 'Live' WHERE seq = 3")  # put back: intact again
    raw.execute("DELETE FROM ledger WHERE seq = 7")
    raw.commit()
    assert ledger.verify(db).bad_seq == 8
    raw.close()


def _last_success(state_dir: Path) -> datetime | None:
    with open_store(state_dir).reader() as book:
        return book.last_success((0,))


def test_last_success_is_the_last_run_that_exited_0(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="no ledger"):
        _last_success(tmp_path)
    _run(tmp_path, "20261127T120000Z-0002", exit_code=4)
    assert _last_success(tmp_path) is None
    _run(tmp_path, "20261127T120000Z-0001")
    first = _last_success(tmp_path)
    _run(tmp_path, "20261128T120000Z-0002", exit_code=4)
    assert first is not None and _last_success(tmp_path) == first


def test_applied_writes_ignore_failed_and_pending_requests(tmp_path: Path) -> None:
    _run(tmp_path, "20261127T120000Z-0001", settle="applied")
    _run(tmp_path, "20261128T120000Z-0002", settle="failed")
    _run(tmp_path, "20261129T120000Z-0003", settle=None, exit_code=None)
    writes = ledger.applied_writes(ledger.open_reader(tmp_path), [CHANGE.hostname], URL)
    assert [w.run_id for w in writes[("ALC", "A01", "status")]] == ["20261127T120000Z-0001"]


def test_applied_writes_are_those_of_the_runs_on_the_inventory_asked_for(tmp_path: Path) -> None:
    _run(tmp_path, "20261127T120000Z-0001")
    _run(tmp_path, "20261128T120000Z-0002", inventory="https://other.example.com")
    _run(tmp_path, "20261129T120000Z-0003", inventory=None)  # names none: belongs to no inventory
    for inventory, runs in [
        (URL, ["20261127T120000Z-0001"]),
        ("https://other.example.com", ["20261128T120000Z-0002"]),
        ("https://third.example.com", []),
    ]:
        writes = ledger.applied_writes(ledger.open_reader(tmp_path), [CHANGE.hostname], inventory)
        assert [w.run_id for w in writes.get(("ALC", "A01", "status"), [])] == runs


def test_a_ledger_of_version_2_is_keyed_by_inventory_read_only_and_after_its_migration(
    tmp_path: Path,
) -> None:
    # A ledger as version 2 left it (no inventory column), its rows hashed then: read as it is,
    # then migrated by the next writer, its chain verifying unchanged all along.
    _run(tmp_path, "20261127T120000Z-0001")
    _run(tmp_path, "20261128T120000Z-0002", inventory="https://other.example.com")
    with sqlite3.connect(ledger.ledger_path(tmp_path)) as db:
        db.execute("DROP INDEX ledger_inventory")
        db.execute("ALTER TABLE ledger DROP COLUMN inventory")
        db.execute("PRAGMA user_version = 2")
    head = ledger.verify(ledger.open_reader(tmp_path)).head

    def ours() -> list[str]:
        writes = ledger.applied_writes(ledger.open_reader(tmp_path), [CHANGE.hostname], URL)
        return [w.run_id for w in writes[("ALC", "A01", "status")]]

    assert ours() == ["20261127T120000Z-0001"]
    Ledger.open(tmp_path).close()  # a writer migrates it
    with sqlite3.connect(ledger.ledger_path(tmp_path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
        plan = " ".join(
            str(r[-1])
            for r in db.execute(
                "EXPLAIN QUERY PLAN SELECT run_id FROM ledger WHERE kind = 'run' AND inventory = ?", (URL,)
            )
        )
        assert "ledger_inventory" in plan
    assert ours() == ["20261127T120000Z-0001"]
    check = ledger.verify(ledger.open_reader(tmp_path))
    assert check.intact and check.head == head


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_ledger_that_cannot_be_written_is_refused_at_open(tmp_path: Path) -> None:
    _run(tmp_path, "20261127T120000Z-0001")
    ledger.ledger_path(tmp_path).chmod(stat.S_IRUSR)
    with pytest.raises(StateError, match="cannot be written"):
        Ledger.open(tmp_path)


def test_a_state_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("not a folder")
    with pytest.raises(StateError, match="cannot be written"):
        Ledger.open(blocker)


def test_verify_checks_a_row_again_when_sqlite_writes_its_json_differently(tmp_path: Path) -> None:
    _run(tmp_path, "20261127T120000Z-0001")
    db = ledger.open_reader(tmp_path)
    db.create_function("json_object", -1, lambda *_: "{}")  # every row's fast text is wrong
    assert ledger.verify(db).intact
    raw = sqlite3.connect(ledger.ledger_path(tmp_path))
    raw.execute("UPDATE ledger SET rule = 'by hand' WHERE seq = 2")
    raw.commit()
    raw.close()
    assert ledger.verify(db).bad_seq == 2


def test_a_settlement_waits_for_the_next_write_or_the_close(tmp_path: Path) -> None:
    with Ledger.open(tmp_path) as book:
        book.start_run("20261127T120000Z-0001", {"command": "update"})
        recorder = LedgerRecorder(book, "20261127T120000Z-0001")
        token = recorder.pending(CHANGE)
        recorder.settled(token, CHANGE, "applied")
        db = ledger.open_reader(tmp_path)
        assert {c.outcome for c in ledger.history(db, CHANGE.hostname)} == {"pending"}  # not yet written
    assert {c.outcome for c in ledger.history(db, CHANGE.hostname)} == {"applied"}  # written on close
    assert ledger.verify(db).intact

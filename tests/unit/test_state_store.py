"""The embedded state store: versioned schema, the alert state moved into the database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sos_inventory.errors import StateError
from sos_inventory.model import Change
from sos_inventory.state import open_store
from sos_inventory.state.sqlite.schema import SCHEMA, VERSION, ledger_path

CHANGE = Change("ALC", "prod-dal10-carrier2-worker-01", "U1", {"status": "Build"}, {"status": "Live"})


def _write_a_run(state_dir: Path, run_id: str = "20261127T120000Z-0001") -> None:
    with open_store(state_dir).writer() as book:
        book.start_run(run_id, {"command": "update"})
        token = book.pending(run_id, CHANGE)
        book.settle(run_id, token, CHANGE, "applied")
        book.finish_run(run_id, {"exit_code": 0})


def test_a_ledger_made_before_schema_versions_is_brought_up_and_still_verifies(tmp_path: Path) -> None:
    # The table as every earlier version made it, user_version 0, rows written by the old writer.
    _write_a_run(tmp_path)
    with sqlite3.connect(ledger_path(tmp_path)) as db:
        db.execute("DROP TABLE alerts")
        db.execute("PRAGMA user_version = 0")
    store = open_store(tmp_path)
    with store.reader() as book:
        assert book.verify().intact
    assert store.alert_state() == {}  # no alerts table yet: none open
    _write_a_run(tmp_path, "20261128T120000Z-0002")
    with sqlite3.connect(ledger_path(tmp_path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
    with store.reader() as book:
        assert book.verify().intact and book.runs()[0].run_id == "20261128T120000Z-0002"


def test_a_store_written_by_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    _write_a_run(tmp_path)
    with sqlite3.connect(ledger_path(tmp_path)) as db:
        db.execute(f"PRAGMA user_version = {VERSION + 1}")
    before = ledger_path(tmp_path).read_bytes()
    store = open_store(tmp_path)
    with pytest.raises(StateError, match="written by a newer sos-inventory") as caught, store.writer():
        pass
    assert caught.value.action is not None
    with pytest.raises(StateError, match="newer"), store.reader():
        pass
    assert ledger_path(tmp_path).read_bytes() == before


def test_an_alerts_json_is_moved_into_the_database_once(tmp_path: Path) -> None:
    opened = {"auth_failure/ALC": {"since": "2026-11-27T12:00:00Z", "last_sent": "2026-11-27T12:00:00Z"}}
    (tmp_path / "alerts.json").write_text(json.dumps(opened), encoding="utf-8")
    store = open_store(tmp_path)
    assert store.alert_state() == opened  # read from the file until the first write
    _write_a_run(tmp_path)
    assert not (tmp_path / "alerts.json").exists() and (tmp_path / "alerts.json.migrated").is_file()
    assert store.alert_state() == opened
    store.save_alert_state({})
    assert store.alert_state() == {}
    _write_a_run(tmp_path, "20261128T120000Z-0002")
    assert store.alert_state() == {}  # the migrated file is never read again


def test_the_schema_steps_are_the_ones_the_version_counts() -> None:
    assert VERSION == 3 and "CREATE TABLE IF NOT EXISTS ledger" in SCHEMA

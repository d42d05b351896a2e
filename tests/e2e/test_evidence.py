"""The ledger through the real CLI: runs, history, audit, and a run killed mid-apply."""

from __future__ import annotations

import csv
import io
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from sos_inventory.errors import StateError
from sos_inventory.state import open_store
from sos_inventory.state import sqlite as ledger
from tests.e2e.conftest import EXPECTED_CHANGES, NOW, TOKEN, Fleet, write_fleet, write_seed, write_users
from tests.serverutil import running_server, seed_db


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_update_is_in_runs_and_history_and_the_chain_verifies(fleet: Fleet) -> None:
    update = fleet.cli("update", "--report-dir", str(fleet.root / "reports"))
    assert update.returncode == 1, update.stderr
    report = json.loads((fleet.root / "reports" / "report.json").read_text())
    run_id = report["run_id"]

    runs = _json(fleet.cli("runs", "--json"))
    assert isinstance(runs, list) and len(runs) == 1
    assert runs[0]["run_id"] == run_id and runs[0]["exit_code"] == 1 and runs[0]["command"] == "update"
    assert runs[0]["counts"]["applied"] == len(EXPECTED_CHANGES)
    assert runs[0]["details"]["user"] == "sre@example.com" and len(runs[0]["details"]["config_sha256"]) == 64
    assert run_id in fleet.cli("runs").stdout

    history = _json(fleet.cli("history", "PROD-DAL10-CARRIER2-WORKER-05", "--json"))
    assert history == [
        {
            **history[0],  # seq and times
            "run_id": run_id,
            "c_code": "ALC",
            "hostname": "prod-dal10-carrier2-worker-05",
            "unid": "A05",
            "field": "status",
            "before": "Build",
            "after": "Available",
            "outcome": "applied",
            "rule": "lifecycle",
            "error": None,
        }
    ]
    text = fleet.cli("history", "prod-dal10-registry-docker-06").stdout
    assert "'containers-kubernetes' -> 'container-registry'" in text and "ownership.application[2]" in text

    verify = fleet.cli("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "ledger intact" in verify.stdout

    # An auditor's copy with one row edited by hand fails, naming the row.
    copy = fleet.root / "copy"
    shutil.copytree(fleet.root / ".sos-inventory", copy)
    with sqlite3.connect(copy / "ledger.db") as raw:
        seq = raw.execute(
            "SELECT seq FROM ledger WHERE hostname = 'prod-dal10-carrier2-worker-05'"
        ).fetchone()[0]
        raw.execute("UPDATE ledger SET after = 'Live' WHERE seq = ?", (seq,))
    broken = fleet.cli("audit", "verify", "--state-dir", str(copy))
    assert broken.returncode == 1
    assert f"row {seq} does not match" in broken.stdout
    assert fleet.cli("audit", "verify").returncode == 0  # the original is untouched

    lines = fleet.cli("audit", "export").stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["kind"] for r in rows} == {"run", "change", "settle", "finish"}
    # The export is the ledger as it is: a run row's inventory URL (a port) and API user (an
    # e-mail) are no URL password to mask, so every row's data is the chained one.
    with closing(sqlite3.connect(fleet.root / ".sos-inventory" / "ledger.db")) as db:
        stored = dict(db.execute("SELECT seq, data FROM ledger"))
    for exported_row in rows:
        data, kept = exported_row["data"], stored[exported_row["seq"]]
        assert data == (kept if kept is None or isinstance(data, str) else json.loads(kept)), exported_row
    assert any("127.0.0.1:" in (kept or "") for kept in stored.values())  # a URL with its port
    exported = list(csv.DictReader(io.StringIO(fleet.cli("audit", "export", "--format", "csv").stdout)))
    assert len(exported) == len(rows) and exported[0]["hash"] == rows[0]["hash"]
    assert fleet.cli("audit", "export", "--since", "2999-01-01").stdout == ""
    assert TOKEN not in "\n".join(lines)


def test_the_evidence_commands_need_a_ledger(tmp_path: Path) -> None:
    for command in (["runs"], ["history", "h"], ["audit", "verify"], ["audit", "export"]):
        result = subprocess.run(
            [sys.executable, "-m", "sos_inventory", *command, "--state-dir", str(tmp_path / "none")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, command
        assert "no ledger" in result.stderr


def test_a_ledger_that_cannot_be_written_refuses_the_run_before_any_write(fleet: Fleet) -> None:
    (fleet.root / ".sos-inventory" / "ledger.db").mkdir(parents=True)  # not a database
    fleet.server.reset_stats()
    result = fleet.cli("update")
    assert result.returncode == 3, result.stderr
    assert "no write without evidence" in result.stderr
    assert fleet.server.stats()["by_kind"].get("update", 0) == 0


@pytest.fixture
def slow_fleet(tmp_path: Path) -> Iterator[Fleet]:
    """The crafted fleet behind a server that takes 300 ms per request."""
    config = write_fleet(tmp_path)
    db = tmp_path / "inventory.db"
    seed_db(db, write_seed(tmp_path / "seed.json"))
    with running_server(
        db, write_users(tmp_path / "users.yaml"), extra_args=("--latency-ms", "300")
    ) as server:
        yield Fleet(tmp_path, config, server, db)


def _in_flight(state: Path) -> tuple[int, int]:
    """(requests recorded, requests settled) in the ledger, (0, 0) before it exists."""
    try:
        db = ledger.open_reader(state)
    except StateError:  # the first run is creating it
        return 0, 0
    try:
        requests = db.execute("SELECT COUNT(DISTINCT request) FROM ledger WHERE kind = 'change'").fetchone()
        settled = db.execute("SELECT COUNT(*) FROM ledger WHERE kind = 'settle'").fetchone()
    finally:
        db.close()
    return int(requests[0]), int(settled[0])


def wait_until_writing(
    run: subprocess.Popen[str], state: Path, *, settled: int, timeout: float = 120
) -> None:
    """Return once the run has ``settled`` answered updates and others in flight (its ledger says so)."""
    deadline = time.monotonic() + timeout
    while True:
        requests, answered = _in_flight(state)
        if answered >= settled and requests > answered:
            return
        assert run.poll() is None, "the run ended before it was seen writing"
        assert time.monotonic() < deadline, "the run was not seen writing in time"
        time.sleep(0.02)  # polling an observable state, not waiting a fixed time


def test_a_run_killed_mid_apply_leaves_pending_rows_shown_honestly(slow_fleet: Fleet) -> None:
    fleet = slow_fleet
    state = fleet.root / ".sos-inventory"
    command = [sys.executable, "-m", "sos_inventory", "update", "-q", "--concurrency", "2"]
    command += ["--config", str(fleet.config), "--inventory-url", fleet.server.url, "--now", NOW]
    run = subprocess.Popen(command, env=fleet.env(), cwd=fleet.root, stderr=subprocess.PIPE, text=True)
    # Kill it once some requests were answered and others are in flight (each takes 300 ms).
    wait_until_writing(run, state, settled=2)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    requests, settled = _in_flight(state)
    assert requests > settled >= 2

    db = ledger.open_reader(state)
    [killed] = ledger.runs(db)
    assert killed.state == "unfinished"
    pending = [c for c in ledger.run_changes(db, killed.run_id) if c.outcome == "pending"]
    assert pending
    host = pending[0].hostname
    shown = fleet.cli("history", host)
    assert "pending (never settled" in shown.stdout
    assert fleet.cli("audit", "verify").returncode == 0

    rerun = fleet.cli("update", "-q")
    assert rerun.returncode == 1, rerun.stderr
    assert f"run {killed.run_id} ended without finishing" in rerun.stderr
    runs = _json(fleet.cli("runs", "--json"))
    assert isinstance(runs, list)
    assert [r["state"] for r in runs] == ["finished", "stopped"]
    assert runs[1]["details"]["unsettled"] == requests - settled
    history = _json(fleet.cli("history", host, "--json"))
    assert isinstance(history, list)
    assert "pending" in [h["outcome"] for h in history if h["run_id"] == killed.run_id]
    assert fleet.cli("audit", "verify").returncode == 0
    assert json.loads(fleet.cli("plan", "--json").stdout)["counts"]["changes"] == 0


def _last_success(metrics: Path) -> float:
    line = next(x for x in metrics.read_text().splitlines() if x.startswith("sos_inventory_last_success"))
    return float(line.split()[-1])


def test_the_last_success_metric_comes_from_the_ledger_even_with_no_earlier_metrics_file(
    fleet: Fleet,
) -> None:
    assert fleet.cli("update", "--metrics-file", str(fleet.root / "first.prom")).returncode == 1
    succeeded = _last_success(fleet.root / "first.prom")
    fresh = fleet.root / "fresh.prom"  # e.g. a new agent: no metrics file of the earlier run
    failed = fleet.cli("update", "--metrics-file", str(fresh), env=fleet.env(token="tok-wrong-SECRET"))
    assert failed.returncode == 4, failed.stderr
    assert _last_success(fresh) == succeeded
    with open_store(fleet.root / ".sos-inventory").reader() as book:
        assert book.last_success((0, 1)) is not None

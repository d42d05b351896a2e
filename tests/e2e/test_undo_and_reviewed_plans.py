"""undo RUN_ID and reviewed plans (README, Evidence) through the real CLI and the reference server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sos_inventory.sync.reviewed import plan_digest
from tests.e2e.conftest import EXPECTED_CHANGES, SEED_SERVERS, Fleet
from tests.e2e.test_drift import hand_edit


def _seeded_state() -> dict[str, tuple[str, str, str]]:
    return {s["unid"]: (s["application"], s["environment"], s["status"]) for s in SEED_SERVERS}


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / "report.json").read_text())
    return data


def test_undo_restores_every_record_the_run_changed_except_one_edited_since(fleet: Fleet) -> None:
    update = fleet.cli("update", "--json")
    run_id = json.loads(update.stdout)["run_id"]
    # Edited after the run: neither the value it wrote nor the one before (that would be in step).
    hand_edit(fleet, "ALC", "A05", status="Live")

    preview = fleet.cli("undo", run_id, "--json")
    assert preview.returncode == 1, preview.stderr  # one change is stale
    outcomes = {c["unid"]: c["outcome"] for c in json.loads(preview.stdout)["changes"]}
    assert outcomes == {unid: "stale" if unid == "A05" else "planned" for unid in EXPECTED_CHANGES}
    assert fleet.state()["A01"][2] == "Live"  # printing the plan wrote nothing

    undo = fleet.cli("undo", run_id, "--apply", "--report-dir", str(fleet.root / "undo"))
    assert undo.returncode == 1, undo.stderr
    report = _report(fleet.root / "undo")
    assert report["command"] == "undo" and report["counts"]["applied"] == len(EXPECTED_CHANGES) - 1
    [stale] = [p for p in report["problems"] if p["category"] == "stale_plan"]
    assert (
        f"changed since run {run_id}" in stale["message"]
        and "prod-dal10-carrier2-worker-05" in stale["message"]
    )
    expected = _seeded_state()
    expected["A05"] = ("containers-kubernetes", "PROD-US-SOUTH", "Live")  # the hand edit stays
    assert fleet.state() == expected

    runs = json.loads(fleet.cli("runs", "--json").stdout)
    assert [(r["command"], r["exit_code"]) for r in runs] == [("undo", 1), ("update", 1)]
    history = json.loads(fleet.cli("history", "prod-dal10-carrier2-worker-01", "--json").stdout)
    assert [(h["after"], h["rule"]) for h in history] == [("Build", f"undo {run_id}"), ("Live", "lifecycle")]
    assert fleet.cli("audit", "verify").returncode == 0


def test_undo_of_an_unknown_run_is_a_usage_error(fleet: Fleet) -> None:
    assert fleet.cli("update").returncode == 1
    result = fleet.cli("undo", "20200101T000000Z-0000")
    assert result.returncode == 2
    assert "not in the ledger" in result.stderr


def test_a_reviewed_plan_applies_its_changes_and_stales_one_changed_since(fleet: Fleet) -> None:
    plan_file = fleet.root / "PLAN.json"
    made = fleet.cli("plan", "--out", str(plan_file))
    assert made.returncode == 1, made.stderr
    saved = json.loads(plan_file.read_text())
    assert {c["unid"] for c in saved["changes"]} == EXPECTED_CHANGES
    assert saved["c_codes"] == ["ALC", "ALC_FR2"] and len(saved["inputs"]) == 3  # config and 2 exports
    hand_edit(fleet, "ALC", "A02", status="Available")  # changed after the review

    fleet.server.reset_stats()
    result = fleet.cli("update", "--plan", str(plan_file), "--report-dir", str(fleet.root / "applied"))
    assert result.returncode == 1, result.stderr
    report = _report(fleet.root / "applied")
    outcomes = {c["unid"]: c["outcome"] for c in report["changes"]}
    assert outcomes == {unid: "stale" if unid == "A02" else "applied" for unid in EXPECTED_CHANGES}
    assert report["counts"]["stale"] == 1
    stats = fleet.server.stats()["by_kind"]
    assert stats["update"] == len(EXPECTED_CHANGES) - 1
    assert stats["query_hostname"] == len(EXPECTED_CHANGES)  # per-host re-reads, no bulk read
    assert fleet.state()["A02"][2] == "Available"


def test_a_plan_older_than_max_plan_age_is_refused(fleet: Fleet) -> None:
    plan_file = fleet.root / "PLAN.json"
    assert fleet.cli("plan", "--out", str(plan_file)).returncode == 1
    saved = json.loads(plan_file.read_text())
    saved["created_at"] = (datetime.now(UTC) - timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    saved["digest"] = plan_digest(saved)  # as if saved 25 hours ago
    plan_file.write_text(json.dumps(saved))
    fleet.server.reset_stats()
    refused = fleet.cli("update", "--plan", str(plan_file))
    assert refused.returncode == 3, refused.stderr
    assert "older than --max-plan-age 24.0h" in refused.stderr
    assert fleet.server.stats()["by_kind"].get("update", 0) == 0
    accepted = fleet.cli("update", "--plan", str(plan_file), "--max-plan-age", "48h")
    assert accepted.returncode == 0, accepted.stderr


def test_a_plan_for_another_inventory_or_not_a_plan_is_refused(fleet: Fleet) -> None:
    plan_file = fleet.root / "PLAN.json"
    assert fleet.cli("plan", "--out", str(plan_file)).returncode == 1
    other = fleet.cli("update", "--plan", str(plan_file), url="http://127.0.0.1:9")
    # The plan is sound; the run is pointed at the wrong inventory: a usage error naming both.
    assert other.returncode == 2 and "was made on the inventory" in other.stderr
    assert f"--inventory-url {fleet.server.url}" in other.stderr and "http://127.0.0.1:9" in other.stderr
    plan_file.write_text("{}")
    assert fleet.cli("update", "--plan", str(plan_file)).returncode == 3

"""The real CLI against the real reference server on loopback, with a real SQLite file."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.e2e.conftest import (
    EXPECTED,
    EXPECTED_CHANGES,
    READER_TOKEN,
    SEED_SERVERS,
    TOKEN,
    Fleet,
)


def _all_output(fleet: Fleet, *results: object) -> str:
    texts = [getattr(r, "stdout", "") + getattr(r, "stderr", "") for r in results]
    for path in fleet.root.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".xml", ".md") and path.name != "seed.json":
            texts.append(path.read_text(encoding="utf-8"))
    return "\n".join(texts)


def test_update_brings_every_record_to_the_state_the_spec_defines(fleet: Fleet) -> None:
    fleet.server.reset_stats()
    result = fleet.cli("update", "--report-dir", str(fleet.root / "reports"))
    assert result.returncode == 1, result.stderr  # one ambiguous duplicate and one invalid row
    assert fleet.state() == EXPECTED

    stats = fleet.server.stats()["by_kind"]
    alc_records = sum(1 for s in SEED_SERVERS if s["c_code"] == "ALC")
    fr2_records = len(SEED_SERVERS) - alc_records
    assert stats["query"] == math.ceil(alc_records / 4) + math.ceil(fr2_records / 4)  # page_size 4
    assert stats["query_hostname"] == 0  # never one query per machine
    assert stats["applications"] == stats["environments"] == 2  # one per C_Code
    assert stats["update"] == len(EXPECTED_CHANGES)  # exactly one update per record that differs

    report = json.loads((fleet.root / "reports" / "report.json").read_text())
    assert report["version"] == 1
    assert report["command"] == "update"
    assert report["exit_code"] == 1
    assert report["now"] == "2026-11-27T12:00:00Z"
    assert report["counts"] == {
        "devices": 16,
        "excluded": 1,
        "invalid": 1,
        "in_step": 1,
        "changes": 11,
        "applied": 11,
        "failed": 0,
        "not_attempted": 0,
        "unknown": 0,
        "not_in_inventory": 1,
        "ambiguous": 1,
        "unowned": 1,
        "stale": 0,
        "orphans": 5,  # A07A, A08A, A09B (duplicates told apart), A99, and A98 in the other C_Code
    }
    assert {c["unid"] for c in report["changes"]} == EXPECTED_CHANGES
    assert all(c["outcome"] == "applied" for c in report["changes"])
    a05 = next(c for c in report["changes"] if c["unid"] == "A05")
    assert (a05["before"], a05["after"]) == ({"status": "Build"}, {"status": "Available"})
    categories = sorted(p["category"] for p in report["problems"])
    assert categories == ["duplicate_hostname", "input_error"]
    duplicate = next(p for p in report["problems"] if p["category"] == "duplicate_hostname")
    assert duplicate["hostname"] == "prod-dal10-carrier2-worker-10"
    assert duplicate["message"].startswith(
        "SOS inventory returned an unexpected number of servers when querying"
    )
    assert duplicate["action"]
    invalid = next(p for p in report["problems"] if p["category"] == "input_error")
    assert "line 15" in invalid["message"] and "2026-13-45" in invalid["message"]

    junit = ET.parse(fleet.root / "reports" / "junit.xml").getroot()
    assert junit.get("tests") == "13" and junit.get("failures") == "2"
    summary = (fleet.root / "reports" / "summary.md").read_text()
    assert "## Changes (11)" in summary and "prod-dal10-carrier2-worker-10" in summary

    # The console shows a table of changes and the problems with their action.
    assert "prod-dal10-carrier2-worker-05" in result.stdout and "Build -> Available" in result.stdout
    assert "[duplicate_hostname]" in result.stdout
    assert "action:" in result.stderr  # the closing diagnosis

    # Idempotence: a second plan finds nothing to change, and a second update writes nothing.
    fleet.server.reset_stats()
    again = fleet.cli("plan", "--json")
    assert again.returncode == 1
    assert json.loads(again.stdout)["counts"]["changes"] == 0
    assert fleet.cli("update", "-q").returncode == 1
    assert fleet.server.stats()["by_kind"]["update"] == 0
    assert fleet.state() == EXPECTED
    assert TOKEN not in _all_output(fleet, result, again)


def test_plan_writes_nothing_and_lists_the_changes(fleet: Fleet) -> None:
    before = fleet.state()
    result = fleet.cli("plan", "--json", "--report-dir", str(fleet.root / "plan"))
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert {c["unid"] for c in data["changes"]} == EXPECTED_CHANGES
    assert {c["outcome"] for c in data["changes"]} == {"planned"}
    assert data["counts"]["applied"] == 0
    assert fleet.server.stats()["by_kind"]["update"] == 0
    assert fleet.state() == before


def test_c_code_filter_never_touches_the_other_inventory(fleet: Fleet) -> None:
    fleet.server.reset_stats()
    result = fleet.cli("update", "--c-code", "ALC_FR2", "--json")
    assert result.returncode == 0, result.stderr
    assert [c["unid"] for c in json.loads(result.stdout)["changes"]] == ["F01"]
    assert set(fleet.server.stats()["by_c_code"]) == {"ALC_FR2"}
    state = fleet.state()
    assert state["F01"] == EXPECTED["F01"]
    assert state["A01"][2] == "Build"  # ALC untouched


def test_wrong_token_stops_at_once_with_exit_4_and_never_shows_the_token(fleet: Fleet) -> None:
    fleet.server.reset_stats()
    wrong = "tok-wrong-77aa88bb-SECRET"
    result = fleet.cli("update", "--report-dir", str(fleet.root / "r"), env=fleet.env(token=wrong))
    assert result.returncode == 4
    assert "auth_failure" in result.stderr
    assert "SOS inventory returned an error when querying" in result.stderr
    assert fleet.server.stats()["requests"] <= 6  # a handful of reads, no write
    assert fleet.server.stats()["by_kind"]["update"] == 0
    report = json.loads((fleet.root / "r" / "report.json").read_text())
    assert report["exit_code"] == 4 and report["problems"][0]["category"] == "auth_failure"
    assert wrong not in _all_output(fleet, result)


def test_reader_role_cannot_update_and_the_run_stops(fleet: Fleet) -> None:
    result = fleet.cli(
        "update",
        "--json",
        "--concurrency",
        "1",
        env=fleet.env(token=READER_TOKEN, email="reader@example.com"),
    )
    assert result.returncode == 4
    data = json.loads(result.stdout)
    assert data["counts"]["applied"] == 0
    assert data["counts"]["failed"] == 1  # the first refused write stops the run
    assert {c["outcome"] for c in data["changes"]} == {"failed", "not_attempted"}
    assert "SOS inventory returned an error when updating" in result.stderr
    assert READER_TOKEN not in result.stdout + result.stderr


def test_rule_value_unknown_to_the_inventory_is_exit_2_before_any_write(fleet: Fleet, tmp_path: Path) -> None:
    text = fleet.config.read_text().replace("PROD-EU-CENTRAL", "PROD-MARS")
    fleet.config.write_text(text)
    fleet.server.reset_stats()
    result = fleet.cli("update")
    assert result.returncode == 2
    assert "'PROD-MARS' is not known to the ALC_FR2 inventory" in result.stderr
    assert fleet.server.stats()["by_kind"]["update"] == 0


def test_unreadable_export_is_exit_3_with_no_request(fleet: Fleet) -> None:
    (fleet.root / "softlayer-data" / "Acct2051458" / "devices.csv").write_bytes(b"\xff\xfe\x00garbage")
    fleet.server.reset_stats()
    result = fleet.cli("update")
    assert result.returncode == 3
    assert "Acct2051458/devices.csv: not UTF-8" in result.stderr
    assert fleet.server.stats()["requests"] == 0


def test_inventory_unreachable_is_exit_4_with_the_runbook_message(fleet: Fleet) -> None:
    result = fleet.cli("plan", url="http://127.0.0.1:9")  # nothing listens on port 9
    assert result.returncode == 4
    assert "Failed to query SOS inventory" in result.stderr
    assert "cause: network_timeout" in result.stderr
    assert "action:" in result.stderr


def test_validate_and_explain_need_no_network(fleet: Fleet) -> None:
    valid = fleet.cli("validate")
    assert valid.returncode == 1  # the invalid row
    assert "line 15" in valid.stdout and "16 rows in 2 file(s)" in valid.stdout
    why = fleet.cli("explain", "PROD-DAL10-CARRIER2-WORKER-03.alchemy.ibm.com")
    assert why.returncode == 0
    assert "Build until 2026-11-27T12:00Z, then Live" in why.stdout
    assert "ownership.application[1]" in why.stdout
    assert fleet.cli("explain", "prod-dal10-vip-01").stdout.count("excluded") == 1
    assert fleet.cli("explain", "no-such-host").returncode == 1


def test_per_host_strategy_reaches_the_same_state_with_one_query_per_hostname(fleet: Fleet) -> None:
    fleet.server.reset_stats()
    result = fleet.cli("update", "--query-strategy", "per-host", "--json")
    assert result.returncode == 1, result.stderr
    assert fleet.state() == EXPECTED
    stats = fleet.server.stats()["by_kind"]
    assert stats["query_hostname"] == 13 + 1  # distinct valid hostnames of ALC and ALC_FR2
    assert stats["query"] == 2  # one 1-record page per C_Code, for the inventory size
    data = json.loads(result.stdout)
    assert data["counts"]["orphans"] == 0  # host by host, orphans cannot be told
    assert data["records"] == {"ALC": 20, "ALC_FR2": 1}


def test_auto_strategy_picks_per_host_when_it_takes_fewer_requests(fleet: Fleet) -> None:
    fleet.config.write_text(fleet.config.read_text().replace("page_size: 4", "page_size: 1"))
    fleet.server.reset_stats()
    result = fleet.cli("plan", "--c-code", "ALC", "--max-rps", "200", "-v")
    assert result.returncode == 1, result.stderr
    stats = fleet.server.stats()["by_kind"]
    assert stats["query"] == 1  # page 1 told the size: 20 records in 20 pages
    assert stats["query_hostname"] == 13  # 13 hostnames < 19 remaining pages
    assert "per-host queries" in result.stderr

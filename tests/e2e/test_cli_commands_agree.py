"""Commands that do not contradict themselves: validate, explain, usage errors and the Cancellation
Date, through the real CLI (and the real reference server where a write is at stake)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.builders import row, write_csv
from tests.e2e.conftest import ALC_ROWS, Fleet


def _rewrite_alc(fleet: Fleet, rows: list[dict[str, str]]) -> None:
    write_csv(fleet.root / "softlayer-data" / "Acct531277" / "devices.csv", rows)


def test_validate_finds_a_machine_twice_in_the_exports_exit_1_naming_it(fleet: Fleet) -> None:
    twice = row("prod-dal10-carrier2-worker-15", provision="2026-01-01", device_id="9999")
    _rewrite_alc(fleet, [*ALC_ROWS, twice])
    result = fleet.cli("validate")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Duplicate hostname in the exports: prod-dal10-carrier2-worker-15" in result.stdout
    assert "unexpected number of servers" not in result.stdout
    assert not any(" OK" in line for line in result.stdout.splitlines())


def test_validate_on_a_header_only_export_exits_3_like_plan(fleet: Fleet) -> None:
    write_csv(fleet.root / "softlayer-data" / "Acct2051458" / "devices.csv", [])
    result = fleet.cli("validate")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "has a header but no machine" in result.stdout
    assert "OK" not in result.stdout
    assert fleet.cli("plan").returncode == 3


def test_validate_says_ok_only_when_it_exits_0(fleet: Fleet) -> None:
    _rewrite_alc(fleet, [r for r in ALC_ROWS if r["Provision Date"] != "2026-13-45"])
    clean = fleet.cli("validate")
    assert clean.returncode == 0 and ": OK;" in clean.stdout
    _rewrite_alc(fleet, ALC_ROWS)  # one invalid row
    dirty = fleet.cli("validate")
    assert dirty.returncode == 1 and "OK" not in dirty.stdout


def test_explain_json_prints_the_decision_as_json(fleet: Fleet) -> None:
    result = fleet.cli("explain", "prod-dal10-carrier2-worker-03", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    [machine] = data["machines"]
    assert machine["application"]["value"] == "containers-kubernetes"
    assert machine["application"]["rule"] == "ownership.application[1]"
    assert machine["status"]["value"] == "Build"
    assert machine["status"]["rule"] == "lifecycle"
    assert machine["status"]["build_until"] == "2026-11-27T12:00:01Z"
    missing = fleet.cli("explain", "no-such-host", "--json")
    assert missing.returncode == 1 and json.loads(missing.stdout)["found"] is False


@pytest.mark.parametrize(
    ("args", "env_drop", "fragment", "action"),
    [
        ((), "SOS_API_TOKEN", "SOS_API_TOKEN not set", "action: Export the SOS API user's e-mail"),
        (("--concurrency", "0"), None, "--concurrency 0: must be at least 1", "action: Correct the option"),
        (("--deadline", "99999999999d"), None, "longer than the 3650d", "action: Correct the option"),
    ],
)
def test_usage_errors_are_exit_2_with_the_action_that_fixes_them(
    fleet: Fleet, args: tuple[str, ...], env_drop: str | None, fragment: str, action: str
) -> None:
    env = {k: v for k, v in fleet.env().items() if k != env_drop}
    result = fleet.cli("plan", *args, env=env)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr
    assert action in result.stderr
    assert "Fix the export or the config" not in result.stderr
    assert "Traceback" not in result.stderr


def test_now_yesterday_is_a_usage_error_saying_how_to_give_the_clock(fleet: Fleet) -> None:
    # Not through fleet.cli, which gives its own --now after the arguments (the last one wins).
    command = [
        sys.executable,
        "-m",
        "sos_inventory",
        "plan",
        "--config",
        str(fleet.config),
        "--now",
        "yesterday",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=fleet.env())
    assert result.returncode == 2, result.stderr
    assert "--now 'yesterday'" in result.stderr
    assert "e.g. --now 2026-11-27T12:00:00Z" in result.stderr
    assert fleet.server.stats()["requests"] == 0


def test_a_build_window_out_of_range_is_a_config_error(fleet: Fleet) -> None:
    settings = yaml.safe_load(fleet.config.read_text(encoding="utf-8"))
    settings["lifecycle"] = {"build_window": "99999999999d"}
    fleet.config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    result = fleet.cli("validate")
    assert result.returncode == 2
    assert "lifecycle.build_window" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("word", ["N/A", "none", "-", "NULL"])
def test_a_cancellation_null_word_keeps_the_status_by_age(fleet: Fleet, word: str) -> None:
    rows = [dict(r) for r in ALC_ROWS]
    for r in rows:
        if r["Device Name"] == "prod-dal10-carrier2-worker-01":  # Build in the inventory, Live by age
            r["Cancellation Date"] = word
    _rewrite_alc(fleet, rows)
    result = fleet.cli("update", "-q")
    assert result.returncode == 1, result.stderr  # the fleet's deliberate invalid row and ambiguity
    assert fleet.state()["A01"][2] == "Live"


def test_a_cancellation_typo_is_an_invalid_row_and_the_record_is_untouched(fleet: Fleet) -> None:
    rows = [dict(r) for r in ALC_ROWS]
    for r in rows:
        if r["Device Name"] == "prod-dal10-carrier2-worker-15":  # Live, in step
            r["Cancellation Date"] = "2026-11-3O"
    _rewrite_alc(fleet, rows)
    before = fleet.state()["A15"]
    result = fleet.cli("update", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert any(
        re.search(r"line \d+: column 'Cancellation Date' value '2026-11-3O'", p["message"])
        for p in data["problems"]
    )
    assert "A15" not in {c["unid"] for c in data["changes"]}
    assert fleet.state()["A15"] == before == ("containers-kubernetes", "PROD-US-SOUTH", "Live")


def test_verbose_console_and_summary_list_the_hostnames(fleet: Fleet, tmp_path: Path) -> None:
    result = fleet.cli("plan", "-v", "--report-dir", str(tmp_path / "r"))
    assert result.returncode == 1
    summary = (tmp_path / "r" / "summary.md").read_text(encoding="utf-8")
    for needle in (
        "Not in inventory (1)",
        "ALC prod-dal10-carrier2-worker-13",
        "Ambiguous (1)",
        "ALC prod-dal10-carrier2-worker-10",
        "Unowned (1)",
        "Orphan records (5)",
        "ALC prod-dal10-old-01 (unid A99)",
    ):
        assert needle in summary, needle
        assert needle in result.stdout, needle

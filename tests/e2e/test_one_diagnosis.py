"""Each failure ends with one diagnosis, and its own: one ``error:`` line, the action that fixes that
very error (never the generic "fix the export" beside a specific one), and the rerun advice that
the HTTP status gives, through the real CLI and the reference server."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sos_inventory.sync.reviewed import plan_digest
from tests.e2e.conftest import EXPECTED_CHANGES, READER_TOKEN, Fleet
from tests.e2e.small_fleet import report, small_fleet

__all__ = ["small_fleet"]  # the fixture

GENERIC = "Fix the export or the config named in the message"


def closing_block(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The one diagnosis on stderr: its lines by name (error, cause, why, rerun, action)."""
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    block = {}
    for line in lines[lines.index(errors[0]) :]:
        name, _, text = line.partition(": ")
        if name in ("error", "cause", "why", "rerun", "action") and name not in block:
            block[name] = text
    assert list(block)[:2] == ["error", "cause"] and "action" in block, result.stderr
    return block


def test_a_plan_too_old_says_make_a_new_plan_once(fleet: Fleet) -> None:
    plan_file = fleet.root / "PLAN.json"
    assert fleet.cli("plan", "--out", str(plan_file)).returncode == 1
    saved = json.loads(plan_file.read_text())
    saved["created_at"] = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    saved["digest"] = plan_digest(saved)  # as if saved three days ago
    plan_file.write_text(json.dumps(saved))
    result = fleet.cli("update", "--plan", str(plan_file))
    assert result.returncode == 3
    block = closing_block(result)
    assert "older than --max-plan-age" in block["error"]
    assert block["action"].startswith("Make and review a new plan") and GENERIC not in result.stderr
    assert block["rerun"] == "will not help until it is fixed"


def test_an_unknown_run_id_names_the_command_that_lists_the_runs(fleet: Fleet) -> None:
    result = fleet.cli("undo", "20260101T000000Z-abcd")
    assert result.returncode == 2
    block = closing_block(result)
    assert "run 20260101T000000Z-abcd" in result.stderr
    assert "`sos-inventory runs --state-dir" in block["action"] and GENERIC not in result.stderr


def test_a_missing_config_says_where_the_config_is_looked_for(fleet: Fleet) -> None:
    for command in (["plan"], ["update"], ["validate"]):
        result = subprocess.run(
            [*fleet.command(*command)[:4], "--config", str(fleet.root / "nope.yaml")],
            cwd=fleet.root,
            env=fleet.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        block = closing_block(result)
        assert block["action"].startswith("Point --config at the job's YAML config"), command
        assert "config file not found" in result.stderr and GENERIC not in result.stderr


def test_an_insecure_url_says_use_https(fleet: Fleet) -> None:
    result = fleet.cli("plan", url="http://inventory.example.com")
    assert result.returncode == 2
    block = closing_block(result)
    assert block["action"].startswith("Use the SOS API's https:// URL") and GENERIC not in result.stderr


def test_an_unwritable_report_folder_says_so_once(fleet: Fleet) -> None:
    (fleet.root / "a-file").write_text("", encoding="utf-8")
    result = fleet.cli("plan", "--report-dir", str(fleet.root / "a-file" / "reports"))
    assert result.returncode == 3
    block = closing_block(result)
    assert "the report folder cannot be written" in block["error"]
    assert "a-file is a file, not a folder" in result.stderr
    assert block["action"].startswith("Point --report-dir at a folder") and GENERIC not in result.stderr


def test_a_second_undo_finds_the_records_already_restored_and_ends_in_step(fleet: Fleet) -> None:
    run_id = json.loads(fleet.cli("update", "--json").stdout)["run_id"]
    first = fleet.cli("undo", run_id, "--apply")
    assert first.returncode == 0, first.stderr
    assert f"{len(EXPECTED_CHANGES)} change(s): {len(EXPECTED_CHANGES)} applied, 0 failed" in first.stdout
    again = fleet.cli("undo", run_id, "--apply", "--json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["changes"] == [] and data["counts"]["in_step"] == len(EXPECTED_CHANGES)
    assert f"warning: {len(EXPECTED_CHANGES)} record(s) already hold the values to write" in again.stderr
    assert "error:" not in again.stderr and "Make a new plan" not in again.stderr


def test_a_config_problem_lists_every_problem_under_one_error_line(fleet: Fleet) -> None:
    text = fleet.config.read_text(encoding="utf-8").replace("accounts:", "acounts:")
    fleet.config.write_text(text + "\nsafety: {max_changes: -1}\n", encoding="utf-8")
    result = fleet.cli("plan")
    assert result.returncode == 2
    block = closing_block(result)
    assert block["error"] == "configuration problem(s):"
    items = re.findall(r"^  - (.+)$", result.stderr, re.MULTILINE)
    assert any("did you mean 'accounts'" in item for item in items)
    assert any("safety.max_changes" in item for item in items)


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_rejected_write_is_not_said_to_be_transient(small_fleet: Fleet, status: int) -> None:
    small_fleet.server.set_faults(error_rates={str(status): 1.0}, kinds=["update"])
    out = small_fleet.root / "out"
    result = small_fleet.cli("update", "--concurrency", "1", "--report-dir", str(out))
    assert result.returncode == 1, result.stderr
    block = closing_block(result)
    assert block["cause"] == "sos_api_error"
    assert block["rerun"] == "will not help until it is fixed"
    [problem] = [p for p in report(out)["problems"] if p["category"] == "sos_api_error"]
    assert problem["transient"] is False
    assert "Rerun the job; SOS API outages are often short" not in problem["actions"]


def test_a_503_is_still_said_to_be_transient(small_fleet: Fleet) -> None:
    small_fleet.server.set_faults(error_rates={"503": 1.0}, kinds=["update"])
    result = small_fleet.cli("update", "--concurrency", "1")
    assert result.returncode == 4, result.stderr
    block = closing_block(result)
    assert block["cause"] == "sos_api_error" and block["rerun"] == "advised, the cause is usually transient"


def test_a_403_asks_for_the_role_and_a_401_for_a_new_token(small_fleet: Fleet) -> None:
    reader = small_fleet.cli("update", env=small_fleet.env(token=READER_TOKEN, email="reader@example.com"))
    assert reader.returncode == 4, reader.stderr
    block = closing_block(reader)
    assert block["cause"] == "auth_failure"
    assert block["action"].startswith("Request the Editor role") and "renew" not in block["action"].lower()
    wrong = small_fleet.cli("update", env=small_fleet.env(token="a-wrong-token"))
    assert wrong.returncode == 4, wrong.stderr
    block = closing_block(wrong)
    assert block["action"].startswith("Renew the access token") and "Editor role" not in block["action"]


def test_a_network_ticket_names_the_inventory_s_and_the_agent_s_addresses(small_fleet: Fleet) -> None:
    out = small_fleet.root / "out"
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    result = small_fleet.cli("plan", "--report-dir", str(out), url=closed)
    assert result.returncode == 4, result.stderr
    [problem] = [p for p in report(out)["problems"] if p["category"] == "network_timeout"]
    ticket = problem["ticket"]
    assert "SOS API: 127.0.0.1:9" in ticket
    assert re.search(r"Jenkins agent: 127\.\d+\.\d+\.\d+", ticket), ticket
    assert "IP addresses involved: Jenkins agent" not in ticket


def test_a_short_token_never_garbles_the_output_and_is_refused_off_loopback(small_fleet: Fleet) -> None:
    result = small_fleet.cli("plan", url="https://inventory.example.com", env=small_fleet.env(token="x"))
    assert result.returncode == 2
    block = closing_block(result)
    assert "too short for a real access token" in result.stderr and block["action"].startswith(
        "Set SOS_API_TOKEN"
    )
    assert "***" not in result.stderr  # "x" stands whole nowhere here: nothing is masked
    assert "example" in result.stderr
    assert small_fleet.server.stats()["requests"] == 0


def test_a_stopped_run_s_reports_put_the_problems_and_what_is_left_first(small_fleet: Fleet) -> None:
    small_fleet.server.set_faults(error_rates={"401": 1.0}, kinds=["update"])
    out = small_fleet.root / "out"
    result = small_fleet.cli("update", "--concurrency", "1", "--report-dir", str(out))
    assert result.returncode == 4, result.stderr
    summary = (out / "summary.md").read_text(encoding="utf-8")
    order = [summary.index(title) for title in ("## Problems", "## Not attempted (11)", "## Changes (1)")]
    assert order == sorted(order), summary
    assert "A rerun makes these changes." in summary
    console = result.stdout
    order = [console.index(title) for title in ("Stopped:", "Problems (", "Not attempted (11", "Changes (1)")]
    assert order == sorted(order), console
    page = (out / "summary.html").read_text(encoding="utf-8")
    order = [page.index(anchor) for anchor in ('id="problems"', 'id="not-attempted"', 'id="changes"')]
    assert order == sorted(order)


def test_the_exports_commit_is_recorded_when_they_are_a_git_checkout(
    small_fleet: Fleet, tmp_path: Path
) -> None:
    git = small_fleet.root / "softlayer-data" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    commit = "0123456789abcdef0123456789abcdef01234567"
    (git / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (git / "packed-refs").write_text(
        f"# pack-refs with: peeled\n{commit} refs/heads/main\n", encoding="utf-8"
    )
    out = small_fleet.root / "out"
    assert small_fleet.cli("update", "--report-dir", str(out)).returncode == 0
    inputs = report(out)["inputs"]
    assert inputs["devices[1]"] == {
        "path": str(small_fleet.root / "softlayer-data"),
        "commit": commit,
        "ref": "main",
    }
    runs = json.loads(small_fleet.cli("runs", "--json").stdout)
    assert runs[0]["details"]["inputs"]["devices[1]"]["commit"] == commit

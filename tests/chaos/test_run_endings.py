"""Every way a run can end tells the truth: to Jenkins (the exit code), to its reports and to the
person on call. The real CLI against the reference server, as a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.builders import PLANTED_DEFECT
from tests.chaos.conftest import ChaosFleet
from tests.chaos.test_chaos import desired_states
from tests.e2e.conftest import READER_TOKEN, TOKEN
from tests.waiting import catches, wait_for, wait_for_updates

OUTCOMES_OF_AN_ENDED_UPDATE = {"applied", "failed", "not_attempted"}


def read_report(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return data


def junit_counts(folder: Path) -> tuple[int, int]:
    suite = ET.parse(folder / "junit.xml").getroot()
    skipped = sum(1 for case in suite.iter("testcase") if case.find("skipped") is not None)
    assert int(suite.get("skipped", "0")) == skipped
    return skipped, int(suite.get("failures", "0"))


def top_of(path: Path, lines: int = 4) -> str:
    return "\n".join(path.read_text(encoding="utf-8").splitlines()[:lines])


@pytest.mark.server_args("--latency-ms", "30")
def test_a_run_stopped_mid_apply_reports_only_what_happened(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    before, changes, _ = desired_states(fleet)
    fleet.server.reset_stats()
    run = fleet.start("update", "-q", "--concurrency", "2", "--report-dir", str(fleet.root / "r"))
    # Some updates have gone through: now the inventory goes down for writes.
    wait_for_updates(fleet.server, 10, alive=lambda: run.poll() is None)
    fleet.server.set_faults(drop_before=1.0, kinds=["update"])
    _, err = run.communicate(timeout=120)
    assert run.returncode == 4, err
    data = read_report(fleet.root / "r")
    outcomes = [c["outcome"] for c in data["changes"]]
    assert set(outcomes) <= OUTCOMES_OF_AN_ENDED_UPDATE
    assert outcomes.count("not_attempted") > 0
    after = fleet.state()
    changed = {unid for unid in before if before[unid] != after[unid]}
    applied = {c["unid"] for c in data["changes"] if c["outcome"] == "applied"}
    assert applied == changed  # "applied" is exactly what the inventory now shows
    assert data["counts"]["not_attempted"] == outcomes.count("not_attempted")
    skipped, _ = junit_counts(fleet.root / "r")
    assert skipped == outcomes.count("not_attempted")
    top = top_of(fleet.root / "r" / "summary.md")
    assert "Stopped early" in top and "requests in a row failed" in top
    assert data["requests"]["attempts"] >= len(applied)
    assert set(changes) >= applied


@pytest.mark.server_args("--latency-ms", "200")
@pytest.mark.parametrize("moment", ["loading", "reading", "applying"])
def test_sigterm_at_any_moment_gives_143_and_a_report(chaos_fleet: ChaosFleet, moment: str) -> None:
    """As soon as the process catches SIGTERM (the command is still loading), once the
    server has seen its first read, once it has seen its first write (200 ms a request,
    one at a time: the run lasts far longer than the wait for any of these)."""
    fleet = chaos_fleet
    folder = fleet.root / f"term-{moment}"
    fleet.server.reset_stats()
    run = fleet.start("update", "-q", "--concurrency", "1", "--report-dir", str(folder))

    def running() -> bool:
        return run.poll() is None

    if moment == "loading":
        wait_for(lambda: catches(run.pid, signal.SIGTERM), "the SIGTERM handler", alive=running)
    elif moment == "reading":
        wait_for(lambda: fleet.server.stats()["requests"] >= 1, "the first inventory read", alive=running)
    else:
        wait_for_updates(fleet.server, 1, alive=running)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    data = read_report(folder)
    assert data["exit_code"] == 143
    assert "SIGTERM" in data["stopped"]
    assert {c["outcome"] for c in data["changes"]} <= OUTCOMES_OF_AN_ENDED_UPDATE
    assert "Interrupted" in top_of(folder / "summary.md")
    assert TOKEN not in err


@pytest.mark.server_args("--latency-ms", "200")
def test_sigint_while_planning_is_130_and_a_report_not_a_traceback(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    folder = fleet.root / "int"
    fleet.server.reset_stats()
    run = fleet.start("plan", "--report-dir", str(folder))
    wait_for(lambda: fleet.server.stats()["requests"] >= 1, "the first inventory read")
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGINT, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "SIGINT" in read_report(folder)["stopped"]


def test_a_report_folder_that_cannot_be_written_refuses_the_run(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    blocker = fleet.root / "not-a-folder"
    blocker.write_text("a file where the report folder should be\n", encoding="utf-8")
    before = fleet.state()
    fleet.server.reset_stats()
    result = fleet.cli("update", "--report-dir", str(blocker / "reports"))
    assert result.returncode == 3, result.stderr
    assert "the report folder cannot be written" in result.stderr
    assert "is a file, not a folder" in result.stderr
    assert "action: Point --report-dir at a folder" in result.stderr
    assert fleet.server.stats()["requests"] == 0
    assert fleet.state() == before


def test_an_internal_error_is_exit_70_with_the_traceback_beside_the_report(chaos_fleet: ChaosFleet) -> None:
    """A defect (here planted in the planner by the test's own harness) is never exit 1."""
    fleet = chaos_fleet
    folder = fleet.root / "defect"
    command = [sys.executable, "-c", PLANTED_DEFECT, "update", "--config", str(fleet.config)]
    command += [
        "--inventory-url",
        fleet.server.url,
        "--now",
        "2026-11-27T12:00:00Z",
        "--report-dir",
        str(folder),
    ]
    result = subprocess.run(
        command, env=fleet.env(), capture_output=True, text=True, timeout=120, check=False, cwd=fleet.root
    )
    assert result.returncode == 70, result.stderr
    assert "Traceback" not in result.stderr
    assert "cause: code_defect" in result.stderr
    [pointer] = [line for line in result.stderr.splitlines() if line.startswith("traceback: ")]
    saved = Path(pointer.removeprefix("traceback: "))
    assert saved.parent == folder
    assert "ZeroDivisionError: planted by the test" in saved.read_text(encoding="utf-8")
    data = read_report(folder)
    assert data["exit_code"] == 70 and data["problems"][-1]["category"] == "code_defect"
    assert "Internal error" in top_of(folder / "summary.md")
    assert fleet.server.stats()["by_kind"]["update"] == 0


def test_a_closed_stdout_ends_quietly_with_the_run_s_own_exit_code(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    run = fleet.start("plan", "--json")
    assert run.stdout is not None
    run.stdout.close()  # the reader went away, as with `| head`, before a byte was written
    _, err = run.communicate(timeout=120)
    assert run.returncode in (0, 1), err
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_the_report_names_the_run_and_counts_requests_after_an_early_stop(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    folder = fleet.root / "denied"
    fleet.server.reset_stats()
    result = fleet.cli("update", "--report-dir", str(folder), env=fleet.env(token="tok-wrong-SECRET"))
    assert result.returncode == 4
    data = read_report(folder)
    sent = fleet.server.stats()["requests"]
    assert sent > 0 and data["requests"]["attempts"] == sent
    assert data["run_id"][:8].isdigit() and data["run_id"][15] == "Z"
    assert data["config"]["path"] == str(fleet.config) and len(data["config"]["sha256"]) == 64
    assert data["inventory_url"] == fleet.server.url
    assert data["api_user"] == "sre@example.com"
    assert data["c_codes"] == ["ALC", "ALC_FR2"]
    assert data["tool_version"]
    assert "tok-wrong-SECRET" not in json.dumps(data)


def test_one_cause_is_one_problem_naming_every_machine_it_hit(chaos_fleet: ChaosFleet) -> None:
    """A reader's token: every write in flight gets 403. That is one problem, not one per machine."""
    fleet = chaos_fleet
    folder = fleet.root / "reader"
    env = fleet.env(token=READER_TOKEN, email="reader@example.com")
    result = fleet.cli("update", "--concurrency", "8", "--report-dir", str(folder), env=env)
    assert result.returncode == 4, result.stderr
    data = read_report(folder)
    failed = sorted(c["hostname"] for c in data["changes"] if c["outcome"] == "failed")
    assert len(failed) > 1  # several writes were in flight when the first 403 came back
    auth = [p for p in data["problems"] if p["category"] == "auth_failure"]
    assert len(auth) == 1
    assert sorted(auth[0]["hostnames"]) == failed
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert summary.count("[auth_failure]") + summary.count("**auth_failure**") == 1


@pytest.mark.server_args("--latency-ms", "200")
def test_an_interrupted_run_s_closing_diagnosis_is_the_interruption(chaos_fleet: ChaosFleet) -> None:
    """The fleet's exports have problems of their own (unowned, not in inventory); the last word
    on stderr must still be that the run was interrupted, and that a rerun finishes it."""
    fleet = chaos_fleet
    run = fleet.start("update", "--concurrency", "1")
    wait_for_updates(fleet.server, 1, alive=lambda: run.poll() is None)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 143, err
    causes = [line for line in err.splitlines() if line.startswith("cause: ")]
    assert causes[-1] == "cause: interrupted"
    assert "rerun: advised" in err.split("cause: interrupted")[-1]

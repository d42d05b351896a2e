"""The real CLI against the reference server injecting faults: the job heals, stops or refuses.

Every retry here runs with zero backoff (see ``FAST_RETRY``), so no test sleeps for
real except where a server-side latency makes a run last long enough to interrupt.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.conftest import ChaosFleet, write_chaos_config
from tests.e2e.conftest import TOKEN
from tests.e2e.test_evidence import wait_until_writing


def desired_states(
    fleet: ChaosFleet,
) -> tuple[dict[str, tuple[str, str, str]], dict[str, dict[str, str]], int]:
    """The inventory now, each planned change's target fields, and the plan's request count."""
    fleet.server.reset_stats()
    plan = fleet.cli("plan", "--json")
    assert plan.returncode in (0, 1), plan.stderr
    requests = fleet.server.stats()["requests"]
    changes = {c["unid"]: c["after"] for c in json.loads(plan.stdout)["changes"]}
    return fleet.state(), changes, requests


def assert_each_record_old_or_new(
    before: dict[str, tuple[str, str, str]],
    after: dict[str, tuple[str, str, str]],
    changes: dict[str, dict[str, str]],
) -> None:
    fields = ("application", "environment", "status")
    for unid, old in before.items():
        new = tuple(changes.get(unid, {}).get(name, value) for name, value in zip(fields, old, strict=True))
        assert after[unid] in (old, new), f"{unid} is {after[unid]}: neither {old} nor {new}"


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / "report.json").read_text())
    return data


def test_transient_faults_heal_within_the_run(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    before, changes, plan_requests = desired_states(fleet)
    assert len(changes) > 80
    fault_free = plan_requests + len(changes)
    fleet.server.set_faults(
        error_rates={"503": 0.10}, retry_after="mix:1", drop_before=0.03, drop_after=0.02, seed=1234
    )
    fleet.server.reset_stats()
    result = fleet.cli("update", "--report-dir", str(fleet.root / "chaos"), "--concurrency", "8")
    data = report(fleet.root / "chaos")
    stats = fleet.server.stats()
    assert sum(stats["faults"].values()) > 20, stats  # the faults really happened
    outcomes = [c["outcome"] for c in data["changes"]]
    assert set(outcomes) <= {"applied", "failed"}  # every change applied or reported failed
    assert outcomes.count("applied") >= 0.99 * len(changes), result.stderr
    assert result.returncode in (0, 1)
    assert stats["requests"] <= 1.6 * fault_free, (stats["requests"], fault_free)
    assert data["requests"]["retries"] > 0
    assert_each_record_old_or_new(before, fleet.state(), changes)

    fleet.server.set_faults()  # healthy again: a clean rerun converges
    assert fleet.cli("update", "-q").returncode in (0, 1)
    again = fleet.cli("plan", "--json")
    assert json.loads(again.stdout)["counts"]["changes"] == 0


def test_upstream_fully_down_stops_fast_with_exit_4_and_no_write(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    before = fleet.state()
    fleet.server.set_faults(error_rates={"503": 1.0})
    fleet.server.reset_stats()
    started = time.monotonic()
    result = fleet.cli("update", "--report-dir", str(fleet.root / "down"))
    assert time.monotonic() - started < 90
    assert result.returncode == 4
    assert "SOS inventory returned an error when querying" in result.stderr
    assert "cause: sos_api_error" in result.stderr and "action:" in result.stderr
    stats = fleet.server.stats()
    assert stats["by_kind"]["update"] == 0
    assert stats["requests"] <= 4 * 8  # a handful of reads, each tried at most 4 times
    assert fleet.state() == before
    assert report(fleet.root / "down")["problems"][0]["category"] == "sos_api_error"


def test_outage_mid_run_opens_the_breaker_and_lists_what_was_applied(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    before, changes, _ = desired_states(fleet)
    # Reads pass, then every update is dropped: the inventory went down during the run.
    fleet.server.set_faults(drop_before=1.0, kinds=["update"])
    result = fleet.cli("update", "--report-dir", str(fleet.root / "outage"), "--concurrency", "4")
    assert result.returncode == 4
    assert "Failed to update SOS inventory" in result.stderr
    data = report(fleet.root / "outage")
    assert "requests in a row failed" in data["stopped"]
    assert data["counts"]["applied"] == 0
    assert data["counts"]["failed"] >= 5
    assert [c["outcome"] for c in data["changes"]].count("not_attempted") > 0
    assert fleet.server.stats()["requests"] < 4 * len(changes)  # it did not hammer the dead service
    assert fleet.state() == before
    fleet.server.set_faults()
    assert fleet.cli("update", "-q").returncode in (0, 1)
    assert json.loads(fleet.cli("plan", "--json").stdout)["counts"]["changes"] == 0


def test_export_flipping_every_machine_to_available_is_refused(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    for csv_path in (fleet.root / "softlayer-data").glob("*/devices.csv"):
        lines = csv_path.read_text(encoding="utf-8").splitlines()
        header = lines[0].split(",")
        column = header.index("Cancellation Date")
        rows = []
        for line in lines[1:]:
            cells = line.split(",")
            cells[column] = "2026-11-27"
            rows.append(",".join(cells))
        csv_path.write_text("\n".join([lines[0], *rows]) + "\n", encoding="utf-8")
    write_chaos_config(fleet.root, retry=None, safety={"max_changes": 5000, "max_change_ratio": 0.2})
    before = fleet.state()
    fleet.server.reset_stats()
    result = fleet.cli("update", "--report-dir", str(fleet.root / "flip"))
    assert result.returncode == 3, result.stderr
    assert "max_change_ratio" in result.stdout + result.stderr or "would change" in result.stderr
    assert "--force" in result.stderr
    assert fleet.server.stats()["by_kind"]["update"] == 0
    assert fleet.state() == before
    data = report(fleet.root / "flip")
    assert data["safety"]["verdict"] == "refused"
    assert data["problems"][0]["category"] == "safety_guard"
    plan = fleet.cli("plan")
    assert plan.returncode == 3  # plan shows the same verdict


@pytest.mark.server_args("--latency-ms", "40")
def test_two_updates_at_once_one_waits_out_with_exit_5(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    first = fleet.start("update", "-q", "--concurrency", "2")
    time.sleep(1.0)  # well into its run: ~120 updates at 40 ms, 2 at a time
    second = fleet.cli("update", "-q", "--state-dir", str(fleet.root / ".sos-inventory"))
    assert second.returncode == 5
    assert f"pid {first.pid}" in second.stderr
    _, err = first.communicate(timeout=120)
    assert first.returncode in (0, 1), err
    assert json.loads(fleet.cli("plan", "--json").stdout)["counts"]["changes"] == 0


@pytest.mark.server_args("--latency-ms", "40")
def test_sigkill_leaves_no_half_written_record_and_the_next_run_converges(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    before, changes, _ = desired_states(fleet)
    run = fleet.start("update", "-q", "--concurrency", "4", "--report-dir", str(fleet.root / "killed"))
    wait_until_writing(run, fleet.root / ".sos-inventory", settled=5)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    after = fleet.state()
    assert after != before  # it had written something
    assert_each_record_old_or_new(before, after, changes)
    assert not list((fleet.root / "killed").glob("report.json"))  # never half a report
    rerun = fleet.cli("update", "-q")
    assert rerun.returncode in (0, 1), rerun.stderr
    assert json.loads(fleet.cli("plan", "--json").stdout)["counts"]["changes"] == 0


@pytest.mark.server_args("--latency-ms", "40")
def test_sigterm_stops_cleanly_and_writes_the_report(chaos_fleet: ChaosFleet) -> None:
    fleet = chaos_fleet
    before, changes, _ = desired_states(fleet)
    run = fleet.start("update", "-q", "--concurrency", "2", "--report-dir", str(fleet.root / "term"))
    wait_until_writing(run, fleet.root / ".sos-inventory", settled=5)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 128 + signal.SIGTERM, err
    data = report(fleet.root / "term")
    counts = data["counts"]
    assert counts["applied"] > 0
    assert counts["applied"] + counts["failed"] < len(changes)
    assert "SIGTERM" in data["stopped"]
    assert_each_record_old_or_new(before, fleet.state(), changes)
    assert TOKEN not in err


def test_a_service_that_accepts_but_never_answers_times_out_and_stops(chaos_fleet: ChaosFleet) -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    closing = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not closing.is_set():
            try:
                held.append(listener.accept()[0])  # never answered
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        write_chaos_config(
            chaos_fleet.root,
            inventory={
                "url": "http://127.0.0.1:9",
                "timeout": 0.3,
                "retry": {"base_delay": 0, "max_delay": 0},
            },
        )
        started = time.monotonic()
        result = chaos_fleet.cli("plan", url=f"http://127.0.0.1:{listener.getsockname()[1]}")
        assert result.returncode == 4
        assert time.monotonic() - started < 30
        assert "Failed to query SOS inventory" in result.stderr
        assert "no answer within 0.3s" in result.stderr
        assert "cause: network_timeout" in result.stderr
        assert len(held) <= 4 * 6  # 3 reads per C_Code, each tried at most 4 times
    finally:
        closing.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()

"""Every exit code of every command, through the real CLI and the real reference server.

One test per (command, exit code) of SPEC 5. Each starts from the small fleet,
where nothing is wrong, and injects exactly one cause: a bad row, a bad config,
an unreadable export, a safety limit, rejected writes, refused credentials, a
held lock, a signal. Writes are checked on the server, not taken from the output.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sos_inventory.state.sqlite.lock import run_lock
from tests.builders import HEADER, row, write_csv
from tests.e2e.conftest import READER_TOKEN, TOKEN, Fleet
from tests.e2e.small_fleet import HOSTS, report, small_fleet, write_small_config
from tests.e2e.test_diagnose_notify import Receiver
from tests.waiting import GENEROUS, silent_listener, wait_for

__all__ = ["small_fleet"]

EXPORT = Path("softlayer-data") / "Acct531277" / "devices.csv"
ALL_BUILD = {f"U{n:02d}": "Build" for n in range(1, len(HOSTS) + 1)}
ALL_LIVE = dict.fromkeys(ALL_BUILD, "Live")


def statuses(fleet: Fleet) -> dict[str, str]:
    return {unid: status for unid, (_, _, status) in fleet.state().items()}


def add_invalid_row(fleet: Fleet) -> None:
    rows = [row(h) for h in HOSTS] + [row("prod-dal10-carrier2-worker-99", provision="2026-13-45")]
    write_csv(fleet.root / EXPORT, rows)


def header_only_export(fleet: Fleet) -> None:
    write_csv(fleet.root / EXPORT, [])


def unknown_rule_value(fleet: Fleet) -> None:
    """A rule value the inventory does not know: a configuration error found while planning."""
    rules = {"application": [{"when": {"hostname": "-carrier"}, "value": "no-such-app"}], "environment": []}
    write_small_config(fleet.root, ownership=rules)


# -- plan ---------------------------------------------------------------------------


def test_plan_0_the_plan_was_computed_and_nothing_written(small_fleet: Fleet) -> None:
    result = small_fleet.cli("plan", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["changes"] == len(HOSTS)
    assert small_fleet.server.stats()["by_kind"]["update"] == 0


def test_plan_1_an_invalid_row(small_fleet: Fleet) -> None:
    add_invalid_row(small_fleet)
    result = small_fleet.cli("plan")
    assert result.returncode == 1, result.stderr
    assert "1 invalid row(s)" in result.stdout


def test_plan_2_a_rule_value_the_inventory_does_not_know(small_fleet: Fleet) -> None:
    unknown_rule_value(small_fleet)
    result = small_fleet.cli("plan")
    assert result.returncode == 2, result.stderr
    assert "no-such-app" in result.stderr


def test_plan_3_an_export_with_a_header_only(small_fleet: Fleet) -> None:
    header_only_export(small_fleet)
    result = small_fleet.cli("plan")
    assert result.returncode == 3, result.stderr
    assert small_fleet.server.stats()["by_kind"]["update"] == 0


def test_plan_4_credentials_refused(small_fleet: Fleet) -> None:
    result = small_fleet.cli("plan", env=small_fleet.env(token="wrong-token"))
    assert result.returncode == 4, result.stderr
    # Refused credentials are not retried: at most the three first reads, each once.
    refused = small_fleet.server.stats()["by_status"]
    assert set(refused) == {"401"}
    assert refused["401"] <= 3
    assert "wrong-token" not in result.stdout + result.stderr


# -- update -------------------------------------------------------------------------


def test_update_0_every_change_applied(small_fleet: Fleet) -> None:
    result = small_fleet.cli("update", "--report-dir", str(small_fleet.root / "out"))
    assert result.returncode == 0, result.stderr
    assert statuses(small_fleet) == ALL_LIVE
    assert report(small_fleet.root / "out")["counts"]["applied"] == len(HOSTS)
    assert json.loads(small_fleet.cli("plan", "--json").stdout)["counts"]["changes"] == 0


def test_update_1_an_invalid_row_the_rest_applied(small_fleet: Fleet) -> None:
    add_invalid_row(small_fleet)
    result = small_fleet.cli("update")
    assert result.returncode == 1, result.stderr
    assert statuses(small_fleet) == ALL_LIVE


def test_update_1_rejected_writes_alone_make_a_failed_run_that_alerts(small_fleet: Fleet) -> None:
    # Nothing is wrong with the plan: only the writes fail, and that alone must fail the run.
    small_fleet.server.set_faults(error_rates={"422": 1.0}, kinds=["update"])
    out = small_fleet.root / "out"
    with Receiver() as webhook:
        result = small_fleet.cli("update", "--report-dir", str(out), "--notify-url", f"{webhook.url}/hook")
        data = report(out)
        # The same failure again: already alerted, so no second post (a reminder waits a day).
        again = small_fleet.cli("update", "--notify-url", f"{webhook.url}/hook")
    assert result.returncode == again.returncode == 1, result.stderr
    assert data["exit_code"] == 1
    assert data["counts"]["failed"] == len(HOSTS)
    assert "HTTP 422" in result.stderr
    assert len(webhook.posts) == 1
    assert "422" in json.loads(webhook.posts[0]["body"])["text"]
    assert statuses(small_fleet) == ALL_BUILD


def test_update_2_a_bad_option(small_fleet: Fleet) -> None:
    result = small_fleet.cli("update", "--concurrency", "0")
    assert result.returncode == 2, result.stderr
    assert "--concurrency" in result.stderr
    assert small_fleet.server.stats()["requests"] == 0


def test_update_2_a_rule_value_the_inventory_does_not_know(small_fleet: Fleet) -> None:
    unknown_rule_value(small_fleet)
    result = small_fleet.cli("update")
    assert result.returncode == 2, result.stderr
    assert small_fleet.server.stats()["by_kind"]["update"] == 0


def test_update_3_a_safety_limit_refuses_every_write(small_fleet: Fleet) -> None:
    write_small_config(small_fleet.root, safety={"max_changes": 3, "max_change_ratio": 1.0})
    result = small_fleet.cli("update", "--report-dir", str(small_fleet.root / "out"))
    assert result.returncode == 3, result.stderr
    assert "--force" in result.stderr
    data = report(small_fleet.root / "out")
    assert data["safety"]["verdict"] == "refused"
    assert data["stopped"].endswith("; nothing was written")
    assert small_fleet.server.stats()["by_kind"]["update"] == 0
    assert statuses(small_fleet) == ALL_BUILD


def test_update_3_an_export_with_a_header_only(small_fleet: Fleet) -> None:
    header_only_export(small_fleet)
    result = small_fleet.cli("update")
    assert result.returncode == 3, result.stderr
    assert statuses(small_fleet) == ALL_BUILD


def test_update_4_a_reader_may_not_write(small_fleet: Fleet) -> None:
    reader = small_fleet.env(token=READER_TOKEN, email="reader@example.com")
    out = small_fleet.root / "out"
    result = small_fleet.cli("update", "--concurrency", "1", "--report-dir", str(out), env=reader)
    assert result.returncode == 4, result.stderr
    # Stopped at the first write: how far it got, in the update's terms.
    assert report(out)["stopped"].endswith(f": 0 applied, 1 failed, {len(HOSTS) - 1} not attempted")
    assert small_fleet.server.stats()["by_status"].get("403") == 1  # the first write; no retry, no other
    assert statuses(small_fleet) == ALL_BUILD
    assert READER_TOKEN not in result.stdout + result.stderr


def test_update_4_nothing_listens_at_the_inventory_url(small_fleet: Fleet, tmp_path: Path) -> None:
    with silent_listener() as closed:
        url = closed.url
    out = small_fleet.root / "out"
    result = small_fleet.cli(
        "update", "--report-dir", str(out), url=url
    )  # the port was free, and is closed now
    assert result.returncode == 4, result.stderr
    assert "cause: network_" in result.stderr
    assert report(out)["stopped"].endswith(": no plan was made, nothing was written")
    assert statuses(small_fleet) == ALL_BUILD


def test_update_5_another_run_holds_the_lock(small_fleet: Fleet) -> None:
    state = small_fleet.root / "state"
    with run_lock(state):
        result = small_fleet.cli(
            "update", "--state-dir", str(state), "--report-dir", str(small_fleet.root / "out")
        )
    assert result.returncode == 5, result.stderr
    assert "holds" in result.stderr or "pid" in result.stderr
    assert small_fleet.server.stats()["requests"] == 0
    assert not (small_fleet.root / "out" / "report.json").exists()  # the running job owns the reports


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_update_130_143_a_signal_stops_the_run(small_fleet: Fleet, signal_number: int) -> None:
    # The run waits on an inventory that never answers: the signal surely lands mid-run.
    with silent_listener() as silent, Receiver() as webhook:
        run = small_fleet.start(
            "update",
            "--report-dir",
            str(small_fleet.root / "out"),
            "--notify-url",
            f"{webhook.url}/hook",
            url=silent.url,
        )
        wait_for(lambda: silent.held, "the run to query the inventory", alive=lambda: run.poll() is None)
        run.send_signal(signal_number)
        _, err = run.communicate(timeout=GENEROUS)
    assert run.returncode == 128 + signal_number, err
    assert TOKEN not in err
    assert webhook.posts == []  # an interrupted run says nothing of failures it did not see through


def test_plan_70_an_internal_error(small_fleet: Fleet) -> None:
    # A defect planted in the planner by a harness around the real entry point.
    harness = (
        "import sys\n"
        "import sos_inventory.sync.engine as job\n"
        "def broken(*args, **kwargs):\n"
        "    raise KeyError('planted by the test')\n"
        "job.build_plan = broken\n"
        "from sos_inventory.console import main\n"
        "sys.exit(main())\n"
    )
    command = [sys.executable, "-c", harness, *small_fleet.command("plan")[3:]]
    result = subprocess.run(
        command, env=small_fleet.env(), capture_output=True, text=True, timeout=GENEROUS, check=False
    )
    assert result.returncode == 70, result.stderr
    assert "cause: code_defect" in result.stderr
    assert "Traceback" not in result.stderr


# -- validate and explain: offline --------------------------------------------------


def test_validate_0_clean(small_fleet: Fleet) -> None:
    result = small_fleet.cli("validate")
    assert result.returncode == 0, result.stderr


def test_validate_1_an_invalid_row(small_fleet: Fleet) -> None:
    add_invalid_row(small_fleet)
    result = small_fleet.cli("validate")
    assert result.returncode == 1, result.stderr
    assert "OK" not in result.stdout


def test_validate_2_a_config_that_does_not_load(small_fleet: Fleet) -> None:
    small_fleet.config.write_text("devices: [unclosed\n", encoding="utf-8")
    result = small_fleet.cli("validate")
    assert result.returncode == 2, result.stderr


def test_validate_3_an_export_with_a_missing_column(small_fleet: Fleet) -> None:
    write_csv(
        small_fleet.root / EXPORT, [row(h) for h in HOSTS], header=[h for h in HEADER if h != "Location"]
    )
    result = small_fleet.cli("validate")
    assert result.returncode == 3, result.stderr
    assert "Location" in result.stdout + result.stderr


def test_explain_0_a_known_machine(small_fleet: Fleet) -> None:
    result = small_fleet.cli("explain", HOSTS[0])
    assert result.returncode == 0, result.stderr
    assert "containers-kubernetes" in result.stdout


def test_explain_1_an_unknown_machine(small_fleet: Fleet) -> None:
    result = small_fleet.cli("explain", "prod-dal10-nowhere-01")
    assert result.returncode == 1, result.stderr
    assert "not in the devices files" in result.stderr


def test_explain_2_a_config_that_does_not_load(small_fleet: Fleet) -> None:
    small_fleet.config.write_text("devices: [unclosed\n", encoding="utf-8")
    result = small_fleet.cli("explain", HOSTS[0])
    assert result.returncode == 2, result.stderr

"""Observability end to end: metrics on a real pushgateway, JSON logs, progress, summary.html in Chromium."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests import chromium
from tests.e2e.conftest import NOW, TOKEN, Fleet, write_fleet, write_seed
from tests.pushgateway import Pushgateway, running_pushgateway
from tests.serverutil import running_server, seed_db
from tests.unit.test_observe_metrics import SPEC_METRICS

pytestmark = pytest.mark.e2e


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[Pushgateway]:
    with running_pushgateway(tmp_path) as gateway:
        yield gateway


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def _value(families: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    found = [v for sample_labels, v in families[name] if labels.items() <= sample_labels.items()]
    assert len(found) == 1, (name, labels, families.get(name))
    return found[0]


def test_update_metrics_in_the_file_and_on_the_pushgateway(fleet: Fleet, pushgateway: Pushgateway) -> None:
    metrics_file = fleet.root / "sos_inventory.prom"
    result = fleet.cli(
        "update",
        "--report-dir",
        str(fleet.root / "reports"),
        "--metrics-file",
        str(metrics_file),
        "--pushgateway",
        pushgateway.url,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads((fleet.root / "reports" / "report.json").read_text())

    text = metrics_file.read_text(encoding="utf-8")
    if shutil.which("promtool"):
        check = subprocess.run(
            ["promtool", "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    local = _families(text)
    assert {name.removesuffix("_total") for name in local} == SPEC_METRICS

    pushed = _families(pushgateway.metrics())
    for name in local:
        assert name in pushed, name
        for labels, value in local[name]:
            grouping = {"job": "sos_inventory", "instance": socket.gethostname()}
            assert _value(pushed, name, **grouping, **labels) == value, (name, labels)

    # The numbers are the run's, as report.json tells them.
    assert _value(local, "sos_inventory_exit_code") == 1
    assert _value(local, "sos_inventory_last_success_timestamp_seconds") == _value(
        local, "sos_inventory_last_run_timestamp_seconds"
    )
    assert _value(local, "sos_inventory_devices", c_code="ALC") == 13  # 15 rows: 1 excluded, 1 invalid
    assert _value(local, "sos_inventory_devices", c_code="ALC_FR2") == 1
    fields = Counter((c["c_code"], name, c["outcome"]) for c in report["changes"] for name in c["after"])
    assert {
        (labels["c_code"], labels["field"], labels["outcome"]): value
        for labels, value in local["sos_inventory_changes"]
    } == fields
    assert sum(v for _, v in local["sos_inventory_requests_total"]) == report["requests"]["attempts"]
    assert _value(local, "sos_inventory_requests_total", kind="update") == report["counts"]["applied"] == 11
    problems = Counter(p["category"] for p in report["problems"])
    assert {labels["category"]: v for labels, v in local["sos_inventory_problems"] if v} == problems


def test_a_failed_run_keeps_the_last_success_in_the_file_and_on_the_gateway(
    fleet: Fleet, pushgateway: Pushgateway
) -> None:
    metrics_file = fleet.root / "sos_inventory.prom"
    sinks = ("--metrics-file", str(metrics_file), "--pushgateway", pushgateway.url)
    assert fleet.cli("update", *sinks).returncode == 1
    succeeded = _value(_families(metrics_file.read_text()), "sos_inventory_last_success_timestamp_seconds")

    failed = fleet.cli("update", *sinks, env=fleet.env(token="tok-wrong-SECRET"))
    assert failed.returncode == 4, failed.stderr
    for families in (_families(metrics_file.read_text()), _families(pushgateway.metrics())):
        assert _value(families, "sos_inventory_exit_code") == 4
        assert _value(families, "sos_inventory_last_success_timestamp_seconds") == succeeded
        assert _value(families, "sos_inventory_last_run_timestamp_seconds") > succeeded
        assert _value(families, "sos_inventory_problems", category="auth_failure") >= 1


def test_sinks_that_fail_are_logged_and_keep_the_exit_code(fleet: Fleet, tmp_path: Path) -> None:
    baseline = fleet.cli("plan")
    closed = refused_port()
    result = fleet.cli(
        "plan",
        "--metrics-file",
        str(tmp_path / "no-such-dir" / "sos.prom"),
        "--pushgateway",
        f"http://user:pw-SECRET@127.0.0.1:{closed}",
    )
    assert result.returncode == baseline.returncode == 1, result.stderr
    assert "metrics: could not write" in result.stderr
    assert "metrics: could not push to http://user:***@127.0.0.1:" in result.stderr
    assert "pw-SECRET" not in result.stderr + result.stdout


def refused_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_every_stderr_line_of_a_json_run_is_an_object_with_the_run_id(fleet: Fleet) -> None:
    results = [
        fleet.cli("update", "--log-format", "json", "--report-dir", str(fleet.root / "r1")),
        fleet.cli(
            "update", "--log-format", "json", env=fleet.env(token="tok-wrong-SECRET")
        ),  # diagnosis lines
        fleet.cli("plan", "--log-format", "json", "--concurrency", "0"),  # a usage error
        fleet.cli("explain", "no-such-machine", "--log-format", "json"),  # a command's own line
        fleet.cli("plan", "--log-format", "json", "--concurrency", "x"),  # argparse's usage error
    ]
    assert [r.returncode for r in results] == [1, 4, 2, 1, 2]
    for result in results:
        lines = result.stderr.splitlines()
        assert lines, result
        objects = [json.loads(line) for line in lines]
        assert all(isinstance(o, dict) for o in objects)
        assert len({o["run_id"] for o in objects}) == 1
        for o in objects:
            assert {"time", "level", "event", "run_id"} <= o.keys()
        assert TOKEN not in result.stderr and "tok-wrong-SECRET" not in result.stderr
    for failed in (results[1], results[4]):
        assert any(o["level"] == "error" for o in map(json.loads, failed.stderr.splitlines()))
    assert any(o["event"] == "cause: auth_failure" for o in map(json.loads, results[1].stderr.splitlines()))
    # The report stays on stdout.
    assert "Changes (" not in results[0].stderr and "in step" in results[0].stdout
    # The log lines and the report name the run alike.
    report = json.loads((fleet.root / "r1" / "report.json").read_text())
    assert {json.loads(line)["run_id"] for line in results[0].stderr.splitlines()} == {report["run_id"]}


def test_a_terminal_shows_progress_bars(fleet: Fleet) -> None:
    """stderr on a pseudo-terminal: bars for reading, planning and applying."""
    env = fleet.env()
    command = [
        sys.executable, "-m", "sos_inventory", "update",
        "--config", str(fleet.config), "--inventory-url", fleet.server.url, "--now", NOW,
        "--state-dir", str(fleet.root / "state"),
    ]  # fmt: skip
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL
        )
        os.close(follower)
        output = b""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process ended
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        assert process.wait(timeout=60) == 1  # the fleet has an ambiguous machine and an invalid row
    finally:
        os.close(leader)
    text = output.decode("utf-8", "replace")
    for phase, total in (
        ("reading exports", 16),
        ("reading inventory", 6),
        ("planning", 14),
        ("applying", 11),
    ):
        assert re.search(rf"{phase} +\[#{{30}}\] {total}/{total} \(100%\)", text), (phase, text)


class _Dom(HTMLParser):
    """Texts of the elements with an id, and the cells of each table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table = dict(attrs).get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _dom(text: str) -> _Dom:
    parser = _Dom()
    parser.feed(text)
    return parser


JENKINS_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'self';"


def test_summary_html_in_chromium_shows_the_runs_numbers(fleet: Fleet) -> None:
    chromium.binary()
    reports = fleet.root / "reports"
    assert fleet.cli("update", "--report-dir", str(reports)).returncode == 1
    page = reports / "summary.html"
    report = json.loads((reports / "report.json").read_text())

    dom = chromium.dump_dom(page)
    parsed = _dom(dom)
    counts = {row[0]: int(row[1]) for row in parsed.tables["counts-table"][1:]}
    assert counts == report["counts"]
    changes = parsed.tables["changes-table"][1:]
    assert sorted(row[2] for row in changes) == sorted(c["unid"] for c in report["changes"])
    status = {(row[0], row[1]): (int(row[2]), int(row[3])) for row in parsed.tables["status-table"][1:]}
    assert status[("ALC_FR2", "Build")] == (1, 0) and status[("ALC_FR2", "Live")] == (0, 1)
    assert sum(after - before for before, after in status.values()) == 0  # records change Status, not number
    assert (
        "input",
        {"type": "search", "placeholder": "filter rows", "aria-label": "filter rows"},
    ) in parsed.tags
    assert dom.index("Done, but some machines need a human") < dom.index("Counts")
    chromium.screenshot(page, "summary.png")

    # As Jenkins' HTML publisher serves it: scripts and inline styles blocked. Still all there.
    strict = reports / "summary-strict.html"
    strict.write_text(
        page.read_text().replace(
            "<head>",
            f'<head><meta http-equiv="Content-Security-Policy" content="{JENKINS_CSP.removeprefix("sandbox; ")}">',
            1,
        )
    )
    blocked = _dom(chromium.dump_dom(strict))
    assert not [t for t, _ in blocked.tags if t == "input"]  # the script did not run
    assert {row[0]: int(row[1]) for row in blocked.tables["counts-table"][1:]} == report["counts"]
    chromium.screenshot(strict, "summary-strict-csp.png")


def test_a_script_in_a_server_message_shows_as_text(tmp_path: Path) -> None:
    chromium.binary()
    email = "<script>document.title='pwned'</script>@example.com"
    config = write_fleet(tmp_path)
    db = tmp_path / "inventory.db"
    seed_db(db, write_seed(tmp_path / "seed.json"))
    users = tmp_path / "users.yaml"
    users.write_text(
        yaml.safe_dump({"users": [{"email": email, "token": "tok-r-SECRET", "roles": {"*": "reader"}}]})
    )
    with running_server(db, users) as server:
        local = Fleet(tmp_path, config, server, db)
        result = local.cli(
            "update", "--report-dir", str(tmp_path / "reports"), env=local.env("tok-r-SECRET", email)
        )
    assert result.returncode == 4, result.stderr  # 403: the reader may not update
    page = tmp_path / "reports" / "summary.html"
    assert "<script>document.title" not in page.read_text()
    dom = chromium.dump_dom(page)
    assert "<title>sos-inventory update: Stopped" in dom  # the server's script did not run
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;@example.com lacks the Editor role" in dom
    chromium.screenshot(page, "summary-script-in-message.png", size="1280,900")

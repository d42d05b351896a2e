"""Round 2, inputs: special and endless files, the rules file of diagnose, exports and reports that
carry what they were given, the edges of time and number, scale and lookalikes.

Cases that read ``/dev/zero`` are bounded here (RLIMIT_AS inherited by the CLI's process), so
that a release that reads it whole fails fast instead of taking the machine's memory.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from tests.e2e.conftest import NOW, SEED_SERVERS, Fleet, write_fleet, write_seed, write_users
from tests.hostile.cases import registry
from tests.hostile.conftest import run_case
from tests.hostile.harness import CANARY, CLI_PYTHON, CONTROL, Context, Outcome, Run
from tests.hostile.hostile_server import item
from tests.hostile.test_server import pages
from tests.serverutil import running_server, seed_db

CASES, case = registry()
ZERO = "/dev/zero"
#: The address space a case's CLI may take: far above the corpus's RSS bound (400 MB), low enough
#: that an endless read ends in seconds.
ADDRESS_SPACE = 3 << 30


@pytest.fixture(autouse=True)
def bounded_address_space() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(
        resource.RLIMIT_AS,
        (ADDRESS_SPACE if hard == resource.RLIM_INFINITY else min(hard, ADDRESS_SPACE), hard),
    )
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def link(ctx: Context, name: str, target: str = ZERO) -> str:
    path = ctx.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return str(path)


def fifo(ctx: Context, name: str) -> str:
    path = ctx.root / name
    os.mkfifo(path)
    return str(path)


def long_line(ctx: Context, name: str, head: str, size: int = 100_000_000) -> Path:
    """``head`` then one line of ``size`` bytes, written a MB at a time (this process stays small:
    the CLI's child is forked from it, and its peak RSS counts what it held)."""
    path = ctx.write(name, head)
    chunk = b"a" * (1 << 20)
    with path.open("ab") as out:
        for _ in range(size >> 20):
            out.write(chunk)
        out.write(b"\n")
    return path


def fleet_config(ctx: Context, **changes: object) -> Path:
    data = yaml.safe_load(ctx.fleet.config.read_text(encoding="utf-8"))
    data["devices"] = str(ctx.fleet.root / "softlayer-data")
    data.update(changes)
    return ctx.write("config.yaml", yaml.safe_dump(data, sort_keys=False))


def diagnose(
    ctx: Context, rules: str | Path, log: str = "Started by timer\nFinished: SUCCESS\n"
) -> list[str]:
    return ["diagnose", "--rules", str(rules), str(ctx.write("console.log", log))]


# --- Defect 8: special and endless files ------------------------------------------------------


@case
def config_is_dev_zero(ctx: Context) -> Run:
    return Run(
        ["validate", "--config", link(ctx, "config.yaml")],
        2,
        "cannot read the config: it is a character device, not a regular file",
        seconds=10,
    )


@case
def config_is_a_fifo(ctx: Context) -> Run:
    return Run(
        ["validate", "--config", fifo(ctx, "config.yaml")],
        2,
        "cannot read the config: it is a FIFO (named pipe), not a regular file",
        seconds=10,
    )


@case
def config_of_one_100_mb_line(ctx: Context) -> Run:
    path = long_line(ctx, "config.yaml", ctx.fleet.config.read_text(encoding="utf-8") + "# ")
    return Run(["validate", "--config", str(path)], 2, "the config is larger than", seconds=10)


@case
def plan_file_is_dev_zero(ctx: Context) -> Run:
    args = ctx.job("update", "--plan", link(ctx, "plan.json"))
    return Run(args, 3, "cannot read the plan file: it is a character device, not a regular file", seconds=10)


@case
def plan_file_is_a_fifo(ctx: Context) -> Run:
    args = ctx.job("update", "--plan", fifo(ctx, "plan.json"))
    return Run(
        args, 3, "cannot read the plan file: it is a FIFO (named pipe), not a regular file", seconds=10
    )


@case
def rules_file_is_dev_zero(ctx: Context) -> Run:
    return Run(
        diagnose(ctx, link(ctx, "rules.yaml")),
        2,
        "cannot read the rules file: it is a character device",
        seconds=10,
    )


@case
def rules_file_is_a_fifo(ctx: Context) -> Run:
    return Run(
        diagnose(ctx, fifo(ctx, "rules.yaml")),
        2,
        "cannot read the rules file: it is a FIFO (named pipe)",
        seconds=10,
    )


@case
def metrics_file_is_dev_zero(ctx: Context) -> Run:
    # The previous run's metrics file is read for its last success: a device is not read at all.
    # Read when the run fails (its last success is then the previous one): the inventory is down.
    args = ctx.job("plan", "--metrics-file", link(ctx, "metrics.prom"), url="http://127.0.0.1:9")
    return Run(
        args, 4, "cannot read the metrics file: it is a character device, not a regular file", seconds=20
    )


@case
def token_file_is_a_fifo(ctx: Context) -> Run:
    env = ctx.env(SOS_API_TOKEN=None, SOS_API_TOKEN_FILE=fifo(ctx, "token"))
    return Run(
        ctx.job("plan"), 2, "cannot read the token file: it is a FIFO (named pipe)", env=env, seconds=10
    )


@case
def log_is_dev_zero(ctx: Context) -> Run:
    return Run(
        ["diagnose", link(ctx, "console.log")], 2, "cannot read the log: it is a character device", seconds=10
    )


@case
def log_is_a_fifo(ctx: Context) -> Run:
    return Run(
        ["diagnose", fifo(ctx, "console.log")],
        2,
        "cannot read the log: it is a FIFO (named pipe)",
        seconds=10,
    )


@case
def export_of_one_100_mb_line(ctx: Context) -> Run:
    head = (ctx.fleet.root / "softlayer-data" / "Acct531277" / "devices.csv").read_text().splitlines()[0]
    path = long_line(ctx, "data/Acct531277/devices.csv", head + "\n")
    args = ["validate", "--config", str(ctx.fleet.config), "--devices", str(path)]
    return Run(args, 3, "a line longer than 1048576 characters")


# --- Defect 9: the rules file of diagnose is held as the config is --------------------------


@case
def rules_with_a_catastrophic_pattern(ctx: Context) -> Run:
    rules = ctx.write(
        "rules.yaml", "patterns:\n  - id: slow\n    category: network_timeout\n    regex: '(a+)+$'\n"
    )
    log = "Started by timer\n" + "a" * 40 + "!\nFinished: SUCCESS\n"
    return Run(diagnose(ctx, rules, log), 0, "no failure found", seconds=10)


@case
def a_secret_file_given_as_rules(ctx: Context) -> Run:
    # A secret the run does not know (no SOS_API_TOKEN to mask it): its line must not be quoted.
    secret = ctx.write("secret.txt", f"password: {CANARY}: x\n")
    env = ctx.env(SOS_API_TOKEN=None)
    return Run(diagnose(ctx, secret), 2, "not valid YAML at line 1, column", env=env)


@case
def rules_template_of_a_huge_width(ctx: Context) -> Run:
    rules = ctx.write("rules.yaml", "tickets:\n  sos_api: '{summary:999999999}'\n")
    return Run(diagnose(ctx, rules), 2, "names a fact as {name} only", seconds=10)


@case
def rules_template_that_reads_attributes(ctx: Context) -> Run:
    rules = ctx.write(
        "rules.yaml", "categories:\n  rate_limited:\n    actions: ['{summary.__class__.__mro__}']\n"
    )
    return Run(diagnose(ctx, rules), 2, "{summary.__class__.__mro__}: a template names a fact")


@case
def rules_nesting_bomb(ctx: Context) -> Run:
    rules = ctx.write("rules.yaml", "patterns: " + "[" * 50_000 + "]" * 50_000 + "\n")
    return Run(diagnose(ctx, rules), 2, "nests too deeply", seconds=10)


@case
def rules_alias_bomb(ctx: Context) -> Run:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    lines.append("facts: {x: *j}")
    rules = ctx.write("rules.yaml", "\n".join(lines) + "\n")
    return Run(diagnose(ctx, rules), 2, "expands past 100000 values", seconds=10)


@case
def rules_with_a_list_for_a_mapping(ctx: Context) -> Run:
    rules = ctx.write("rules.yaml", "categories: [1, 2]\ntickets: 3\nfacts: [x]\npatterns: 4\n")
    return Run(diagnose(ctx, rules), 2, "categories: must be a mapping")


# --- Defect 10: reports and exports carry nothing they were given ------------------------------


@case
def control_characters_in_inventory_values(ctx: Context) -> Run:
    hostile = "\x1b[2J\x1b]0;owned\x07red\rfake line\x00\tcolumn"
    records = [item("prod-dal10-carrier2-worker-01", "Z1", application=hostile, environment=hostile)]
    ctx.hostile.behave(query=pages(records))

    def tamed(outcome: Outcome, ctx: Context) -> None:
        assert not CONTROL & set(outcome.text.replace("\r\n", "\n")), "a raw control character on the console"
        assert "\\x1b[2J" in outcome.text  # shown, escaped
        assert "\t" not in outcome.stdout and "\\x09column" in outcome.stdout  # the table keeps its columns
        assert "\\x1b[2J" in (ctx.reports / "summary.html").read_text(encoding="utf-8")

    return Run(ctx.job("plan", url=ctx.hostile.url), 1, "change(s) planned", check=tamed)


@case
def markup_in_the_config_path(ctx: Context) -> Run:
    config = ctx.root / "cfg`<script>alert(1)`<img src=x onerror=alert(2)>.yaml"
    config.write_text(fleet_config(ctx).read_text(encoding="utf-8"), encoding="utf-8")

    def inert(outcome: Outcome, ctx: Context) -> None:
        text = (ctx.reports / "summary.md").read_text(encoding="utf-8")
        assert "<img" not in text and "&lt;img" in text

    return Run(ctx.job("plan", config=config), 1, "change(s) planned", check=inert)


# --- Defect 11: the edges of time and number -----------------------------------------------


@case
def jenkins_timestamp_of_1e30(ctx: Context) -> Run:
    async def jenkins(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/api/json"):
            builds = [
                {"number": 2, "timestamp": 1e30, "result": "SUCCESS"},
                {"number": 1, "timestamp": -1e20},
            ]
            return web.json_response({"builds": builds})
        return web.Response(text="Started by timer\nFinished: SUCCESS\n")

    ctx.hostile.behave(hook=jenkins)
    return Run(
        ["diagnose", "--builds", "2", ctx.hostile.url + "/hook/job/x/"], 0, "2 run(s), ? .. ?: 0 failed"
    )


# --- Defect 12: scale and lookalikes ------------------------------------------------------------


@case
def fifty_thousand_plain_accounts(ctx: Context) -> Run:
    accounts = {"531277": "ALC", "2051458": "ALC_FR2"} | {str(10_000_000 + n): "ALC" for n in range(50_000)}
    path = fleet_config(ctx, accounts=accounts)
    return Run(
        ["validate", "--config", str(path), "--now", "2026-11-27T12:00:00Z"], 1, "16 rows in 2 file(s)"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_round2_input(name: str, ctx: Context) -> None:
    run_case(ctx, CASES[name])


# --- What must write: a fleet of its own, whose records hold hostile values before the update ----

#: Values a spreadsheet would run, each the "before" of a field the update writes (the ledger keeps it).
FORMULAS = {
    "A01": ("application", '=HYPERLINK("http://evil.example/","click")'),
    "A02": ("application", "+cmd|' /C calc'!A0"),
    "A03": ("application", "@SUM(1+1)*cmd|' /C calc'!A0"),
    "A04": ("application", "-2+3+cmd|' /C calc'!A0"),
    "A05": ("application", "\t=1+1"),
    "A06": ("application", "\r=1+1"),
}
KELVIN = "prod-dal10-carrier2-wor\u212aer-01"  # "K" (U+212A) lower-cases to "k"


@dataclass
class Ledgered:
    fleet: Fleet
    state: Path
    first: subprocess.CompletedProcess[str]


def cli(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI of the release under test (CLI_PYTHON), in the fleet's folder."""
    command = [CLI_PYTHON, "-m", "sos_inventory", *args]
    return subprocess.run(
        command, cwd=fleet.root, env=fleet.env(), capture_output=True, text=True, timeout=120, check=False
    )


def job(fleet: Fleet, command: str, *extra: str, now: str = NOW) -> list[str]:
    return [
        command,
        "--config",
        str(fleet.config),
        "--inventory-url",
        fleet.server.url,
        "--now",
        now,
        "--state-dir",
        str(fleet.root / "state"),
        *extra,
    ]


@pytest.fixture(scope="module")
def ledgered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledgered]:
    root = tmp_path_factory.mktemp("round2-input-ledger")
    config = write_fleet(root)
    servers = []
    for record in SEED_SERVERS:
        field_value = FORMULAS.get(record["unid"])
        servers.append({**record, field_value[0]: field_value[1]} if field_value else dict(record))
    db = root / "inventory.db"
    seed_db(db, write_seed(root / "seed.json", servers))
    with running_server(db, write_users(root / "users.yaml")) as server:
        fleet = Fleet(root, config, server, db)
        first = cli(fleet, *job(fleet, "update", "--report-dir", str(root / "reports")))
        assert first.returncode in (0, 1), first.stderr[-3000:]
        yield Ledgered(fleet, root / "state", first)


def test_csv_export_neutralises_formulas(ledgered: Ledgered) -> None:
    command = [CLI_PYTHON, "-m", "sos_inventory", "audit", "export", "--format", "csv"]
    done = subprocess.run(  # bytes: text mode would turn the CR of a cell into a line break
        [*command, "--state-dir", str(ledgered.state)],
        env=ledgered.fleet.env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cells = [cell for line in csv.reader(io.StringIO(done.stdout.decode(), newline="")) for cell in line]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))], done.stdout[
        -3000:
    ]
    for _, value in FORMULAS.values():
        assert "'" + value in cells, value  # kept, as text


def test_history_does_not_fold_a_lookalike_into_a_real_name(ledgered: Ledgered) -> None:
    real = cli(ledgered.fleet, "history", "prod-dal10-carrier2-worker-01", "--state-dir", str(ledgered.state))
    assert real.returncode == 0 and "A01" in real.stdout, real.stdout + real.stderr
    lookalike = cli(ledgered.fleet, "history", KELVIN, "--state-dir", str(ledgered.state))
    assert lookalike.returncode == 2, lookalike.stdout + lookalike.stderr
    assert "not an ASCII host name" in lookalike.stderr and "A01" not in lookalike.stdout


def test_runs_limit_beyond_any_integer_is_a_usage_error(ledgered: Ledgered) -> None:
    done = cli(ledgered.fleet, "runs", "--limit", str(10**29), "--state-dir", str(ledgered.state))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "must be a whole number from 1 to" in done.stderr and "Traceback" not in done.stderr


#: --since at the edges of time: (value, exit code, what is exported or said).
EDGES = [
    ("0001-01-01", 0, "all"),
    ("9999-12-31", 0, "none"),
    ("9999-12-31T23:59:59.999999+14:00", 0, "none"),
    ("0001-01-01T00:00:00-14:00", 0, "all"),
    ("0001-01-01T00:00:00+14:00", 2, "between years 1 and 9999 in UTC"),  # before year 1 in UTC
    ("9999-12-31T23:59:59-14:00", 2, "between years 1 and 9999 in UTC"),  # after year 9999 in UTC
]


def test_audit_export_since_the_edges_of_time(ledgered: Ledgered) -> None:
    everything = cli(ledgered.fleet, "audit", "export", "--state-dir", str(ledgered.state))
    assert everything.returncode == 0 and everything.stdout
    for since, code, rows in EDGES:
        done = cli(ledgered.fleet, "audit", "export", "--since", since, "--state-dir", str(ledgered.state))
        assert (done.returncode, "Traceback" in done.stderr) == (code, False), (since, done.stderr[-2000:])
        if rows == "all":
            assert done.stdout == everything.stdout, since
        elif rows == "none":
            assert done.stdout == "", since
        else:
            assert rows in done.stderr, (since, done.stderr)


def test_a_run_clock_months_from_the_real_one_is_said(ledgered: Ledgered) -> None:
    reports = ledgered.fleet.root / "skewed-reports"
    done = cli(
        ledgered.fleet,
        *job(ledgered.fleet, "update", "--report-dir", str(reports), now="2026-03-01T00:00:00Z"),
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "warning: the run clock (--now 2026-03-01T00:00:00Z) is" in done.stderr
    assert "days behind the real clock" in done.stderr
    assert "the run clock (--now 2026-03-01T00:00:00Z)" in (reports / "summary.md").read_text(
        encoding="utf-8"
    )
    assert json.loads((reports / "report.json").read_text(encoding="utf-8"))["warnings"]
    assert "the run clock" in (reports / "summary.html").read_text(encoding="utf-8")
    now = datetime.now(UTC).isoformat(timespec="seconds")  # a clock near the real one: no warning
    done = cli(ledgered.fleet, *job(ledgered.fleet, "update", now=now))
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "the run clock" not in done.stderr

"""Round 2, inputs: special and endless files, the rules file of diagnose, exports and reports that
carry what they were given, the edges of time and number, scale and lookalikes.

Cases that read ``/dev/zero`` are bounded here (RLIMIT_AS inherited by the CLI's process), so
that a release that reads it whole fails fast instead of taking the machine's memory.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.hostile.cases import registry
from tests.hostile.conftest import run_case
from tests.hostile.harness import CANARY, Context, Run

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
    with path.open("a", encoding="utf-8") as out:
        for _ in range(size >> 20):
            out.write("a" * (1 << 20))
        out.write("\n")
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
        "config is a character device, not a regular file",
        seconds=10,
    )


@case
def config_is_a_fifo(ctx: Context) -> Run:
    return Run(
        ["validate", "--config", fifo(ctx, "config.yaml")],
        2,
        "config is a FIFO (named pipe), not a regular file",
        seconds=10,
    )


@case
def config_of_one_100_mb_line(ctx: Context) -> Run:
    text = ctx.fleet.config.read_text(encoding="utf-8") + "# " + "a" * 100_000_000 + "\n"
    return Run(
        ["validate", "--config", str(ctx.write("config.yaml", text))],
        2,
        "the config is larger than",
        seconds=10,
    )


@case
def plan_file_is_dev_zero(ctx: Context) -> Run:
    args = ctx.job("update", "--plan", link(ctx, "plan.json"))
    return Run(args, 3, "plan file is a character device, not a regular file", seconds=10)


@case
def plan_file_is_a_fifo(ctx: Context) -> Run:
    args = ctx.job("update", "--plan", fifo(ctx, "plan.json"))
    return Run(args, 3, "plan file is a FIFO (named pipe), not a regular file", seconds=10)


@case
def rules_file_is_dev_zero(ctx: Context) -> Run:
    return Run(diagnose(ctx, link(ctx, "rules.yaml")), 2, "rules file is a character device", seconds=10)


@case
def rules_file_is_a_fifo(ctx: Context) -> Run:
    return Run(diagnose(ctx, fifo(ctx, "rules.yaml")), 2, "rules file is a FIFO (named pipe)", seconds=10)


@case
def metrics_file_is_dev_zero(ctx: Context) -> Run:
    # The previous run's metrics file is read for its last success: a device is not read at all.
    # Read when the run fails (its last success is then the previous one): the inventory is down.
    args = ctx.job("plan", "--metrics-file", link(ctx, "metrics.prom"), url="http://127.0.0.1:9")
    return Run(args, 4, "the metrics file is a character device, not a regular file", seconds=20)


@case
def token_file_is_a_fifo(ctx: Context) -> Run:
    env = ctx.env(SOS_API_TOKEN=None, SOS_API_TOKEN_FILE=fifo(ctx, "token"))
    return Run(ctx.job("plan"), 2, "token file is a FIFO (named pipe)", env=env, seconds=10)


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

"""What every command shares: exit codes, logging, reading the config and the exports,
the runbook's closing diagnosis, and a quiet end when stdout goes away."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sos_inventory.config import Config, DevicesSpec, load_config, with_overrides
from sos_inventory.errors import ConfigError
from sos_inventory.interrupts import Interrupts
from sos_inventory.model import Category, Problem, exit_codes_help
from sos_inventory.redact import untrusted
from sos_inventory.runbook import action_of, default_knowledge
from sos_inventory.sync.devices import DeviceSet, DevicesFile, find_files, parse_timestamp, read_files

log = logging.getLogger("sos_inventory")


DEFAULT_STATE_DIR = ".sos-inventory"


EXIT_CODES = exit_codes_help()


def add_state_dir(parser: argparse.ArgumentParser) -> None:
    """``--state-dir``: the run lock and the ledger (the evidence of every write)."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(DEFAULT_STATE_DIR),
        metavar="DIR",
        help=f"the run lock and the ledger of every write; keep it across builds (default: {DEFAULT_STATE_DIR})",
    )


#: The years ``--now`` may name: any real run, and room for the build window before it.
NOW_YEARS = range(1970, 9000)


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An option's type: a whole number from ``low`` to ``high`` (a usage error, exit 2, otherwise:
    10**29 would overflow SQLite's integers)."""

    def parse(text: str) -> int:
        try:
            value = int(text) if len(text) <= 30 else None
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be a whole number from {low} to {high}, not {text[:40]!r}"
            )
        return value

    return parse


def run_clock(args: argparse.Namespace) -> datetime:
    if not args.now:
        return datetime.now(UTC)
    try:
        now = parse_timestamp(args.now)
    except (ValueError, OverflowError):
        now = None
    if now is None or now.year not in NOW_YEARS:
        raise ConfigError(
            f"--now {args.now[:40]!r}: not an ISO 8601 date-time between {NOW_YEARS.start} and "
            f"{NOW_YEARS.stop - 1}",
            action="Give the run clock as ISO 8601, e.g. --now 2026-11-27T12:00:00Z (relative words such "
            "as 'yesterday' are not understood), or leave --now out for the current time.",
            headline="usage problem(s)",
        )
    return now


def c_codes_of(args: argparse.Namespace, config: Config) -> frozenset[str] | None:
    if not args.c_code:
        return None
    wanted = frozenset(code.strip() for item in args.c_code for code in item.split(",") if code.strip())
    unknown = sorted(wanted - set(config.c_codes))
    if unknown:
        raise ConfigError(
            f"--c-code {', '.join(untrusted(code, 40) for code in unknown)}: not in the config's accounts "
            f"({', '.join(config.c_codes)})",
            action="Give --c-code one of the C_Codes the config's accounts map to, or add the account to "
            "accounts: in the config.",
            headline="usage problem(s)",
        )
    return wanted


def device_specs(args: argparse.Namespace) -> list[DevicesSpec] | None:
    if not args.devices:
        return None
    return [DevicesSpec(path=path, account=args.account) for path in args.devices]


def config_of(args: argparse.Namespace) -> Config:
    """The config, with --inventory-url and --ca-bundle."""
    return with_overrides(
        load_config(args.config),
        inventory_url=getattr(args, "inventory_url", None),
        ca_bundle=getattr(args, "ca_bundle", None),
    )


def find_inputs(args: argparse.Namespace) -> tuple[Config, list[DevicesFile], datetime]:
    """The config (with --inventory-url), the export files of the chosen C_Codes, and the run clock."""
    config = config_of(args)
    now = run_clock(args)
    return config, find_files(config, device_specs(args), c_codes_of(args, config)), now


def read_inputs(args: argparse.Namespace) -> tuple[Config, DeviceSet, datetime]:
    """As find_inputs, with the exports read."""
    config, files, now = find_inputs(args)
    return config, read_files(config, files), now


def interrupts_of(args: argparse.Namespace) -> Interrupts:
    """The command's signal handling (set up by the console script; a fresh one in tests)."""
    interrupts: Interrupts | None = getattr(args, "interrupts", None)
    return interrupts if interrupts is not None else Interrupts()


def print_diagnosis(
    problem: Problem, *, traceback_path: str | None = None, out: TextIO | None = None
) -> None:
    """The runbook's diagnosis of a failure, once: what failed, the cause, whether to rerun, the action.

    The first line is ``error: MESSAGE`` (an interruption's own ``interrupted (...)`` line), with the
    message's items below it; ``diagnose`` reads the block back.
    """
    out = out or sys.stderr
    facts = problem.all_facts()
    info = default_knowledge().info(problem.category, facts)
    head = problem.message if problem.category is Category.INTERRUPTED else f"error: {problem.message}"
    print(head + (":" if problem.details else ""), file=out)
    for item in problem.details:
        print(f"  - {item}", file=out)
    print(f"cause: {problem.category.value}", file=out)
    if problem.action_text is None:  # else the message itself says what is wrong, not the category's text
        print(f"why: {info.summary}", file=out)
    rerun = "advised, the cause is usually transient" if info.transient else "will not help until it is fixed"
    print(f"rerun: {rerun}", file=out)
    print(f"action: {action_of(problem)}", file=out)
    if traceback_path:
        print(f"traceback: {traceback_path}", file=out)
    if info.ticket:
        print("ticket: a draft is in report.json (problems[].ticket) with --report-dir", file=out)


def write_stdout(text: str) -> None:
    """Write to stdout; a reader that went away (``| head``) ends the output quietly."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def print_list(title: str, items: Sequence[str]) -> None:
    # sys.stderr is looked up at each call: --log-format json replaces it.
    print(title, file=sys.stderr)
    for item in items:
        print(f"  - {item}", file=sys.stderr)

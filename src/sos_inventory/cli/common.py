"""What every command shares: exit codes, logging, reading the config and the exports."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sos_inventory.config import Config, DevicesSpec, load_config, with_inventory_url
from sos_inventory.devices import DeviceSet, DevicesFile, find_files, parse_timestamp, read_files
from sos_inventory.errors import ConfigError, InputError
from sos_inventory.plan import Problem
from sos_inventory.runbook import Category

log = logging.getLogger("sos_inventory")


EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_LOCKED = 0, 1, 2, 3, 4, 5


DEFAULT_STATE_DIR = ".sos-inventory"


EXIT_CODES = """exit codes:
  0  done: the inventory is in step (plan: the plan was computed)
  1  done, but some machines could not be updated or were ambiguous, or some rows were invalid
  2  usage or configuration error
  3  refused: input invalid, or a safety limit would be crossed; nothing written
  4  the inventory is unreachable or refused the credentials; the run stopped
  5  another run of the job holds the lock
  130/143  interrupted by SIGINT/SIGTERM (in-flight requests finished, report written)
"""


def add_state_dir(parser: argparse.ArgumentParser) -> None:
    """``--state-dir``: the run lock and the ledger (the evidence of every write)."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(DEFAULT_STATE_DIR),
        metavar="DIR",
        help=f"the run lock and the ledger of every write; keep it across builds (default: {DEFAULT_STATE_DIR})",
    )


def setup_logging(args: argparse.Namespace) -> None:
    # Progress lines help on long network work; the offline commands stay terse unless -v.
    chatty = args.command in ("plan", "update", "undo") or getattr(args, "verbose", 0) > 0
    level = logging.WARNING if getattr(args, "quiet", False) or not chatty else logging.INFO
    if getattr(args, "verbose", 0) >= 2:
        level = logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp").setLevel(max(level, logging.WARNING))


def run_clock(args: argparse.Namespace) -> datetime:
    if not args.now:
        return datetime.now(UTC)
    try:
        return parse_timestamp(args.now)
    except ValueError:
        raise ConfigError(
            f"--now {args.now!r} is not an ISO 8601 date-time (e.g. 2026-11-27T12:00:00Z)"
        ) from None


def c_codes_of(args: argparse.Namespace, config: Config) -> frozenset[str] | None:
    if not args.c_code:
        return None
    wanted = frozenset(code.strip() for item in args.c_code for code in item.split(",") if code.strip())
    unknown = sorted(wanted - set(config.c_codes))
    if unknown:
        raise ConfigError(
            f"--c-code {', '.join(unknown)}: not in the config's accounts ({', '.join(config.c_codes)})"
        )
    return wanted


def device_specs(args: argparse.Namespace) -> list[DevicesSpec] | None:
    if not args.devices:
        return None
    return [DevicesSpec(path=path, account=args.account) for path in args.devices]


def config_of(args: argparse.Namespace) -> Config:
    """The config, with --inventory-url."""
    config = load_config(args.config)
    if getattr(args, "inventory_url", None):
        config = with_inventory_url(config, args.inventory_url)
    return config


def find_inputs(args: argparse.Namespace) -> tuple[Config, list[DevicesFile], datetime]:
    """The config (with --inventory-url), the export files of the chosen C_Codes, and the run clock."""
    config = config_of(args)
    now = run_clock(args)
    return config, find_files(config, device_specs(args), c_codes_of(args, config)), now


def read_inputs(args: argparse.Namespace) -> tuple[Config, DeviceSet, datetime]:
    """As find_inputs, with the exports read."""
    config, files, now = find_inputs(args)
    return config, read_files(config, files), now


def config_problem(error: ConfigError | InputError) -> Problem:
    return Problem(Category.INPUT_ERROR, str(error))


def print_list(title: str, items: Sequence[str], out: TextIO = sys.stderr) -> None:
    print(title, file=out)
    for item in items:
        print(f"  - {item}", file=out)

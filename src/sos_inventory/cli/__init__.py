"""The ``sos-inventory`` command line: thin commands over the library.

Only this package prints, exits and configures logging; it turns the library's
errors into the exit codes (README, Exit codes) and ends every failure with the runbook's
diagnosis (what failed, the cause, the action).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sos_inventory.cli import observe as observe_cli
from sos_inventory.cli.common import (
    EXIT_CODES,
    add_state_dir,
    print_diagnosis,
    quiet_stdout,
)
from sos_inventory.config import DEFAULT_CONFIG
from sos_inventory.errors import Interrupted
from sos_inventory.interrupts import Interrupts
from sos_inventory.model import VERSION, Category, ExitCode, Problem, new_run_id
from sos_inventory.redact import RedactingStream

__all__ = ["EXIT_CODES", "LAZY_COMMANDS", "build_parser", "main"]

#: Commands defined in a module of their own, imported only when that command runs, so that
#: ``--help``, ``plan`` and ``update`` never load the reference server or the log reader.
#: name -> (module with ``register(commands)``, or ``module:function`` registering that command,
#: the one-line help shown in the command list).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "diagnose": (
        "sos_inventory.cli.diagnose",
        "say what failed in a Jenkins console log, why, and what to do",
    ),
    "server": ("sos_inventory.server.cli", "the reference SOS inventory server and its data"),
    "runs": ("sos_inventory.cli.evidence:register_runs", "the latest runs recorded in the ledger"),
    "history": ("sos_inventory.cli.evidence:register_history", "every change the job made to one machine"),
    "audit": (
        "sos_inventory.cli.evidence:register_audit",
        "verify the ledger's hash chain, or export its rows",
    ),
}


def _lazy(target: str) -> Callable[[argparse.Namespace], int]:
    """A command function imported when it is called (``module:function``)."""
    module, _, name = target.partition(":")

    def run(args: argparse.Namespace) -> int:
        command: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), name)
        return command(args)

    return run


def _common(parser: argparse.ArgumentParser, *, network: bool) -> None:
    """The options of validate and explain; ``network`` (plan, update, undo): the inventory's too."""
    _input_options(parser)
    if network:
        _network_options(parser)
        _guard_options(parser)
        add_state_dir(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more detail (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    observe_cli.add_options(parser, network=network)


def _input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=Path(DEFAULT_CONFIG), help=f"YAML config (default: {DEFAULT_CONFIG})"
    )
    parser.add_argument(
        "--devices",
        action="append",
        type=Path,
        metavar="PATH",
        help="a folder of Acct<N>/devices.csv or a devices.csv file (repeatable; overrides the config)",
    )
    parser.add_argument(
        "--account",
        metavar="N",
        help="SoftLayer account of --devices files that are not in an Acct<N> folder",
    )
    parser.add_argument(
        "--c-code",
        action="append",
        metavar="CODE",
        help="only these C_Codes (repeatable or comma-separated; default: all in the config)",
    )
    parser.add_argument("--now", metavar="ISO8601", help="run clock for Status (default: the current time)")


def _network_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        help="parallel requests to the inventory (default 8)",
    )
    parser.add_argument(
        "--report-dir", type=Path, metavar="DIR", help="write report.json, junit.xml, summary.md here"
    )
    parser.add_argument(
        "--inventory-url", metavar="URL", help="SOS API base URL (overrides inventory.url of the config)"
    )
    parser.add_argument(
        "--ca-bundle",
        type=Path,
        metavar="PEM",
        help="CA certificates to trust besides the system's (overrides inventory.ca_bundle)",
    )
    parser.add_argument(
        "--query-strategy",
        choices=("auto", "bulk", "per-host"),
        default="auto",
        help="read whole inventories page by page (bulk), or only the exports' hostnames (per-host); "
        "auto picks whichever takes fewer requests (default)",
    )
    parser.add_argument(
        "--max-rps",
        type=float,
        metavar="N",
        help="at most N requests per second to the inventory (a shared production API); default: no cap",
    )
    parser.add_argument(
        "--deadline",
        default="30m",
        metavar="DURATION",
        help="stop starting requests after this long (e.g. 20m, 1h; default 30m)",
    )
    parser.add_argument(
        "--notify-url",
        metavar="URL",
        default=os.environ.get("SOS_NOTIFY_URL"),
        help="Slack-compatible webhook for one alert per failed run (default: $SOS_NOTIFY_URL)",
    )


def _guard_options(parser: argparse.ArgumentParser) -> None:
    guards = parser.add_argument_group("safety guards (refuse before any write; exit 3)")
    guards.add_argument(
        "--force", action="store_true", help="apply even if a safety limit is crossed (needs --reason)"
    )
    guards.add_argument(
        "--reason",
        metavar="TEXT",
        help="why this run overrides a guard (required with --force); recorded in the report and the ledger",
    )
    guards.add_argument("--max-changes", type=int, metavar="N", help="raise safety.max_changes for this run")
    guards.add_argument(
        "--max-change-ratio",
        type=float,
        metavar="R",
        help="raise safety.max_change_ratio (0..1) for this run",
    )
    guards.add_argument(
        "--min-export-ratio",
        type=float,
        metavar="R",
        help="lower safety.min_export_ratio (0..1) for this run",
    )


def _wait_lock(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait-lock",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another run to finish instead of exiting 5 at once",
    )


def _add_validate(commands: Any) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    validate = commands.add_parser(
        "validate",
        help="check the config and devices files; writes nothing, queries nothing",
        description="Check the config and every devices file; list every problem. No network.",
        epilog="example:\n  sos-inventory validate --config sos-inventory.yaml\n\n" + VALIDATE_EXIT_CODES,
        formatter_class=raw,
    )
    _common(validate, network=False)
    validate.set_defaults(func=_lazy("sos_inventory.cli.offline:cmd_validate"))


def _add_plan(commands: Any) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    plan = commands.add_parser(
        "plan",
        help="show the changes update would make; writes nothing",
        description="Read the exports, query the inventories, and print the changes an update would make.",
        epilog="example:\n  sos-inventory plan --config sos-inventory.yaml --c-code ALC\n\n" + EXIT_CODES,
        formatter_class=raw,
    )
    _common(plan, network=True)
    plan.add_argument(
        "--out",
        type=Path,
        metavar="PLAN.json",
        help="save the plan for review; `update --plan PLAN.json` then applies exactly it",
    )
    plan.set_defaults(func=_lazy("sos_inventory.cli.run:cmd_plan"), reports_interrupts=True)


def _add_update(commands: Any) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    update = commands.add_parser(
        "update",
        help="the job: plan, then update every record that differs, and report",
        description="Bring the SOS inventory in step: plan, apply the changes concurrently, write the reports.",
        epilog="example:\n  sos-inventory update --config sos-inventory.yaml --report-dir reports\n\n"
        + EXIT_CODES,
        formatter_class=raw,
    )
    _common(update, network=True)
    _wait_lock(update)
    update.add_argument(
        "--plan",
        type=Path,
        metavar="PLAN.json",
        help="apply exactly this reviewed plan (from plan --out) where each record still holds its before "
        "values; the others are stale (exit 1); the exports are not read. A plan edited since it was saved, "
        "too old, from the future, or with a value the config or the inventory does not know is refused "
        "(exit 3); one made on another inventory or for a C_Code no account maps, too (exit 2); --c-code "
        "keeps to those C_Codes",
    )
    update.add_argument(
        "--max-plan-age",
        default="24h",
        metavar="DURATION",
        help="refuse (exit 3) a --plan older than this (default 24h)",
    )
    update.set_defaults(func=_lazy("sos_inventory.cli.run:cmd_update"), reports_interrupts=True)


def _add_undo(commands: Any) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    undo = commands.add_parser(
        "undo",
        help="put back what one run wrote (print the plan; --apply writes it)",
        description="Plan the restoration of the before values of a run's changes, for each record that "
        "still holds what that run wrote; records changed since are listed as stale and left alone. "
        "With --apply, write it through the same lock, guards, retries, reports and ledger as update.",
        epilog="example:\n  sos-inventory runs\n  sos-inventory undo 20261127T120000Z-3f9a\n"
        "  sos-inventory undo 20261127T120000Z-3f9a --apply --report-dir reports\n\n" + EXIT_CODES,
        formatter_class=raw,
    )
    # Not "run_id": that is this run's own id (args.run_id, for the log lines and the report).
    undo.add_argument("undo_run", metavar="RUN_ID", help="the run to undo (see `sos-inventory runs`)")
    undo.add_argument("--apply", action="store_true", help="write the restoration (default: print it)")
    _common(undo, network=True)
    _wait_lock(undo)
    undo.set_defaults(func=_lazy("sos_inventory.cli.run:cmd_undo"), reports_interrupts=True)


def _add_explain(commands: Any) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    why = commands.add_parser(
        "explain",
        help="why a machine gets its Application, Environment and Status",
        description="Show the rule that matched (or that none did), the dates, the age, and the next Status change. No network.",
        epilog="example:\n  sos-inventory explain prod-dal10-carrier2-worker-1030 --now 2026-11-27T12:00:00Z\n\n"
        "exit codes: 0 found, 1 not in the exports (or its row is invalid), 2 usage/config error",
        formatter_class=raw,
    )
    why.add_argument("hostname", help="short hostname or FQDN, any case")
    _common(why, network=False)
    why.set_defaults(func=_lazy("sos_inventory.cli.offline:cmd_explain"))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``command``, the other LAZY_COMMANDS are listed but not loaded."""
    parser = argparse.ArgumentParser(
        prog="sos-inventory",
        description="Keep the SOS security-compliance inventory in step with the Netint devices.csv exports.",
        epilog=EXIT_CODES + "\nCredentials come from SOS_API_EMAIL and SOS_API_TOKEN, never from the config.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_validate(commands)
    _add_plan(commands)
    _add_update(commands)
    _add_undo(commands)
    _add_explain(commands)

    for name, (module, help_text) in LAZY_COMMANDS.items():
        if command in (None, name):
            module_name, _, function = module.partition(":")
            getattr(importlib.import_module(module_name), function or "register")(commands)
        else:
            commands.add_parser(name, help=help_text, add_help=False)
    return parser


VALIDATE_EXIT_CODES = """exit codes (what plan would say, seen offline):
  0  clean
  1  row-level problems: invalid rows, a hostname twice in a C_Code's exports, an unmapped account
  2  configuration error
  3  an export plan would refuse (unreadable, header only)
"""

#: The exit code of a command whose reader went away (``| head``), as a shell reports SIGPIPE.
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None, *, interrupts: Interrupts | None = None) -> int:
    """Entry point of the ``sos-inventory`` console script (see :mod:`sos_inventory.console`).

    Every command ends with an exit code of the README's Exit codes, never a traceback: an unexpected
    exception is an internal error (exit 70, the traceback saved to a file, one line
    pointing at it); a signal is exit 130/143; a closed stdout ends the output quietly.
    """
    # Every line this process prints or logs passes the redaction of secrets (redact.py).
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    try:
        return _main(argv, interrupts)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BrokenPipeError:
                quiet_stdout()
        sys.stdout, sys.stderr = streams


def _main(argv: Sequence[str] | None, interrupts: Interrupts | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # The first word that is not an option names the command (the top level has no valued option).
    command = next((word for word in argv if not word.startswith("-")), "")
    parser = build_parser(command)
    run_id = observe_cli.start(argv)
    args = parser.parse_args(argv)
    args.interrupts = interrupts = interrupts or Interrupts()
    observe_cli.setup(args, run_id)
    try:
        if getattr(args, "reports_interrupts", False):
            code: int = args.func(args)  # plan and update turn a signal into their report
        else:
            with interrupts.armed():
                code = args.func(args)
        return code
    except Interrupted as exc:
        print(f"interrupted ({exc}): nothing more was done", file=sys.stderr)
        return 128 + exc.signal_number
    except BrokenPipeError:
        quiet_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a defect: a one-line pointer and the traceback in a file, never exit 1
        from sos_inventory.report import save_traceback  # the report writers: not for --help

        path = save_traceback(exc, getattr(args, "run_id", None) or new_run_id(datetime.now(UTC)), None)
        problem = Problem(
            Category.CODE_DEFECT, f"internal error in {args.command}: {type(exc).__name__}: {exc}"
        )
        print_diagnosis(problem, traceback_path=str(path))
        return ExitCode.DEFECT


if __name__ == "__main__":
    sys.exit(main())

"""The ``sos-inventory`` command line: thin commands over the library.

Only this module prints, exits and configures logging; it turns the library's
errors into the exit codes of SPEC 5 and ends every failure with the runbook's
diagnosis (what failed, the cause, the action).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sos_inventory import __version__
from sos_inventory.config import (
    DEFAULT_CONFIG,
    Config,
    DevicesSpec,
    credentials_from_env,
    load_config,
    parse_duration,
    with_inventory_url,
)
from sos_inventory.devices import DeviceSet, parse_timestamp
from sos_inventory.errors import (
    ConfigError,
    InputError,
    Interrupted,
    LockHeld,
    RunStopped,
    SosError,
    SosInventoryError,
)
from sos_inventory.job import RunOptions, RunResult, make_plan, read_devices, run_update
from sos_inventory.lock import run_lock
from sos_inventory.ownership import explain
from sos_inventory.plan import Problem, input_problems
from sos_inventory.report import RunReport, write_reports
from sos_inventory.report import console as console_report
from sos_inventory.report.json_report import as_dict
from sos_inventory.runbook import ACTIONS, UPDATE_FAILED, Category
from sos_inventory.safety import limits_with_overrides
from sos_inventory.server import cli as server_cli

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


def _common(parser: argparse.ArgumentParser, *, network: bool) -> None:
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
    if network:
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
            "--deadline",
            default="30m",
            metavar="DURATION",
            help="stop starting requests after this long (e.g. 20m, 1h; default 30m)",
        )
        guards = parser.add_argument_group("safety guards (refuse before any write; exit 3)")
        guards.add_argument("--force", action="store_true", help="apply even if a safety limit is crossed")
        guards.add_argument(
            "--max-changes", type=int, metavar="N", help="raise safety.max_changes for this run"
        )
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
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more detail (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sos-inventory",
        description="Keep the SOS security-compliance inventory in step with the Netint devices.csv exports.",
        epilog=EXIT_CODES + "\nCredentials come from SOS_API_EMAIL and SOS_API_TOKEN, never from the config.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    raw = argparse.RawDescriptionHelpFormatter

    validate = commands.add_parser(
        "validate",
        help="check the config and devices files; writes nothing, queries nothing",
        description="Check the config and every devices file; list every problem. No network.",
        epilog="example:\n  sos-inventory validate --config sos-inventory.yaml\n\n" + EXIT_CODES,
        formatter_class=raw,
    )
    _common(validate, network=False)
    validate.set_defaults(func=cmd_validate)

    plan = commands.add_parser(
        "plan",
        help="show the changes update would make; writes nothing",
        description="Read the exports, query the inventories, and print the changes an update would make.",
        epilog="example:\n  sos-inventory plan --config sos-inventory.yaml --c-code ALC\n\n" + EXIT_CODES,
        formatter_class=raw,
    )
    _common(plan, network=True)
    plan.set_defaults(func=cmd_plan)

    update = commands.add_parser(
        "update",
        help="the job: plan, then update every record that differs, and report",
        description="Bring the SOS inventory in step: plan, apply the changes concurrently, write the reports.",
        epilog="example:\n  sos-inventory update --config sos-inventory.yaml --report-dir reports\n\n"
        + EXIT_CODES,
        formatter_class=raw,
    )
    _common(update, network=True)
    update.add_argument(
        "--state-dir",
        type=Path,
        default=Path(DEFAULT_STATE_DIR),
        metavar="DIR",
        help=f"where the run lock lives; one update at a time per folder (default: {DEFAULT_STATE_DIR})",
    )
    update.add_argument(
        "--wait-lock",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another run to finish instead of exiting 5 at once",
    )
    update.set_defaults(func=cmd_update)

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
    why.set_defaults(func=cmd_explain)

    server_cli.register(commands)
    return parser


# --- helpers ---------------------------------------------------------------------------------


def _setup_logging(args: argparse.Namespace) -> None:
    # Progress lines help on long network work; the offline commands stay terse unless -v.
    chatty = args.command in ("plan", "update") or getattr(args, "verbose", 0) > 0
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


def _now(args: argparse.Namespace) -> datetime:
    if not args.now:
        return datetime.now(UTC)
    try:
        return parse_timestamp(args.now)
    except ValueError:
        raise ConfigError(
            f"--now {args.now!r} is not an ISO 8601 date-time (e.g. 2026-11-27T12:00:00Z)"
        ) from None


def _c_codes(args: argparse.Namespace, config: Config) -> frozenset[str] | None:
    if not args.c_code:
        return None
    wanted = frozenset(code.strip() for item in args.c_code for code in item.split(",") if code.strip())
    unknown = sorted(wanted - set(config.c_codes))
    if unknown:
        raise ConfigError(
            f"--c-code {', '.join(unknown)}: not in the config's accounts ({', '.join(config.c_codes)})"
        )
    return wanted


def _device_specs(args: argparse.Namespace) -> list[DevicesSpec] | None:
    if not args.devices:
        return None
    return [DevicesSpec(path=path, account=args.account) for path in args.devices]


def _inputs(args: argparse.Namespace) -> tuple[Config, DeviceSet, frozenset[str] | None, datetime]:
    config = load_config(args.config)
    if getattr(args, "inventory_url", None):
        config = with_inventory_url(config, args.inventory_url)
    now = _now(args)
    c_codes = _c_codes(args, config)
    return config, read_devices(config, _device_specs(args), c_codes), c_codes, now


def _diagnosis(problem: Problem, out: TextIO = sys.stderr) -> None:
    """The runbook's three lines: what failed, the cause, the action."""
    print(f"error: {problem.message}", file=out)
    print(f"cause: {problem.category.value}", file=out)
    print(f"action: {problem.action}", file=out)


def _config_problem(error: ConfigError | InputError) -> Problem:
    return Problem(Category.INPUT_ERROR, str(error))


def _print_list(title: str, items: Sequence[str], out: TextIO = sys.stderr) -> None:
    print(title, file=out)
    for item in items:
        print(f"  - {item}", file=out)


def _finish(report: RunReport, args: argparse.Namespace) -> int:
    report.finished_at = datetime.now(UTC)
    if getattr(args, "report_dir", None):
        try:
            written = write_reports(report, args.report_dir)
            log.info("reports written: %s", ", ".join(str(p) for p in written))
        except OSError as exc:
            print(f"warning: could not write the reports in {args.report_dir}: {exc}", file=sys.stderr)
    if args.json:
        json.dump(as_dict(report), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif report.plan is not None and not (args.quiet and not report.outcomes and not report.problems()):
        sys.stdout.write(
            console_report.render(report, max_rows=None if args.verbose else console_report.DEFAULT_ROWS)
        )
    return report.exit_code


def _stopped(report: RunReport, stopped: SosInventoryError) -> int:
    """Record why the run stopped early and how far it got; return the exit code."""
    counts = report.counts()
    if report.plan is None:
        progress = "no plan was made, nothing was written"
    else:
        progress = f"{counts['applied']} applied, {counts['failed']} failed, {report.pending()} not attempted"
    report.stopped = f"{stopped}: {progress}"
    if isinstance(stopped, Interrupted):
        # Not a failure of the job or of the inventory: an operator or Jenkins asked it to stop.
        print(f"interrupted ({stopped}): {progress}; rerun the job to finish", file=sys.stderr)
        return 128 + stopped.signal_number
    report.failures.append(_stop_problem(stopped, progress))
    return EXIT_UNREACHABLE


def _stop_problem(stopped: SosInventoryError, progress: str) -> Problem:
    """The problem that says why the run stopped early."""
    if isinstance(stopped, SosError):
        base = Problem.from_error(stopped)
        return Problem(
            base.category, f"{base.message}; the run stopped: {progress}", stopped.c_code, stopped.hostname
        )
    cause = stopped.cause if isinstance(stopped, RunStopped) else None
    if cause is not None:
        base = Problem.from_error(cause)
        return Problem(
            base.category,
            f"{base.message}; the inventory looks down ({stopped}): the run stopped: {progress}",
        )
    return Problem(Category.SOS_API_ERROR, f"{UPDATE_FAILED}: {stopped}: {progress}")


def _options(
    args: argparse.Namespace, config: Config, c_codes: frozenset[str] | None, now: datetime
) -> RunOptions:
    if args.concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    try:
        deadline = parse_duration(args.deadline)
    except ValueError as exc:
        raise ConfigError(f"--deadline: {exc}") from None
    limits, overrides = limits_with_overrides(
        config.safety,
        max_changes=args.max_changes,
        max_change_ratio=args.max_change_ratio,
        min_export_ratio=args.min_export_ratio,
    )
    return RunOptions(
        now=now,
        c_codes=c_codes,
        concurrency=args.concurrency,
        retry=config.retry,
        deadline=deadline.total_seconds(),
        limits=limits,
        force=args.force,
        overrides=tuple(overrides),
    )


def _record(report: RunReport, result: RunResult) -> None:
    """Fill the report from a run's result and set its exit code."""
    report.attempts, report.retries = result.attempts, result.retries
    if result.plan is not None:
        report.set_plan(result.plan)
    report.verdict = result.verdict
    if result.verdict is not None and result.verdict.refused:
        report.failures.extend(
            Problem(Category.SAFETY_GUARD, r.message, r.c_code) for r in result.verdict.refusals
        )
        report.exit_code = EXIT_REFUSED
        return
    if result.applied is not None:
        report.outcomes = result.applied.outcomes
        if result.applied.stopped_by is not None:
            report.exit_code = _stopped(report, result.applied.stopped_by)
            return
    report.exit_code = EXIT_PROBLEMS if report.problems() else EXIT_OK


def _run(args: argparse.Namespace, command: str) -> int:
    report = RunReport(command=command, started_at=datetime.now(UTC), now=datetime.now(UTC))
    try:
        config, device_set, c_codes, report.now = _inputs(args)
        options = _options(args, config, c_codes, report.now)
        credentials = credentials_from_env()
        if command == "plan":
            _record(report, make_plan(config, device_set, credentials, options))
        else:
            with run_lock(args.state_dir, wait=args.wait_lock):
                _record(report, run_update(config, device_set, credentials, options))
    except ConfigError as exc:
        report.failures.append(_config_problem(exc))
        _print_list("error: configuration problem(s):", exc.problems)
        print(f"action: {ACTIONS[Category.INPUT_ERROR]}", file=sys.stderr)
        report.exit_code = EXIT_USAGE
    except InputError as exc:
        report.failures.append(_config_problem(exc))
        _print_list(
            "error: devices file(s) cannot be read; nothing was written:", [str(p) for p in exc.problems]
        )
        print(f"action: {ACTIONS[Category.INPUT_ERROR]}", file=sys.stderr)
        report.exit_code = EXIT_REFUSED
    except LockHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            "action: wait for that run to end (or use --wait-lock SECONDS); nothing was done", file=sys.stderr
        )
        return EXIT_LOCKED  # no report: the running job owns the report folder
    except (SosError, RunStopped) as exc:
        report.exit_code = _stopped(report, exc)
    code = _finish(report, args)
    if code != EXIT_OK and code not in (EXIT_USAGE,) and report.problems():
        _diagnosis(_primary(report))
    return code


def _primary(report: RunReport) -> Problem:
    """The problem that best explains the exit code: the run's own, then updates', then the plan's."""
    if report.failures:
        return report.failures[0]
    for outcome in report.outcomes:
        if outcome.outcome == "failed" and outcome.error is not None:
            return Problem.from_error(outcome.error)
    return report.problems()[0]


# --- commands --------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace) -> int:
    """``plan``: compute and print the plan."""
    return _run(args, "plan")


def cmd_update(args: argparse.Namespace) -> int:
    """``update``: plan and apply."""
    return _run(args, "update")


def cmd_validate(args: argparse.Namespace) -> int:
    """``validate``: config and inputs only."""
    try:
        config = load_config(args.config)
        _now(args)
        device_set = read_devices(config, _device_specs(args), _c_codes(args, config))
    except ConfigError as exc:
        _print_list(f"{args.config}: configuration problem(s):", exc.problems)
        return EXIT_USAGE
    except InputError as exc:
        _print_list("devices file(s) cannot be read:", [str(p) for p in exc.problems])
        return EXIT_REFUSED
    problems = input_problems(device_set)
    summary = {
        "files": [str(f.path) for f in device_set.files],
        "devices": device_set.rows,
        "machines": len(device_set.devices),
        "excluded": len(device_set.excluded),
        "invalid": device_set.invalid_rows,
        "problems": [p.to_dict() for p in problems],
    }
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for problem in problems:
            print(f"  [{problem.category.value}] {problem.message}")
        print(
            f"{args.config}: OK; {summary['devices']} rows in {len(device_set.files)} file(s): "
            f"{summary['machines']} machines, {summary['excluded']} excluded, {summary['invalid']} invalid"
        )
    return EXIT_PROBLEMS if problems else EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    """``explain HOSTNAME``: why a machine gets its metadata."""
    try:
        config, device_set, _, now = _inputs(args)
    except ConfigError as exc:
        _print_list(f"{args.config}: configuration problem(s):", exc.problems)
        return EXIT_USAGE
    except InputError as exc:
        _print_list("devices file(s) cannot be read:", [str(p) for p in exc.problems])
        return EXIT_REFUSED
    wanted = args.hostname.strip().split(".", 1)[0].lower()
    found = [d for d in device_set.devices if d.hostname == wanted]
    excluded = [d for d in device_set.excluded if d.hostname == wanted]
    for device in found:
        print("\n".join(explain(device, config, now)))
    if len(found) > 1:
        print(
            f"note: {len(found)} rows share this hostname; the inventory match uses Device ID, then IPs (SPEC 4.2)"
        )
    for device in excluded:
        print(
            f"{device.hostname}: excluded ({device.source}:{device.line}, type {device.device_type}); never written"
        )
    if found or excluded:
        return EXIT_OK
    invalid = [e for e in device_set.invalid if e.hostname == wanted]
    for error in invalid:
        print(f"{wanted}: its row is invalid: {error}")
    if not invalid:
        print(f"{wanted}: not in the devices files read ({len(device_set.files)} file(s))", file=sys.stderr)
    return EXIT_PROBLEMS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sos-inventory`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""``plan``, ``update`` and ``undo``: the request from the options, the run, what it says.

Each command builds one :class:`~sos_inventory.session.RunRequest` (:func:`request_of` checks
every option and reports all their problems at once), runs it, and shows the report: the
report files, the console, the closing diagnosis, the alert and the metrics. A run held by
the lock writes no report: the report folder belongs to the run that holds it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from sos_inventory.cli import observe as observe_cli
from sos_inventory.cli.common import (
    c_codes_of,
    config_of,
    device_specs,
    interrupts_of,
    log,
    print_diagnosis,
    run_clock,
    write_stdout,
)
from sos_inventory.config import Config, Credentials, credentials_from_env, parse_duration
from sos_inventory.errors import ConfigError, Interrupted
from sos_inventory.incidents.alerts import notify
from sos_inventory.model import ExitCode
from sos_inventory.outbound import SEND_DEADLINE, Deadline
from sos_inventory.redact import untrusted
from sos_inventory.report import RunReport, write_reports
from sos_inventory.report import console as console_report
from sos_inventory.report.json_report import as_dict
from sos_inventory.session import Command, Exports, Inputs, ReviewedPlan, RunRequest, Undo, not_started, run
from sos_inventory.state import open_store
from sos_inventory.sync.safety import limits_with_overrides

T = TypeVar("T")
_USAGE_ACTION = "Correct the option(s) named above and rerun (see --help)."
_USAGE = "usage problem(s)"


def _checked(errors: list[ConfigError], check: Callable[[], T]) -> T | None:
    """``check()``, or None with its ConfigError kept in ``errors`` (every problem is told at once)."""
    try:
        return check()
    except ConfigError as exc:
        errors.append(exc)
        return None


def _option_problems(args: argparse.Namespace, command: Command) -> list[str]:
    """What is wrong with the options themselves, all of it."""
    problems = []
    if args.concurrency < 1:
        problems.append(f"--concurrency {args.concurrency}: must be at least 1 (default 8)")
    if args.max_rps is not None and not args.max_rps > 0:
        problems.append(f"--max-rps {args.max_rps:g}: must be positive (leave it out for no cap)")
    for option, text in (
        ("--deadline", args.deadline),
        ("--max-plan-age", getattr(args, "max_plan_age", None)),
    ):
        if text is not None:
            try:
                parse_duration(text)
            except ValueError as exc:
                problems.append(f"{option} {untrusted(text, 40)!r}: {exc}")
    wait = getattr(args, "wait_lock", 0.0)
    if not 0 <= wait <= 86400:  # NaN too
        problems.append(f"--wait-lock {wait:g}: seconds between 0 and 86400")
    return problems


def _checked_parts(
    args: argparse.Namespace, command: Command
) -> tuple[Config, datetime, Credentials, frozenset[str] | None]:
    """The config, clock, credentials and C_Codes the options give; ConfigError listing every
    problem of the options, the config, the clock and the credentials at once."""
    errors: list[ConfigError] = []
    problems = _option_problems(args, command)
    if problems:
        errors.append(ConfigError(problems, action=_USAGE_ACTION, headline=_USAGE))
    if args.force and not (args.reason or "").strip():
        errors.append(
            ConfigError(
                "--force needs --reason TEXT: why the guard is overridden is part of the evidence",
                action="Add --reason TEXT (the report and the ledger record it), or leave --force out.",
                headline=_USAGE,
            )
        )
    config = _checked(errors, lambda: config_of(args))
    now = _checked(errors, lambda: run_clock(args))
    credentials = _checked(errors, credentials_from_env)
    c_codes = None
    if config is not None:
        known = config
        c_codes = _checked(errors, lambda: c_codes_of(args, known))
        if credentials is not None:
            _checked(errors, lambda: credentials.check_for(known.inventory_url))
    if errors or config is None or now is None or credentials is None:
        actions = list(dict.fromkeys(e.action for e in errors if e.action))
        headlines = list(dict.fromkeys(e.headline for e in errors))
        raise ConfigError(
            [p for e in errors for p in e.problems],
            action=" ".join(actions) or None,
            headline=headlines[0] if len(headlines) == 1 else "usage and configuration problem(s)",
        )
    return config, now, credentials, c_codes


def request_of(args: argparse.Namespace, command: Command) -> RunRequest:
    """The run the options ask for; ConfigError listing every problem of the options, the config,
    the clock and the credentials at once."""
    config, now, credentials, c_codes = _checked_parts(args, command)
    limits, overrides = limits_with_overrides(
        config.safety,
        max_changes=args.max_changes,
        max_change_ratio=args.max_change_ratio,
        min_export_ratio=args.min_export_ratio,
    )
    inputs: Inputs
    if command == "undo":
        inputs = Undo(args.undo_run, c_codes)
    elif getattr(args, "plan", None):
        inputs = ReviewedPlan(args.plan, parse_duration(args.max_plan_age), c_codes)
    else:
        specs = device_specs(args)
        inputs = Exports(None if specs is None else tuple(specs), c_codes)
    reason = (args.reason or "").strip()
    return RunRequest(
        command=command,
        config=replace(config, safety=limits),
        credentials=credentials,
        now=now,
        inputs=inputs,
        apply=getattr(args, "apply", False),
        concurrency=args.concurrency,
        deadline=parse_duration(args.deadline).total_seconds(),
        max_rps=args.max_rps,
        query_strategy=args.query_strategy,
        force=args.force,
        reason=untrusted(reason, 500) if reason else None,
        overrides=tuple(overrides),
        state_dir=args.state_dir,
        report_dir=args.report_dir,
        plan_out=getattr(args, "out", None),
        wait_lock=getattr(args, "wait_lock", 0.0),
        run_id=args.run_id,
        build_url=os.environ.get("BUILD_URL"),
    )


def _command(args: argparse.Namespace, command: Command) -> int:
    """Run the command; a signal raises Interrupted only where the run allows it: whatever comes
    after, the report is written."""
    interrupts = interrupts_of(args)
    with interrupts.deferred():
        try:
            with interrupts.armed():  # a signal that came while the command loaded stops it here
                request = request_of(args, command)
        except (ConfigError, Interrupted) as exc:
            report = not_started(command, exc, report_dir=args.report_dir, run_id=args.run_id)
        else:
            report = run(request, interrupts=interrupts, progress=args.progress)
        return show(report, args)


def show(report: RunReport, args: argparse.Namespace) -> int:
    """The report in its files and on the console, the closing diagnosis, the alert and the
    metrics; the exit code."""
    if report.exit_code == ExitCode.LOCKED:
        print(f"error: {report.stopped}", file=sys.stderr)
        print(
            "action: wait for that run to end (or use --wait-lock SECONDS); nothing was done", file=sys.stderr
        )
        return report.exit_code
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if report.report_dir is not None:
        try:
            written = write_reports(report, report.report_dir)
            log.info("reports written: %s", ", ".join(str(p) for p in written))
        except OSError as exc:
            print(f"warning: could not write the reports in {report.report_dir}: {exc}", file=sys.stderr)
    sends = Deadline.after(SEND_DEADLINE)  # one deadline for all of the run's sends
    observe_cli.finish(report, args, sends)
    if args.json:
        write_stdout(json.dumps(as_dict(report), indent=2) + "\n")
    elif report.plan is not None and not (args.quiet and not report.outcomes and not report.problems()):
        write_stdout(console_report.render(report, verbose=args.verbose > 0))
    if report.exit_code != ExitCode.OK and report.problems():
        print_diagnosis(report.primary(), traceback_path=report.traceback_path)
    if args.notify_url and report.exit_code < 100:  # an interrupted run says nothing of the failures
        notify(report, open_store(args.state_dir), args.notify_url, now=report.started_at, deadline=sends)
    return report.exit_code


def cmd_plan(args: argparse.Namespace) -> int:
    """``plan``: compute and print the plan."""
    return _command(args, "plan")


def cmd_update(args: argparse.Namespace) -> int:
    """``update``: plan and apply (or apply a reviewed plan)."""
    return _command(args, "update")


def cmd_undo(args: argparse.Namespace) -> int:
    """``undo RUN_ID``: plan (and with --apply, write) the restoration of a run's before values."""
    return _command(args, "undo")

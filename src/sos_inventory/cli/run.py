"""``plan`` and ``update``: run the job, report, diagnose the failure, alert."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sos_inventory.cli.common import (
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    config_of,
    config_problem,
    find_inputs,
    log,
    print_list,
    run_clock,
)
from sos_inventory.cli.recording import drift_review, recorded_run, reviewed_plan, save_plan, undo_plan
from sos_inventory.config import (
    Config,
    Credentials,
    credentials_from_env,
    parse_duration,
)
from sos_inventory.errors import (
    ConfigError,
    InputError,
    Interrupted,
    LedgerError,
    LockHeld,
    PlanFileError,
    RunStopped,
    SosError,
    SosInventoryError,
)
from sos_inventory.job import RunOptions, RunResult, c_codes_in_play, make_plan, run_reviewed, run_update
from sos_inventory.lock import run_lock
from sos_inventory.notify import (
    ALERTS_NAME,
    alert_events,
    event_text,
    load_alert_state,
    next_state,
    post_alert,
    save_alert_state,
)
from sos_inventory.plan import Problem
from sos_inventory.report import RunReport, write_reports
from sos_inventory.report import console as console_report
from sos_inventory.report.json_report import as_dict
from sos_inventory.report.text import summary_line
from sos_inventory.runbook import UPDATE_FAILED, Category, default_knowledge
from sos_inventory.safety import limits_with_overrides


def _diagnosis(problem: Problem, out: TextIO = sys.stderr) -> None:
    """The runbook's diagnosis: what failed, the cause, whether to rerun, the action."""
    info = default_knowledge().categories[problem.category]
    print(f"error: {problem.message}", file=out)
    print(f"cause: {problem.category.value}", file=out)
    print(f"why: {info.summary}", file=out)
    print(
        f"rerun: {'advised, the cause is usually transient' if info.transient else 'will not help until it is fixed'}",
        file=out,
    )
    print(f"action: {problem.action}", file=out)
    if info.ticket:
        print("ticket: a draft is in report.json (problems[].ticket) with --report-dir", file=out)


def _failures(report: RunReport) -> list[Problem]:
    """What the run failed at, for alerts: never success, ambiguity or bad rows alone."""
    failed_updates = [
        Problem.from_error(o.error) for o in report.outcomes if o.outcome == "failed" and o.error
    ]
    if report.exit_code == EXIT_OK or (report.exit_code == EXIT_PROBLEMS and not failed_updates):
        return []
    return [*report.failures, *failed_updates] or [_primary(report)]


def _alert(report: RunReport, args: argparse.Namespace) -> None:
    """Alerts without noise: a failure when it first appears, a daily reminder, one "resolved"."""
    if not args.notify_url or report.exit_code == EXIT_LOCKED or report.exit_code > 100:
        return  # another run's, or interrupted: this run says nothing of the failures
    failing = _failures(report)
    path = args.state_dir / ALERTS_NAME
    state = load_alert_state(path)
    now = datetime.now(UTC)
    sent = []
    for event in alert_events(state, failing, now):
        text = event_text(
            event, build_url=report.build_url, exit_code=report.exit_code, summary=summary_line(report)
        )
        if post_alert(args.notify_url, text):
            sent.append(event)
            log.info("%s posted to the webhook: %s", event.kind, event.key)
    save_alert_state(path, next_state(state, failing, sent, now))


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


def _options(args: argparse.Namespace, config: Config, now: datetime) -> RunOptions:
    if args.concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    if args.max_rps is not None and args.max_rps <= 0:
        raise ConfigError("--max-rps must be positive")
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
        concurrency=args.concurrency,
        retry=config.retry,
        deadline=deadline.total_seconds(),
        limits=limits,
        force=args.force,
        query_strategy=args.query_strategy,
        max_rps=args.max_rps,
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


def _failed(report: RunReport, exc: SosInventoryError) -> None:
    """Record why the run could not go on: a bad config or export, or the inventory stopped it."""
    if isinstance(exc, ConfigError):
        report.failures.append(config_problem(exc))
        print_list("error: configuration problem(s):", exc.problems)
        print(f"action: {Problem(Category.INPUT_ERROR, '').action}", file=sys.stderr)
        report.exit_code = EXIT_USAGE
    elif isinstance(exc, InputError):
        report.failures.append(config_problem(exc))
        print_list(
            "error: devices file(s) cannot be read; nothing was written:", [str(p) for p in exc.problems]
        )
        print(f"action: {Problem(Category.INPUT_ERROR, '').action}", file=sys.stderr)
        report.exit_code = EXIT_REFUSED
    elif isinstance(exc, SosError | RunStopped):
        report.exit_code = _stopped(report, exc)
    else:
        raise exc


def _guarded(report: RunReport, work: Callable[[], RunResult]) -> None:
    try:
        _record(report, work())
    except (ConfigError, InputError, SosError, RunStopped) as exc:
        _failed(report, exc)


Work = Callable[[RunOptions], RunResult]


@dataclass(frozen=True, slots=True)
class _Job:
    """What a command runs: its inputs, the work, and whether it writes."""

    config: Config
    credentials: Credentials
    c_codes: list[str]
    work: Work
    writes: bool
    inputs: list[Path]  # the files the plan was made from (for plan --out)


def _job(args: argparse.Namespace, command: str, report: RunReport) -> _Job:
    if command == "undo" or getattr(args, "plan", None):
        config, report.now = config_of(args), run_clock(args)
        credentials = credentials_from_env()
        if command == "undo":
            changes, why, writes = (
                undo_plan(args.state_dir, args.run_id),
                f"changed since run {args.run_id}",
                args.apply,
            )
        else:
            changes, why, writes = (
                reviewed_plan(args, config),
                "the record changed since the plan was made",
                True,
            )

        def reviewed(options: RunOptions) -> RunResult:
            return run_reviewed(config, credentials, options, changes, write=writes, stale_because=why)

        return _Job(config, credentials, sorted({c.c_code for c in changes}), reviewed, writes, [])
    config, files, report.now = find_inputs(args)
    credentials = credentials_from_env()
    review = drift_review(args.state_dir, config)
    if command == "plan":

        def planned(options: RunOptions) -> RunResult:
            return make_plan(config, files, credentials, replace(options, review=review))

        inputs = [p for p in [config.path, *(f.path for f in files)] if p is not None]
        return _Job(config, credentials, c_codes_in_play(config, files), planned, False, inputs)

    def update(options: RunOptions) -> RunResult:
        return run_update(config, files, credentials, replace(options, review=review))

    return _Job(config, credentials, c_codes_in_play(config, files), update, True, [])


def _run(args: argparse.Namespace, command: str) -> int:
    report = RunReport(
        command=command,
        started_at=datetime.now(UTC),
        now=datetime.now(UTC),
        build_url=os.environ.get("BUILD_URL"),
    )
    try:
        job = _job(args, command, report)
        options = _options(args, job.config, report.now)
        if not job.writes:
            _guarded(report, lambda: job.work(options))
        else:
            with (
                run_lock(args.state_dir, wait=args.wait_lock),
                recorded_run(args.state_dir, report, job.config, job.credentials, job.c_codes) as recorder,
            ):
                _guarded(report, lambda: job.work(replace(options, record=recorder)))
        if (
            getattr(args, "out", None)
            and report.plan is not None
            and report.exit_code in (EXIT_OK, EXIT_PROBLEMS)
        ):
            save_plan(args.out, report, job.config, job.c_codes, job.inputs)
    except (ConfigError, InputError) as exc:
        _failed(report, exc)
    except LockHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            "action: wait for that run to end (or use --wait-lock SECONDS); nothing was done", file=sys.stderr
        )
        return EXIT_LOCKED  # no report: the running job owns the report folder
    except (LedgerError, PlanFileError) as exc:
        # A ledger failing mid-run stops it before the next write: no write without evidence.
        outcome = (
            "the run stopped before its next write (no write without evidence)"
            if isinstance(exc, LedgerError)
            else "nothing was written"
        )
        report.failures.append(Problem(Category.INPUT_ERROR, f"{exc}; {outcome}"))
        print(f"error: {exc}; {outcome}", file=sys.stderr)
        action = (
            "make --state-dir writable (disk space, permissions), then rerun"
            if isinstance(exc, LedgerError)
            else "make and review a new plan: sos-inventory plan --out PLAN.json"
        )
        print(f"action: {action}", file=sys.stderr)
        report.exit_code = EXIT_REFUSED
    code = _finish(report, args)
    if code != EXIT_OK and code not in (EXIT_USAGE,) and report.problems():
        _diagnosis(_primary(report))
    _alert(report, args)
    return code


def _primary(report: RunReport) -> Problem:
    """The problem that best explains the exit code: the run's own, then updates', then the plan's."""
    if report.failures:
        return report.failures[0]
    for outcome in report.outcomes:
        if outcome.outcome == "failed" and outcome.error is not None:
            return Problem.from_error(outcome.error)
    return report.problems()[0]


def cmd_plan(args: argparse.Namespace) -> int:
    """``plan``: compute and print the plan."""
    return _run(args, "plan")


def cmd_update(args: argparse.Namespace) -> int:
    """``update``: plan and apply (or apply a reviewed plan)."""
    return _run(args, "update")


def cmd_undo(args: argparse.Namespace) -> int:
    """``undo RUN_ID``: plan (and with --apply, write) the restoration of a run's before values."""
    return _run(args, "undo")

"""``plan``, ``update`` and ``undo``: run the job, record it, report, diagnose the failure, alert.

Every way a run can end goes through :func:`_run` and ends with a report (when
``--report-dir`` is given) that says how it ended: done, done with problems,
refused, stopped, interrupted by a signal, or an internal error (exit 70, the
traceback saved beside the report). Only a held lock ends without one: the report
folder belongs to the run that holds it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sos_inventory import __version__
from sos_inventory.cli import observe as observe_cli
from sos_inventory.cli.common import (
    config_of,
    device_specs,
    find_inputs,
    interrupts_of,
    log,
    print_diagnosis,
    run_clock,
    save_traceback,
    write_stdout,
)
from sos_inventory.cli.recording import drift_review, recorded_run, reviewed_plan, save_plan, undo_plan
from sos_inventory.config import Config, credentials_from_env, parse_duration
from sos_inventory.diagnose.netfacts import network_facts
from sos_inventory.errors import (
    ConfigError,
    DeadlineExceeded,
    InputError,
    Interrupted,
    LedgerError,
    LockHeld,
    PlanFileError,
    RunStopped,
    SosError,
    SosInventoryError,
)
from sos_inventory.incidents.alerts import (
    ALERTS_NAME,
    alert_events,
    event_text,
    load_alert_state,
    next_state,
    post_alert,
    save_alert_state,
)
from sos_inventory.interrupts import Interrupts
from sos_inventory.model import Category, Problem, new_run_id
from sos_inventory.redact import untrusted
from sos_inventory.report import RunReport, check_report_dir, write_reports
from sos_inventory.report import console as console_report
from sos_inventory.report.json_report import as_dict
from sos_inventory.report.run import (
    EXIT_DEFECT,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from sos_inventory.report.text import summary_line
from sos_inventory.runbook import UPDATE_FAILED, problem_of
from sos_inventory.state.sqlite.lock import run_lock
from sos_inventory.sync.apply import not_attempted
from sos_inventory.sync.devices import DevicesFile
from sos_inventory.sync.engine import (
    RunOptions,
    RunResult,
    c_codes_in_play,
    make_plan,
    run_reviewed,
    run_update,
)
from sos_inventory.sync.provenance import provenance
from sos_inventory.sync.safety import limits_with_overrides


def _failures(report: RunReport) -> list[Problem]:
    """What the run failed at, for alerts: never success, ambiguity or bad rows alone."""
    failed_updates = [problem_of(o.error) for o in report.outcomes if o.outcome == "failed" and o.error]
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


#: Causes whose tickets name the addresses involved (the inventory's, the resolver's, the agent's).
_CONNECTIVITY = (Category.DNS_LOOKUP_FAILURE, Category.NETWORK_TIMEOUT)


def _finish(report: RunReport, args: argparse.Namespace, report_dir: Path | None, *, writes: bool) -> int:
    if report.finished_at is None:  # a writing run ended when its ledger closed it
        report.finished_at = datetime.now(UTC)
    causes = {problem.category for problem in report.problems()}
    if report.inventory_url and causes & set(_CONNECTIVITY):
        resolve = Category.DNS_LOOKUP_FAILURE not in causes  # when DNS failed, a lookup would only wait
        report.network = network_facts(report.inventory_url, resolve=resolve)
    if writes:  # a run that writes and ended with a change still planned never tried it
        report.outcomes = not_attempted(report.outcomes)
    if report_dir is not None:
        try:
            written = write_reports(report, report_dir)
            log.info("reports written: %s", ", ".join(str(p) for p in written))
        except OSError as exc:
            print(f"warning: could not write the reports in {report_dir}: {exc}", file=sys.stderr)
    observe_cli.finish(report, args)
    if args.json:
        write_stdout(json.dumps(as_dict(report), indent=2) + "\n")
    elif report.plan is not None and not (args.quiet and not report.outcomes and not report.problems()):
        write_stdout(console_report.render(report, verbose=args.verbose > 0))
    return report.exit_code


def _stopped(report: RunReport, stopped: SosInventoryError) -> int:
    """Record why the run stopped early and how far it got; return the exit code."""
    counts = report.counts()
    if report.plan is None:
        progress = "no plan was made, nothing was written"
    elif report.command == "plan":
        progress = "the plan was made, nothing is written by plan"
    else:
        progress = (
            f"{counts['applied']} applied, {counts['failed']} failed, {report.not_attempted()} not attempted"
        )
    report.stopped = f"{stopped}: {progress}"
    if isinstance(stopped, Interrupted):
        # Not a failure of the job or of the inventory: an operator or Jenkins asked it to stop.
        # The run's own verdict, so the closing diagnosis (and diagnose) says so, not a plan problem.
        text = f"interrupted ({stopped}): {progress}; rerun the job to finish"
        report.failures.append(Problem(Category.INTERRUPTED, text))
        return 128 + stopped.signal_number
    report.failures.append(_stop_problem(stopped, progress))
    return EXIT_UNREACHABLE


def _stop_problem(stopped: SosInventoryError, progress: str) -> Problem:
    """The problem that says why the run stopped early."""
    if isinstance(stopped, SosError):
        base = problem_of(stopped)
        return Problem(
            base.category,
            f"{base.message}; the run stopped: {progress}",
            stopped.c_code,
            stopped.hostname,
            facts=base.facts,
        )
    if isinstance(stopped, DeadlineExceeded):
        return Problem(
            Category.SOS_API_ERROR,
            f"{UPDATE_FAILED}: {stopped}: {progress}",
            action_text="Rerun the job: it does what this run did not reach. If the deadline keeps "
            "passing, raise --deadline (and the Jenkinsfile's timeout) or --concurrency, or ask in "
            "#sos-api whether the API has become slow.",
        )
    cause = stopped.cause if isinstance(stopped, RunStopped) else None
    if cause is not None:
        base = problem_of(cause)
        return Problem(
            base.category,
            f"{base.message}; the inventory looks down ({stopped}): the run stopped: {progress}",
            facts=base.facts,
        )
    return Problem(Category.SOS_API_ERROR, f"{UPDATE_FAILED}: {stopped}: {progress}")


def _options(args: argparse.Namespace, config: Config, now: datetime) -> RunOptions:
    problems = []
    if args.concurrency < 1:
        problems.append(f"--concurrency {args.concurrency}: must be at least 1 (default 8)")
    if args.max_rps is not None and args.max_rps <= 0:
        problems.append(f"--max-rps {args.max_rps:g}: must be positive (leave it out for no cap)")
    try:
        deadline = parse_duration(args.deadline).total_seconds()
    except ValueError as exc:
        problems.append(f"--deadline {args.deadline!r}: {exc}")
        deadline = 0.0
    reason = (args.reason or "").strip() or None
    if args.force and reason is None:
        problems.append("--force needs --reason TEXT: why the guard is overridden is part of the evidence")
    if problems:
        raise ConfigError(problems, action="Correct the option(s) named above and rerun (see --help).")
    limits, overrides = limits_with_overrides(
        config.safety,
        max_changes=args.max_changes,
        max_change_ratio=args.max_change_ratio,
        min_export_ratio=args.min_export_ratio,
    )
    return RunOptions(
        now=now,
        concurrency=args.concurrency,
        deadline=deadline,
        limits=limits,
        force=args.force,
        reason=None if reason is None else untrusted(reason, 500),
        query_strategy=args.query_strategy,
        max_rps=args.max_rps,
        overrides=tuple(overrides),
        progress=args.progress,
    )


def _record(report: RunReport, result: RunResult) -> None:
    """Fill the report from a run's result and set its exit code."""
    report.attempts, report.retries = result.attempts, result.retries
    report.attempts_by_kind = result.attempts_by_kind
    if result.plan is not None:
        report.set_plan(result.plan)
    report.verdict = result.verdict
    if result.applied is not None:
        report.outcomes = result.applied.outcomes
    if result.error is not None:
        raise result.error  # _run says how the run ended
    if result.verdict is not None and result.verdict.refused:
        refusals = result.verdict.refusals
        report.failures.extend(Problem(Category.SAFETY_GUARD, r.message, r.c_code) for r in refusals)
        report.stopped = (
            f"refused by {len(refusals)} safety limit(s) ({', '.join(r.limit for r in refusals)})"
        )
        if report.command != "plan":
            report.stopped += "; nothing was written"
        report.exit_code = EXIT_REFUSED
    elif result.applied is not None and result.applied.stopped_by is not None:
        report.exit_code = _stopped(report, result.applied.stopped_by)
    else:
        report.exit_code = EXIT_PROBLEMS if report.problems() else EXIT_OK


def _run(args: argparse.Namespace, command: str) -> int:
    """Run the job. Signals raise Interrupted only inside its ``armed`` part: whatever comes
    after, the report is written."""
    interrupts = interrupts_of(args)
    with interrupts.deferred():
        return _run_job(args, command, interrupts)


Work = Callable[[RunOptions, Interrupts], RunResult]


@dataclass(frozen=True, slots=True)
class _Job:
    """What a command runs: its inputs, the work, and whether it writes."""

    config: Config
    work: Work
    writes: bool
    inputs: list[Path]  # the files the plan was made from (for plan --out)


def _job(args: argparse.Namespace, command: str, report: RunReport) -> _Job:
    """Read what the command needs (config, exports or a reviewed plan) and name it in the report."""
    changes = None
    if command == "undo" or getattr(args, "plan", None):
        config, report.now = config_of(args), run_clock(args)
        if command == "undo":
            changes, why, writes = (
                undo_plan(args.state_dir, args.undo_run),
                f"changed since run {args.undo_run}",
                args.apply,
            )
            stale_action: str | None = (
                "Nothing was written to these records. Where they already hold the values from before "
                f"run {args.undo_run} (an undo done twice), nothing is left to do; otherwise "
                "`sos-inventory history HOSTNAME` shows what changed them since, and the next update "
                "decides them again from the exports."
            )
        else:
            changes, why, writes = (
                reviewed_plan(args, config),
                "the record changed since the plan was made",
                True,
            )
            stale_action = None  # the runbook's: make, review and apply a new plan
        report.c_codes = sorted({c.c_code for c in changes})
        files: list[DevicesFile] = []
    else:
        config, files, report.now = find_inputs(args)
        report.c_codes = c_codes_in_play(config, files)
    report.config_path = str(config.path) if config.path else None
    report.config_sha256 = config.sha256
    report.inputs = provenance(_input_paths(args, config, reviewed=changes is not None))
    report.inventory_url = config.inventory_url
    credentials = credentials_from_env()
    credentials.check_for(config.inventory_url)
    report.api_user = credentials.email
    if changes is not None:
        reviewed = list(changes)

        def apply_reviewed(options: RunOptions, interrupts: Interrupts) -> RunResult:
            return run_reviewed(
                config,
                credentials,
                options,
                reviewed,
                write=writes,
                stale_because=why,
                stale_action=stale_action,
                interrupts=interrupts,
            )

        return _Job(config, apply_reviewed, writes, [])
    review = drift_review(args.state_dir, config)

    def plan_or_update(options: RunOptions, interrupts: Interrupts) -> RunResult:
        run = make_plan if command == "plan" else run_update
        return run(config, files, credentials, replace(options, review=review), interrupts=interrupts)

    inputs = [p for p in [config.path, *(f.path for f in files)] if p is not None]
    return _Job(config, plan_or_update, command != "plan", inputs)


def _input_paths(args: argparse.Namespace, config: Config, *, reviewed: bool) -> dict[str, Path]:
    """The inputs whose checkout's commit the report and the ledger name: the config, and the exports
    (or the reviewed plan)."""
    paths = {"config": config.path} if config.path else {}
    if reviewed:
        plan_file: Path | None = getattr(args, "plan", None)
        return {**paths, "plan": plan_file} if plan_file else paths
    specs = device_specs(args) or list(config.devices)
    return {**paths, **{f"devices[{n}]": spec.path for n, spec in enumerate(specs, start=1)}}


def _concluded(report: RunReport, work: Callable[[], None], report_dir: Callable[[], Path | None]) -> bool:
    """Run ``work`` and set the report's exit code from how it ended; True when the lock was held.

    ``report_dir``: where an internal error's traceback goes (None: the report folder is unusable).
    """
    try:
        work()
    except LockHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(
            "action: wait for that run to end (or use --wait-lock SECONDS); nothing was done", file=sys.stderr
        )
        return True
    except (ConfigError, InputError, LedgerError, PlanFileError) as exc:
        # Told once, by the closing diagnosis. A ledger failing mid-run stops it before the next
        # write (no write without evidence).
        report.failures.append(problem_of(exc))
        report.exit_code = EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_REFUSED
    except (SosError, RunStopped) as exc:
        report.exit_code = _stopped(report, exc)
    except Exception as exc:  # a defect: say so plainly, keep the evidence, never exit 1
        report.exit_code = EXIT_DEFECT
        report.traceback_path = str(save_traceback(exc, report.run_id, report_dir()))
        report.failures.append(
            Problem(Category.CODE_DEFECT, f"internal error: {type(exc).__name__}: {exc}", facts={})
        )
        logging.getLogger("sos_inventory").debug("internal error", exc_info=exc)
    return False


def _run_job(args: argparse.Namespace, command: str, interrupts: Interrupts) -> int:
    started = datetime.now(UTC)
    report = RunReport(
        command=command,
        started_at=started,
        now=started,
        run_id=getattr(args, "run_id", None) or new_run_id(started),  # the log lines' name of the run
        version=__version__,
        build_url=os.environ.get("BUILD_URL"),
    )

    report_dir: Path | None = args.report_dir
    writes = command == "update" or (command == "undo" and args.apply)

    def run() -> None:
        nonlocal report_dir
        with interrupts.armed():  # a signal that came while the command loaded stops it here
            if report_dir is not None:
                try:
                    check_report_dir(report_dir)
                except InputError:
                    report_dir = None  # nothing can be written there, not even this refusal
                    raise
            job = _job(args, command, report)
            options = _options(args, job.config, report.now)
            if not job.writes:
                _record(report, job.work(options, interrupts))
            else:
                # The exit code is settled inside the lock and the ledger: the ledger's finish row
                # says how the run ended before the next run may start.
                with (
                    run_lock(args.state_dir, wait=args.wait_lock),
                    recorded_run(args.state_dir, report) as recorder,
                ):
                    work = replace(options, record=recorder)
                    _concluded(
                        report, lambda: _record(report, job.work(work, interrupts)), lambda: report_dir
                    )
        if (
            getattr(args, "out", None)
            and report.plan is not None
            and report.exit_code in (EXIT_OK, EXIT_PROBLEMS)
        ):
            save_plan(args.out, report, job.inputs)

    if _concluded(report, run, lambda: report_dir):
        return EXIT_LOCKED  # no report: the running job owns the report folder
    code = _finish(report, args, report_dir, writes=writes)
    if code != EXIT_OK and report.problems():
        print_diagnosis(_primary(report), traceback_path=report.traceback_path)
    _alert(report, args)
    return code


def _primary(report: RunReport) -> Problem:
    """The problem that best explains the exit code: the run's own, then updates', then the plan's."""
    if report.failures:
        return report.failures[0]
    for outcome in report.outcomes:
        if outcome.outcome == "failed" and outcome.error is not None:
            return problem_of(outcome.error)
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

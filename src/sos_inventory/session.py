"""The session: one run, one request in, one report out. The only module that composes the floors below.

:class:`RunRequest` is everything a ``plan``, ``update`` or ``undo`` is asked to do (the
command line builds it from its options; a library caller builds it directly); :func:`run`
does it and returns the :class:`~sos_inventory.report.run.RunReport`:

1. the report folder is checked (a run whose evidence could not be written is refused);
2. the inputs are read: the exports, a reviewed plan, or the run to undo;
3. a run that writes takes the lock and opens the ledger, reviews the plan against the
   ledger (manual edits, fights), and records every write before it is sent;
4. the sync (sync/engine.py) reads the exports and the inventories at once, plans, checks the
   guards and applies, over the request's inventory (config ``inventory.api``, or one given);
5. how the run ended, and why, is decided in one place (:func:`_conclude`, :func:`_stopped`).

It never prints, exits or configures logging: what a person should read is in the report
(``failures``, ``warnings``, ``stopped``) for the command line, or the caller, to show.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from sos_inventory.config import Config, Credentials, DevicesSpec
from sos_inventory.diagnose.netfacts import network_facts
from sos_inventory.errors import (
    ConfigError,
    DeadlineExceeded,
    InputError,
    Interrupted,
    LockHeld,
    PlanFileError,
    RateOutlastsDeadline,
    RunStopped,
    SosError,
    SosInventoryError,
    StateError,
)
from sos_inventory.interrupts import Interrupts
from sos_inventory.inventory.protocol import Inventory, QueryStrategy
from sos_inventory.model import (
    DONE,
    VERSION,
    Category,
    Change,
    ExitCode,
    Problem,
    Progress,
    new_run_id,
    no_progress,
)
from sos_inventory.private import write_private
from sos_inventory.redact import untrusted
from sos_inventory.report import check_report_dir, save_traceback
from sos_inventory.report.run import RunReport, iso
from sos_inventory.runbook import UPDATE_FAILED, problem_of
from sos_inventory.state import open_store
from sos_inventory.state.store import LedgerRecorder, StateStore
from sos_inventory.sync import drift
from sos_inventory.sync.apply import Recorder, not_attempted
from sos_inventory.sync.devices import DevicesFile, find_files
from sos_inventory.sync.engine import (
    RunOptions,
    RunResult,
    c_codes_in_play,
    make_plan,
    run_reviewed,
    run_update,
)
from sos_inventory.sync.plan import Plan
from sos_inventory.sync.provenance import provenance
from sos_inventory.sync.reviewed import (
    SavedPlan,
    config_values,
    in_scope,
    load_plan,
    plan_document,
    same_inventory,
    undo_changes,
)

log = logging.getLogger(__name__)

Command = Literal["plan", "update", "undo"]
#: Causes whose tickets name the addresses involved (the inventory's, the resolver's, the agent's).
CONNECTIVITY = frozenset({Category.DNS_LOOKUP_FAILURE, Category.NETWORK_TIMEOUT})


@dataclass(frozen=True, slots=True)
class Exports:
    """A plan's or an update's inputs: the exports of ``specs`` (None: the config's ``devices``),
    of the C_Codes ``c_codes`` only (None: every C_Code of the config)."""

    specs: tuple[DevicesSpec, ...] | None = None
    c_codes: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class ReviewedPlan:
    """``update --plan``: exactly the changes of a plan saved by ``plan --out`` (no export is read)."""

    path: Path
    max_age: timedelta = timedelta(hours=24)
    c_codes: frozenset[str] | None = None  # --c-code: only these C_Codes' changes (None: every one)


@dataclass(frozen=True, slots=True)
class Undo:
    """``undo``: the restoration of what run ``run_id`` wrote."""

    run_id: str
    c_codes: frozenset[str] | None = None  # --c-code: only these C_Codes' changes (None: every one)


Inputs = Exports | ReviewedPlan | Undo


def _wall_clock() -> datetime:
    return datetime.now(UTC)


#: How far a writing run's clock (--now) may be from the wall clock before the run says so: a day's
#: lag or a week's replay of a missed run is normal, months are a typo or a copied command line.
CLOCK_SKEW = timedelta(days=7)


def clock_skew(now: datetime, wall: datetime) -> str | None:
    """A warning when a run that writes decides every Status against a clock far from the real one."""
    gap = now - wall
    if abs(gap) <= CLOCK_SKEW:
        return None
    days = abs(gap).days
    side = "ahead of" if gap > timedelta(0) else "behind"
    return (
        f"the run clock (--now {iso(now)}) is {days} days {side} the real clock ({iso(wall)}): every Status "
        f"is decided and written against it; more than {CLOCK_SKEW.days} days is usually a mistake"
    )


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Everything one run is asked to do. ``config`` has its overrides applied already (the
    command line's URL and CA bundle, this run's safety limits; ``overrides`` says which)."""

    command: Command
    config: Config
    credentials: Credentials
    now: datetime  # the run clock: every Status is decided against it (read once, here)
    inputs: Inputs = Exports()
    apply: bool = False  # undo: write the restoration (plan and update decide by their command)
    concurrency: int = 8
    deadline: float | None = 1800.0  # seconds; no request starts after
    max_rps: float | None = None
    query_strategy: QueryStrategy = "auto"
    force: bool = False
    reason: str | None = None  # why the guards are overridden: the report and the ledger record it
    overrides: tuple[str, ...] = ()  # the safety limits this run changed, as the report names them
    state_dir: Path = Path(".sos-inventory")
    report_dir: Path | None = None  # checked before anything else; None: no report files
    plan_out: Path | None = None  # plan: save the plan here for review
    wait_lock: float = 0.0
    run_id: str = ""  # "" : a new one, from the start time
    build_url: str | None = None
    clock: Callable[[], datetime] = _wall_clock  # wall time: when things happened

    @property
    def writes(self) -> bool:
        """Whether the run may write to the inventory (then it locks and records)."""
        return self.command == "update" or (self.command == "undo" and self.apply)


Work = Callable[[RunOptions], RunResult]


def run(
    request: RunRequest,
    *,
    inventory: Inventory | None = None,
    state: StateStore | None = None,
    interrupts: Interrupts | None = None,
    progress: Progress = no_progress,
) -> RunReport:
    """Do what ``request`` asks; the report says what happened and how the run ended.

    ``inventory`` and ``state`` replace the config's inventory and the state directory's store
    (a test's, a library caller's). With ``interrupts``, SIGINT and SIGTERM stop the run cleanly:
    reads at once, writes in flight finish, and the report says what was not attempted.
    """
    started = request.clock()
    report = RunReport(
        command=request.command,
        started_at=started,
        now=request.now,
        run_id=request.run_id or new_run_id(started),
        version=VERSION,
        build_url=request.build_url,
        config_path=str(request.config.path) if request.config.path else None,
        config_sha256=request.config.sha256,
        inventory_url=request.config.inventory_url,
        api_user=request.credentials.email,
        report_dir=request.report_dir,
        writes=request.writes,
    )
    skew = clock_skew(request.now, started) if request.writes else None
    if skew is not None:
        report.warnings.append(skew)
    interrupts = interrupts or Interrupts()
    store = state or open_store(request.state_dir)
    with interrupts.deferred():  # a signal raises Interrupted only inside ``armed``
        _ended(
            report,
            lambda: _run(
                request, report, inventory=inventory, store=store, interrupts=interrupts, progress=progress
            ),
        )
    if report.finished_at is None:  # a writing run ended when its ledger closed it
        report.finished_at = request.clock()
    if request.writes:  # a run that writes and ended with a change still planned never tried it
        report.outcomes = not_attempted(report.outcomes)
    causes = {problem.category for problem in report.problems()}
    if report.inventory_url and causes & CONNECTIVITY:
        # The addresses a connectivity ticket names; when DNS failed, a lookup would only wait.
        report.network = network_facts(
            report.inventory_url, resolve=Category.DNS_LOOKUP_FAILURE not in causes
        )
    return report


def _run(
    request: RunRequest,
    report: RunReport,
    *,
    inventory: Inventory | None,
    store: StateStore,
    interrupts: Interrupts,
    progress: Progress,
) -> None:
    with interrupts.armed():  # a signal that came while the command loaded stops it here
        if request.report_dir is not None:
            try:
                check_report_dir(request.report_dir)
            except InputError:
                report.report_dir = None  # nothing can be written there, not even this refusal
                raise
        work, inputs = _work(request, report, store, inventory, interrupts)
        options = RunOptions(
            now=request.now,
            review=_drift_review(store, request) if isinstance(request.inputs, Exports) else None,
            concurrency=request.concurrency,
            deadline=request.deadline,
            force=request.force,
            reason=request.reason,
            overrides=request.overrides,
            query_strategy=request.query_strategy,
            max_rps=request.max_rps,
            progress=progress,
        )
        if not request.writes:
            _conclude(report, work(options))
        else:
            # How the run ended is settled inside the lock and the ledger: the ledger's finish
            # row says so before the next run may start.
            with ExitStack() as held:
                try:
                    held.enter_context(store.lock(report.c_codes, wait=request.wait_lock))
                except (LockHeld, Interrupted):
                    # The report folder may be the holder's (the same job's): a run that never held
                    # the lock writes no report there, whatever stopped it.
                    report.report_dir = None
                    raise
                recorder = held.enter_context(_recorded(store, report, request.clock))
                _ended(report, lambda: _conclude(report, work(replace(options, record=recorder))))
    if request.plan_out is not None and report.plan is not None and report.exit_code in DONE:
        _save_plan(request.plan_out, report, inputs)


def _work(
    request: RunRequest,
    report: RunReport,
    store: StateStore,
    inventory: Inventory | None,
    interrupts: Interrupts,
) -> tuple[Work, list[Path]]:
    """What the run does, once its inputs are read; the inputs' files (for ``plan --out``)."""
    config, credentials, inputs = request.config, request.credentials, request.inputs
    if isinstance(inputs, Exports):
        files = find_files(config, inputs.specs, inputs.c_codes)
        report.c_codes = c_codes_in_play(config, files)
        specs = inputs.specs or config.devices
        report.inputs = provenance(
            {**_config_path(config), **{f"devices[{n}]": s.path for n, s in enumerate(specs, start=1)}}
        )
        run_files: Sequence[DevicesFile] = files
        sync = run_update if request.command == "update" else make_plan

        def plan_or_update(options: RunOptions) -> RunResult:
            return sync(config, run_files, credentials, options, interrupts=interrupts, inventory=inventory)

        paths = [p for p in [config.path, *(f.path for f in files)] if p is not None]
        return plan_or_update, paths
    if isinstance(inputs, Undo):
        what = f"run {untrusted(inputs.run_id, 60)}"
        changes = _undo_changes(store, inputs.run_id, config.inventory_url)
        why = f"changed since run {inputs.run_id}"
        stale_action: str | None = (
            "Nothing was written to these records: something changed them since that run "
            "(`sos-inventory history HOSTNAME` shows what the job wrote); the next update decides "
            "them again from the exports."
        )
        report.inputs = provenance(_config_path(config))
    else:
        what = f"the plan {inputs.path}"
        saved = _reviewed_plan(inputs, config, request.clock())
        changes, report.plan_sha256 = list(saved.changes), saved.sha256
        why = "the record changed since the plan was made"
        stale_action = None  # the runbook's: make, review and apply a new plan
        report.inputs = provenance({**_config_path(config), "plan": inputs.path})
    # Only what the config's accounts map, and of those only the C_Codes asked for.
    changes, left_out = in_scope(what, changes, mapped=config.c_codes, selected=inputs.c_codes)
    report.warnings.extend([left_out] if left_out else [])
    report.c_codes = sorted({c.c_code for c in changes})

    def reviewed(options: RunOptions) -> RunResult:
        return run_reviewed(
            config,
            credentials,
            options,
            changes,
            write=request.writes,
            check_values=isinstance(inputs, ReviewedPlan),
            stale_because=why,
            stale_action=stale_action,
            interrupts=interrupts,
            inventory=inventory,
        )

    return reviewed, []


def _config_path(config: Config) -> dict[str, Path]:
    return {"config": config.path} if config.path else {}


def _ended(report: RunReport, work: Callable[[], None]) -> None:
    """Run ``work``; what stopped it sets the report's exit code and failures."""
    try:
        work()
    except LockHeld as exc:
        report.exit_code = ExitCode.LOCKED
        report.stopped = str(exc)
    except (ConfigError, InputError, StateError, PlanFileError) as exc:
        report.failures.append(problem_of(exc))
        report.exit_code = ExitCode.USAGE if isinstance(exc, ConfigError) else ExitCode.REFUSED
    except (SosError, RunStopped) as exc:
        report.exit_code = _stopped(report, exc)
    except Exception as exc:  # a defect: say so plainly, keep the evidence, never exit 1
        report.exit_code = ExitCode.DEFECT
        report.traceback_path = str(save_traceback(exc, report.run_id, report.report_dir))
        report.failures.append(
            Problem(Category.CODE_DEFECT, f"internal error: {type(exc).__name__}: {exc}", facts={})
        )
        log.debug("internal error", exc_info=exc)


def _conclude(report: RunReport, result: RunResult) -> None:
    """Fill the report from what the sync did and decide the exit code (raises what stopped it)."""
    report.attempts, report.retries = result.attempts, result.retries
    report.warnings.extend(result.warnings)
    report.attempts_by_kind = result.attempts_by_kind
    if result.plan is not None:
        report.set_plan(result.plan)
    report.verdict = result.verdict
    if result.applied is not None:
        report.outcomes = result.applied.outcomes
    if result.error is not None:
        raise result.error  # _ended says how the run ended
    if result.verdict is not None and result.verdict.refused:
        refusals = result.verdict.refusals
        report.failures.extend(Problem(Category.SAFETY_GUARD, r.message, r.c_code) for r in refusals)
        report.stopped = (
            f"refused by {len(refusals)} safety limit(s) ({', '.join(r.limit for r in refusals)})"
        )
        if report.writes:
            report.stopped += "; nothing was written"
        report.exit_code = ExitCode.REFUSED
    elif result.applied is not None and result.applied.stopped_by is not None:
        report.exit_code = _stopped(report, result.applied.stopped_by)
    else:
        report.exit_code = ExitCode.PROBLEMS if report.problems() else ExitCode.OK


def _stopped(report: RunReport, stopped: SosInventoryError) -> int:
    """Record why the run stopped early and how far it got; the exit code."""
    counts = report.counts()
    if report.plan is None:
        progress = "no plan was made, nothing was written"
    elif report.command == "plan":
        progress = "the plan was made, nothing is written by plan"
    else:
        progress = (
            f"{counts['applied']} applied, {counts['failed']} failed, {report.not_attempted()} not attempted"
        )
        if counts["unknown"]:
            progress += f", {counts['unknown']} unknown (sent, no answer: they may have landed)"
    report.stopped = f"{stopped}: {progress}"
    if isinstance(stopped, Interrupted):
        # Not a failure of the job or of the inventory: an operator or Jenkins asked it to stop.
        # The run's own verdict, so the closing diagnosis (and diagnose) says so, not a plan problem.
        report.failures.append(
            Problem(Category.INTERRUPTED, f"interrupted ({stopped}): {progress}; rerun the job to finish")
        )
        return 128 + stopped.signal_number
    report.failures.append(_stop_problem(stopped, progress))
    if isinstance(stopped, RateOutlastsDeadline):
        return ExitCode.USAGE  # the options contradict each other; the inventory did nothing wrong
    # The state folder needs a human (exit 3, as when it refuses before the first write).
    return ExitCode.REFUSED if isinstance(stopped, StateError) else ExitCode.UNREACHABLE


def _stop_problem(stopped: SosInventoryError, progress: str) -> Problem:
    """The problem that says why the run stopped early."""
    if isinstance(stopped, SosError):
        base = problem_of(stopped)
        return replace(base, message=f"{base.message}; the run stopped: {progress}")
    if isinstance(stopped, RateOutlastsDeadline):
        return Problem(
            Category.INPUT_ERROR,
            f"{stopped}: {progress}",
            action_text="--max-rps and --deadline cannot both hold for this run: raise --deadline "
            "(and the Jenkinsfile's timeout) or --max-rps (MAX_RPS in Jenkins); a rerun with the "
            "same options stops the same way.",
        )
    if isinstance(stopped, DeadlineExceeded):
        return Problem(
            Category.SOS_API_ERROR,
            f"{UPDATE_FAILED}: {stopped}: {progress}",
            action_text="Rerun the job: it does what this run did not reach. If the deadline keeps "
            "passing, raise --deadline (and the Jenkinsfile's timeout) or --concurrency, or ask in "
            "#sos-api whether the API has become slow.",
        )
    if isinstance(stopped, StateError):  # the ledger refused a row: no write after it
        base = problem_of(stopped)  # "...; the run stopped before its next write (...)"
        return replace(base, message=f"{base.message}: {progress}")
    cause = stopped.cause if isinstance(stopped, RunStopped) else None
    if cause is not None:
        base = problem_of(cause)
        return Problem(
            base.category,
            f"{base.message}; the inventory looks down ({stopped}): the run stopped: {progress}",
            facts=base.facts,
        )
    return Problem(Category.SOS_API_ERROR, f"{UPDATE_FAILED}: {stopped}: {progress}")


# --- the evidence: the ledger around a run that writes ------------------------------------------


@contextmanager
def _recorded(store: StateStore, report: RunReport, clock: Callable[[], datetime]) -> Iterator[Recorder]:
    """Open the ledger and record the run's start (as ``report`` names it); on the way out, its
    finish (durable). StateError before any write when the ledger cannot be written. The run's
    ``exit_code`` must be set in ``report`` by the end of the block."""
    with store.writer() as book:
        run_id = report.run_id
        for closed in book.close_unfinished(run_id):
            report.warnings.append(
                f"run {closed} ended without finishing (killed?); its unsettled changes are shown as "
                "pending in `sos-inventory history`; this run re-reads and fixes what it left"
            )
        book.start_run(
            run_id,
            {
                "command": report.command,
                "version": report.version,
                "config": report.config_path,
                "config_sha256": report.config_sha256,
                "inventory_url": report.inventory_url,
                "user": report.api_user,
                "c_codes": report.c_codes,
                "now": iso(report.now),
                "build_url": report.build_url,
                "inputs": report.inputs,
                **({"plan_sha256": report.plan_sha256} if report.plan_sha256 else {}),
            },
        )
        ended: BaseException | None = None
        try:
            yield LedgerRecorder(book, run_id)
        except BaseException as exc:
            ended = exc
            raise
        finally:
            report.finished_at = clock()  # the reports and the metrics say the same instant
            data: dict[str, object] = {
                "exit_code": None if ended else report.exit_code,
                "counts": report.counts(),
                "stopped": report.stopped,
                "safety": report.verdict.to_dict() if report.verdict else None,
                "finished_at": report.finished_at.isoformat(),
            }
            if ended is not None:
                data["ended"] = f"stopped by {type(ended).__name__}: {ended}"
            try:
                book.finish_run(run_id, data)
                report.ledger_head = book.head
                log.info("ledger: run %s recorded, chain head %s", run_id, book.head)
            except StateError as exc:
                # Every write is recorded (pending) before it is sent; the closing row and the
                # answers held back for it are what is missing.
                missing = (
                    "every write of this run is in the ledger, but not how the run ended, nor the "
                    "last answers (those changes read pending there; this report has them); the "
                    "next run closes it as unfinished"
                )
                earlier = [n for n, p in enumerate(report.failures) if p.category == Category.STATE_ERROR]
                if earlier:  # the refusal that stopped the run: say what it leaves out of the ledger
                    first = report.failures[earlier[0]]
                    report.failures[earlier[0]] = replace(first, message=f"{first.message}; {missing}")
                else:
                    report.failures.append(
                        Problem(Category.STATE_ERROR, f"{exc}: {missing}", action_text=exc.action)
                    )
                if report.exit_code == ExitCode.OK:
                    report.exit_code = ExitCode.PROBLEMS


def _drift_review(store: StateStore, request: RunRequest) -> Callable[[Plan], Plan]:
    """The plan's last look before the guards: manual edits and fights, from the ledger."""

    url = request.config.inventory_url

    def review(plan: Plan) -> Plan:
        if not plan.changes:
            return plan
        try:
            with store.reader() as book:
                # This inventory's only: a ledger of another inventory says nothing of these records.
                hostnames = sorted({change.hostname for change in plan.changes})
                writes = book.applied_writes(hostnames, url)
                # Finished runs only: the running one (no finish row yet) has written nothing so far.
                recent = [
                    r.run_id
                    for r in book.runs()
                    if r.command == "update" and r.finished_at and r.details.get("inventory_url") == url
                ]
        except StateError:
            return plan  # no ledger yet: the job has written nothing, so nothing was edited since
        reviewed = drift.review(plan, writes, recent, respect=request.config.manual_edits == "respect")
        if len(reviewed.problems) != len(plan.problems):
            log.info("drift: %d problem(s) from the ledger", len(reviewed.problems) - len(plan.problems))
        return reviewed

    return review


def _undo_changes(store: StateStore, run_id: str, inventory_url: str) -> list[Change]:
    """The changes that restore what run ``run_id`` wrote (ConfigError: no such run, or one made on
    another inventory than ``inventory_url``)."""
    shown = untrusted(run_id, 60)
    action = (
        f"Give the id of a run recorded in {store.location}: `sos-inventory runs --state-dir "
        f"{store.location}` lists them (or point --state-dir at the state directory of the job that ran it)."
    )
    try:
        with store.reader() as book:
            found = next((r for r in book.runs() if r.run_id == run_id), None)
            if found is None:
                raise ConfigError(
                    f"run {shown} is not in the ledger of {store.location}",
                    action=action,
                    headline="unknown run",
                )
            made_on = found.details.get("inventory_url")
            same_inventory(
                f"run {shown}",
                made_on if isinstance(made_on, str) else None,
                inventory_url,
                otherwise="An undo puts back what a run wrote on its own inventory only; on this one, "
                "`sos-inventory history HOSTNAME` shows what this job wrote there.",
            )
            return undo_changes(run_id, book.run_changes(run_id))
    except StateError as exc:
        raise ConfigError(f"run {shown}: {exc}", action=action, headline="unknown run") from None


def _reviewed_plan(inputs: ReviewedPlan, config: Config, clock: datetime) -> SavedPlan:
    """A saved plan, as it was reviewed: refused if edited since, too old or from the future, holding
    values the config cannot give, or made against another inventory."""
    saved = load_plan(inputs.path, max_age=inputs.max_age, clock=clock, values=config_values(config))
    same_inventory(
        f"the plan {inputs.path}",
        saved.inventory_url,
        config.inventory_url,
        otherwise=f"To change {config.inventory_url}, make and review a new plan against it "
        "(`sos-inventory plan --out PLAN.json`).",
    )
    log.info(
        "reviewed plan %s (SHA-256 %s): %d change(s), made %s",
        inputs.path,
        saved.sha256,
        len(saved.changes),
        iso(saved.created_at),
    )
    return saved


def _save_plan(path: Path, report: RunReport, inputs: list[Path]) -> None:
    """Write ``plan --out``: the changes with their before values, the inputs' SHA-256, the time."""
    if report.plan is None:
        return
    document = plan_document(
        report.plan.changes,
        created_at=report.started_at,
        now=report.now,
        inventory_url=report.inventory_url or "",
        c_codes=report.c_codes,
        inputs=inputs,
    )
    try:
        write_private(path, json.dumps(document, indent=2) + "\n")
    except OSError as exc:
        report.failures.append(
            problem_of(ConfigError(f"--out {path}: cannot write the plan: {exc.strerror or exc}"))
        )
        report.exit_code = ExitCode.USAGE
        return
    log.info("plan saved to %s: %d change(s)", path, len(report.plan.changes))


def not_started(
    command: Command,
    error: ConfigError | Interrupted,
    *,
    report_dir: Path | None = None,
    build_url: str | None = None,
    run_id: str = "",
    clock: Callable[[], datetime] = _wall_clock,
) -> RunReport:
    """The report of a run that could not even be asked for: its options or config are unusable
    (exit 2), or a signal came first (exit 130/143)."""
    started = clock()
    report = RunReport(
        command=command,
        started_at=started,
        now=started,
        run_id=run_id or new_run_id(started),
        version=VERSION,
        build_url=build_url or os.environ.get("BUILD_URL"),
        report_dir=report_dir,
        finished_at=started,
    )
    if isinstance(error, Interrupted):
        report.stopped = f"{error}: no plan was made, nothing was written"
        report.failures.append(
            Problem(Category.INTERRUPTED, f"interrupted ({error}): nothing was done; rerun the job")
        )
        report.exit_code = 128 + error.signal_number
    else:
        report.failures.append(problem_of(error))
        report.exit_code = ExitCode.USAGE
    return report


__all__ = ["Exports", "Inputs", "ReviewedPlan", "RunRequest", "Undo", "not_started", "run"]

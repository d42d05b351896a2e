"""The value every report renders: what one command did and found, and how it ended."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from sos_inventory.errors import SosHttpError
from sos_inventory.model import ExitCode, Problem
from sos_inventory.runbook import category_of, problem_of
from sos_inventory.sync.apply import Outcome, planned
from sos_inventory.sync.plan import Plan
from sos_inventory.sync.safety import Verdict

#: The hostname lists of a report, in the order every format shows them.
HOST_LISTS: tuple[tuple[str, str], ...] = (
    ("not_in_inventory", "Not in inventory"),
    ("ambiguous", "Ambiguous"),
    ("unowned", "Unowned"),
    ("orphans", "Orphan records"),
)


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class RunReport:
    """Everything one command did and found."""

    command: str
    started_at: datetime
    now: datetime
    run_id: str = ""
    version: str = ""
    config_path: str | None = None
    config_sha256: str | None = None
    plan_sha256: str | None = None  # update --plan: the SHA-256 of the reviewed plan's file
    inventory_url: str | None = None  # never with credentials (the config refuses them)
    api_user: str | None = None  # the API user's e-mail (never the token)
    c_codes: list[str] = field(default_factory=list)
    finished_at: datetime | None = None
    exit_code: int = 0
    plan: Plan | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    failures: list[Problem] = field(default_factory=list)  # run-level: query failed, bad config, ...
    verdict: Verdict | None = None  # the safety guards' answer
    stopped: str | None = None  # why the run stopped early, and how far it got
    attempts: int = 0  # HTTP requests sent, retries included
    build_url: str | None = None  # the Jenkins build, for ticket drafts and alerts
    retries: int = 0
    traceback_path: str | None = None  # where an internal error's traceback was saved
    attempts_by_kind: dict[str, int] = field(default_factory=dict)  # query, update
    # The addresses a connectivity ticket names (netfacts), looked up when the run failed to connect.
    network: dict[str, str] = field(default_factory=dict)
    # Where the inputs came from: input name -> path, commit, ref (provenance.py).
    inputs: dict[str, dict[str, str | None]] = field(default_factory=dict)
    report_dir: Path | None = None  # where the report files go (None: none asked, or it cannot be written)
    writes: bool = False  # the run could write to the inventory (update, undo --apply)
    warnings: list[str] = field(default_factory=list)  # what a person should know that is no failure
    ledger_head: str | None = None  # the ledger's chain head after this run's last row

    def facts(self) -> dict[str, str]:
        """Facts of the run that every problem's ticket may quote."""
        facts = dict(self.network)
        if self.build_url:
            facts["build_url"] = self.build_url
        return facts

    def not_attempted(self) -> int:
        """Changes never attempted (the run stopped first, or did not apply)."""
        return sum(1 for o in self.outcomes if o.outcome in ("planned", "not_attempted"))

    def sent(self) -> int:
        """Changes whose request was sent (applied, failed, or unknown: they may have landed)."""
        return sum(1 for o in self.outcomes if o.outcome in ("applied", "failed", "unknown"))

    def set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.outcomes = planned(plan.changes)

    def problems(self, *, updates: bool = True) -> list[Problem]:
        """Every problem, one per cause: the plan's, the failed updates' (unless ``updates`` is
        False) grouped by error, and the run's own (which absorb the updates' of the same cause)."""
        groups = _update_problems(self.outcomes) if updates else []
        failures = []
        for failure in self.failures:
            same = [g for g in groups if (g.category, g.c_code) == (failure.category, failure.c_code)]
            if same:
                hosts = {h for problem in (failure, *same) for h in _hosts(problem)}
                groups = [g for g in groups if g not in same]
                failures.append(replace(failure, hostnames=tuple(sorted(hosts))))
            else:
                failures.append(failure)
        return [*(self.plan.problems if self.plan else ()), *groups, *failures]

    def host_lists(self) -> dict[str, list[str]]:
        """The hostname lists (HOST_LISTS order): each ``C_CODE hostname``, sorted."""
        plan = self.plan
        if plan is None:
            return {key: [] for key, _ in HOST_LISTS}
        return {
            "not_in_inventory": [f"{n.c_code} {n.hostname}" for n in plan.not_in_inventory],
            "ambiguous": [f"{n.c_code} {n.hostname} ({n.detail})" for n in plan.ambiguous],
            "unowned": [f"{n.c_code} {n.hostname}" for n in plan.unowned],
            "orphans": [f"{n.c_code} {n.hostname} (unid {n.unid})" for n in plan.orphans],
        }

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(
            (
                "devices",
                "excluded",
                "invalid",
                "in_step",
                "changes",
                "applied",
                "failed",
                "not_attempted",
                "unknown",
                "not_in_inventory",
                "ambiguous",
                "unowned",
                "orphans",
            ),
            0,
        )
        if self.plan is not None:
            counts.update(self.plan.counts())
        for outcome in ("applied", "failed", "not_attempted", "stale", "unknown"):
            counts[outcome] = sum(1 for o in self.outcomes if o.outcome == outcome)
        return counts

    def ending(self) -> tuple[str, str]:
        """How the run ended, in a few words, and why (the first lines of every human report)."""
        code, c = self.exit_code, self.counts()
        done = f"{c['applied']} applied, {c['failed']} failed, {c['not_attempted']} not attempted"
        if c["unknown"]:
            done += f", {c['unknown']} unknown (sent, no answer: they may have landed)"
        if code in (ExitCode.OK, ExitCode.PROBLEMS) and self.command == "plan":
            more = f"; {len(self.problems())} problem(s) need a human" if code == ExitCode.PROBLEMS else ""
            return "Plan computed, nothing written", f"{c['changes']} change(s) to make{more}."
        if code == ExitCode.OK:
            return (
                "Done: the inventory is in step",
                f"{c['applied']} change(s) applied; nothing needs a human.",
            )
        if code == ExitCode.PROBLEMS:
            why = f"{len(self.problems())} problem(s) below; {done}."
            tried = c["applied"] + c["failed"]
            if c["failed"] and not c["applied"]:
                return f"Done, but every change failed ({c['failed']})", why
            if c["failed"]:
                return f"Done, but {c['failed']} of {tried} change(s) failed", why
            return "Done, but some machines need a human", why
        if code == ExitCode.USAGE:
            return "Not started: usage or configuration error", self._first_failure("nothing was done")
        if code == ExitCode.REFUSED and self.sent():
            return "Stopped early", self.stopped or self._first_failure(done)
        if code == ExitCode.REFUSED:
            return "Refused before any write", self._first_failure("nothing was written")
        if code == ExitCode.UNREACHABLE:
            return "Stopped early", self.stopped or self._first_failure(done)
        if code == ExitCode.DEFECT:
            where = f"; traceback in {self.traceback_path}" if self.traceback_path else ""
            return "Internal error (a defect in sos-inventory)", self._first_failure(done) + where
        if code > 128:
            return "Interrupted", self.stopped or "stopped by a signal"
        return f"Ended with exit code {code}", self.stopped or ""

    def primary(self) -> Problem:
        """The problem that best explains the exit code: the run's own, then updates', then the plan's."""
        if self.failures:
            return self.failures[0]
        for outcome in self.outcomes:
            if outcome.outcome == "failed" and outcome.error is not None:
                return problem_of(outcome.error)
        return self.problems()[0]

    def failing(self) -> list[Problem]:
        """What the run failed at, for alerts and tickets: never success, ambiguity or bad rows alone."""
        failed_updates = [problem_of(o.error) for o in self.outcomes if o.outcome == "failed" and o.error]
        if self.exit_code == ExitCode.OK or (self.exit_code == ExitCode.PROBLEMS and not failed_updates):
            return []
        return [*self.failures, *failed_updates] or [self.primary()]

    def _first_failure(self, otherwise: str) -> str:
        return self.failures[0].message if self.failures else otherwise


def _hosts(problem: Problem) -> list[str]:
    return list(problem.hostnames) or ([problem.hostname] if problem.hostname else [])


def _update_problems(outcomes: Iterable[Outcome]) -> list[Problem]:
    """One problem per kind of failed update (category, C_Code, HTTP status, error code), naming
    every machine it hit: eight 403s are one problem with eight machines. Its facts say what the
    first of them wrote (``write``), which the API's refusal may not."""
    groups: dict[tuple[object, ...], list[Outcome]] = {}
    for outcome in outcomes:
        error = outcome.error
        if outcome.outcome == "failed" and error is not None:
            status = (
                (error.status, error.code) if isinstance(error, SosHttpError) else (type(error).__name__,)
            )
            groups.setdefault((category_of(error), error.c_code, *status), []).append(outcome)
    problems = []
    for failed in groups.values():
        errors = [outcome.error for outcome in failed if outcome.error is not None]
        first = problem_of(errors[0])
        change = failed[0].change
        write = ", ".join(
            f"{name} {value!r} on {change.hostname}" for name, value in sorted(change.after.items())
        )
        first = replace(first, facts={**first.facts, "write": write})
        if len(errors) > 1:
            hosts = sorted({e.hostname for e in errors if e.hostname})
            first = replace(
                first,
                message=f"{first.message} (the same error for {len(errors)} updates: {', '.join(hosts[:5])}"
                + (f" and {len(hosts) - 5} more)" if len(hosts) > 5 else ")"),
                hostname=None,
                hostnames=tuple(hosts),
            )
        problems.append(first)
    return problems

"""The value every report renders: what one command did and found."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sos_inventory.apply import Outcome, planned
from sos_inventory.plan import Plan, Problem
from sos_inventory.safety import Verdict


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class RunReport:
    """Everything one command did and found."""

    command: str
    started_at: datetime
    now: datetime
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
    run_id: str | None = None  # the ledger's id of this run (update and undo)

    def facts(self) -> dict[str, str]:
        """Facts of the run that every problem's ticket may quote."""
        return {"build_url": self.build_url} if self.build_url else {}

    def pending(self) -> int:
        """Changes never attempted (the run stopped first, or did not apply)."""
        return sum(1 for o in self.outcomes if o.outcome == "planned")

    def set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.outcomes = planned(plan.changes)

    def problems(self, *, updates: bool = True) -> list[Problem]:
        """Every problem: the plan's, each failed update's (unless ``updates`` is False), the run's own."""
        found = list(self.plan.problems) if self.plan else []
        if updates:
            found.extend(
                Problem.from_error(o.error) for o in self.outcomes if o.outcome == "failed" and o.error
            )
        found.extend(self.failures)
        return found

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
                "not_in_inventory",
                "ambiguous",
                "unowned",
                "orphans",
            ),
            0,
        )
        if self.plan is not None:
            counts.update(self.plan.counts())
        counts["applied"] = sum(1 for o in self.outcomes if o.outcome == "applied")
        counts["failed"] = sum(1 for o in self.outcomes if o.outcome == "failed")
        counts["stale"] = sum(1 for o in self.outcomes if o.outcome == "stale")
        return counts

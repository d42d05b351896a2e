"""Causes over time: the diagnoses of many runs of the job, as a table.

One failed run is an incident; the same cause in every other run is a problem
worth a ticket ("DNS on 9.0.128.50 fails every week"). Each row is one cause
(a category and the fact that tells its instances apart: the resolver, the
remote IP, the machine...), with how many runs it failed, when it was first
and last seen, and whether it is getting worse: more failures in the later
half of the runs than in the earlier half.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sos_inventory.diagnose.logs import Diagnosis, Finding
from sos_inventory.model import Category
from sos_inventory.runbook import default_knowledge

_LABEL = {"resolver_ip": "resolver", "remote_ip": "remote", "status": "HTTP"}


@dataclass(frozen=True, slots=True)
class Run:
    """One log: where it came from, when the run started, and its diagnosis."""

    source: str
    time: str | None
    diagnosis: Diagnosis


@dataclass(frozen=True, slots=True)
class Cause:
    """One row of the table."""

    category: Category
    subject: str
    count: int
    first: str | None
    last: str | None
    earlier: int  # failures in the earlier half of the runs
    later: int  # ... and in the later half
    sources: tuple[str, ...]

    @property
    def trend(self) -> str:
        if self.later > self.earlier:
            return "worse"
        if self.later < self.earlier:
            return "better"
        return "steady"

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "subject": self.subject,
            "count": self.count,
            "first_seen": self.first,
            "last_seen": self.last,
            "earlier_half": self.earlier,
            "later_half": self.later,
            "trend": self.trend,
            "sources": list(self.sources),
        }


def subject_of(finding: Finding) -> str:
    """What tells this failure apart from others of its category, e.g. ``resolver 9.0.128.50``."""
    for name in default_knowledge().categories[finding.category].subject:
        value = finding.facts.get(name)
        if value:
            return f"{_LABEL.get(name, name)} {value}" if name in _LABEL else value
    return ""


def _order(time: str | None) -> str:
    return re.sub(r"\D", "", time or "")[:14].ljust(14, "9")  # runs without a time sort last


def ordered(runs: Sequence[Run]) -> list[Run]:
    """The runs, oldest first."""
    return sorted(runs, key=lambda run: _order(run.time))


def causes(runs: Sequence[Run]) -> list[Cause]:
    """One row per cause of failure over the runs, the most frequent first."""
    runs = ordered(runs)
    half = len(runs) // 2
    rows: dict[tuple[Category, str], list[tuple[int, Run]]] = {}
    for index, run in enumerate(runs):
        primary = run.diagnosis.primary
        if primary is not None:
            rows.setdefault((primary.category, subject_of(primary)), []).append((index, run))
    out = []
    for (category, subject), seen in rows.items():
        earlier = sum(1 for index, _ in seen if index < half)
        # With an odd count the middle run belongs to neither half, so the halves compare like with like.
        later = sum(1 for index, _ in seen if index >= len(runs) - half)
        out.append(
            Cause(
                category,
                subject,
                len(seen),
                seen[0][1].time,
                seen[-1][1].time,
                earlier,
                later,
                tuple(run.source for _, run in seen),
            )
        )
    return sorted(out, key=lambda c: (-c.count, c.category.value, c.subject))


def trends_dict(runs: Sequence[Run]) -> dict[str, Any]:
    """The runs and the table of causes, for ``--json``."""
    runs = ordered(runs)
    return {
        "runs": [
            {
                "source": run.source,
                "time": run.time,
                "result": run.diagnosis.result,
                "primary": run.diagnosis.primary.category.value if run.diagnosis.primary else None,
                "subject": subject_of(run.diagnosis.primary) if run.diagnosis.primary else None,
                "verdict": run.diagnosis.verdict,
            }
            for run in runs
        ],
        "failed": sum(1 for run in runs if run.diagnosis.primary is not None),
        "causes": [cause.to_dict() for cause in causes(runs)],
    }


def render_trends(runs: Sequence[Run]) -> str:
    """The table of causes for the console."""
    runs = ordered(runs)
    failed = sum(1 for run in runs if run.diagnosis.primary is not None)
    span = f", {runs[0].time or '?'} .. {runs[-1].time or '?'}" if runs else ""
    lines = [f"{len(runs)} run(s){span}: {failed} failed"]
    rows = causes(runs)
    if not rows:
        return "\n".join(lines) + "\n"
    table = [("CAUSE", "WHERE", "RUNS", "FIRST SEEN", "LAST SEEN", "TREND")]
    for cause in rows:
        table.append(
            (
                cause.category.value,
                cause.subject or "-",
                str(cause.count),
                cause.first or "?",
                cause.last or "?",
                f"{cause.trend} ({cause.earlier} -> {cause.later})",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        lines.append(
            "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    lines.append("TREND compares the failures in the earlier and the later half of the runs.")
    return "\n".join(lines) + "\n"

"""Shared wording of the human-facing renderers (console and Markdown)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sos_inventory.report.run import RunReport
from sos_inventory.sync.apply import Outcome

T = TypeVar("T")

#: Hostnames shown per list on the console before "... and N more".
CONSOLE_HOSTS = 20
#: Changes a stopped run never attempted, shown before the rest are folded (every format).
FIRST_NOT_ATTEMPTED = 20


def change_text(outcome: Outcome) -> str:
    """``status: Build -> Live, application: a -> b``."""
    change = outcome.change
    return ", ".join(
        f"{name}: {change.before.get(name) or '(empty)'} -> {value}" for name, value in change.after.items()
    )


def split_not_attempted(report: RunReport) -> tuple[list[Outcome], list[Outcome]]:
    """The changes never attempted (the run stopped first), and the others: every human report
    lists the first apart, after the problems, so that what is left to do is not buried."""
    left = [o for o in report.outcomes if o.outcome == "not_attempted"]
    return left, [o for o in report.outcomes if o.outcome != "not_attempted"]


def capped(items: Sequence[T], limit: int | None) -> tuple[Sequence[T], int]:
    """The first ``limit`` items (all with None) and how many were left out."""
    if limit is None or len(items) <= limit:
        return items, 0
    return items[:limit], len(items) - limit


def ending_line(report: RunReport) -> str:
    """How the run ended and why, in one line: the first thing every human report says."""
    headline, why = report.ending()
    return f"{headline} (exit {report.exit_code}): {why}" if why else f"{headline} (exit {report.exit_code})"


def summary_line(report: RunReport) -> str:
    """One sentence with the run's counts; the console's last line and the summary's first."""
    c = report.counts()
    parts = [f"{c['devices']} device rows"]
    if report.writes:
        applied = f"{c['changes']} change(s): {c['applied']} applied, {c['failed']} failed"
        if c["not_attempted"]:
            applied += f", {c['not_attempted']} not attempted"
        if c["unknown"]:
            applied += f", {c['unknown']} unknown"
        parts.append(applied)
    else:
        parts.append(f"{c['changes']} change(s) planned")
    parts.append(f"{c['in_step']} in step")
    for key, label in (
        ("not_in_inventory", "not in inventory"),
        ("ambiguous", "ambiguous"),
        ("invalid", "invalid row(s)"),
        ("excluded", "excluded"),
        ("unowned", "unowned"),
        ("orphans", "orphan record(s)"),
    ):
        if c[key]:
            parts.append(f"{c[key]} {label}")
    return ", ".join(parts)

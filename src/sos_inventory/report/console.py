"""The console summary: a table of changes and problems, quiet when nothing changed."""

from __future__ import annotations

from collections.abc import Sequence

from sos_inventory.report.escape import console
from sos_inventory.report.run import HOST_LISTS, RunReport
from sos_inventory.report.text import (
    CONSOLE_HOSTS,
    FIRST_NOT_ATTEMPTED,
    capped,
    change_text,
    split_not_attempted,
    summary_line,
)
from sos_inventory.runbook import action_of
from sos_inventory.sync.apply import Outcome

DEFAULT_ROWS = 50


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    out = []
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    return out


ALL_WITH_V = "-v lists all; report.json has every one"
LISTED = "report.json and summary.md list all"


def _changes(title: str, outcomes: Sequence[Outcome], limit: int | None, where_more: str) -> list[str]:
    """A table of changes under its title, the first ``limit``, then how many more and where they are."""
    if not outcomes:
        return []
    shown, rest = capped(outcomes, limit)
    table = _table(
        [(o.change.c_code, o.change.hostname, o.outcome, change_text(o)) for o in shown],
        ("C_CODE", "HOSTNAME", "OUTCOME", "CHANGE"),
    )
    return [title, *table, *([f"  ... and {rest} more ({where_more})"] if rest else [])]


def render(report: RunReport, *, verbose: bool = False) -> str:
    """Console text: why the run stopped, the problems, what was not attempted, then the first
    DEFAULT_ROWS changes; ``verbose`` lists every change and problem, and the hostname lists (each
    capped at CONSOLE_HOSTS, with a count of the rest)."""
    max_rows = None if verbose else DEFAULT_ROWS
    lines: list[str] = []
    if report.stopped:
        lines.append(f"Stopped: {report.stopped}")
    problems = report.problems()
    if problems:
        lines.append(f"Problems ({len(problems)}):")
        shown_problems, rest = capped(problems, max_rows)
        for p in shown_problems:
            lines.append(f"  [{p.category.value}] {p.message}")
            lines += [f"      - {item}" for item in p.details]
            lines.append(f"      action: {action_of(p)}")
        if rest:
            lines.append(f"  ... and {rest} more ({ALL_WITH_V})")
    left, others = split_not_attempted(report)
    lines += _changes(f"Not attempted ({len(left)}; a rerun makes them):", left, FIRST_NOT_ATTEMPTED, LISTED)
    lines += _changes(f"Changes ({len(others)}):", others, max_rows, ALL_WITH_V)
    if verbose:
        lists = report.host_lists()
        for key, title in HOST_LISTS:
            hosts, rest = capped(lists[key], CONSOLE_HOSTS)
            if hosts:
                lines.append(f"{title} ({len(lists[key])}):")
                lines += [f"  {host}" for host in hosts]
                if rest:
                    lines.append(f"  ... and {rest} more ({LISTED})")
    lines.append(summary_line(report))
    return console("\n".join(lines) + "\n")  # the one escaping step of the console

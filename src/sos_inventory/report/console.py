"""The console summary: a table of changes and problems, quiet when nothing changed."""

from __future__ import annotations

from collections.abc import Sequence

from sos_inventory.apply import Outcome
from sos_inventory.report.run import HOST_LISTS, RunReport
from sos_inventory.report.text import (
    CONSOLE_HOSTS,
    FIRST_NOT_ATTEMPTED,
    capped,
    change_text,
    split_not_attempted,
    summary_line,
)

DEFAULT_ROWS = 50


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    out = []
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    return out


def _changes(outcomes: Sequence[Outcome]) -> list[str]:
    return _table(
        [(o.change.c_code, o.change.hostname, o.outcome, change_text(o)) for o in outcomes],
        ("C_CODE", "HOSTNAME", "OUTCOME", "CHANGE"),
    )


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
            lines.append(f"      action: {p.action}")
        if rest:
            lines.append(f"  ... and {rest} more (-v lists all; report.json has every one)")
    left, others = split_not_attempted(report)
    if left:
        first, rest = capped(left, FIRST_NOT_ATTEMPTED)
        lines.append(f"Not attempted ({len(left)}; a rerun makes them):")
        lines += _changes(first)
        if rest:
            lines.append(f"  ... and {rest} more (report.json and summary.md list all)")
    if others:
        shown, rest = capped(others, max_rows)
        lines.append(f"Changes ({len(others)}):")
        lines += _changes(shown)
        if rest:
            lines.append(f"  ... and {rest} more (-v lists all; report.json has every one)")
    if verbose:
        lists = report.host_lists()
        for key, title in HOST_LISTS:
            hosts, rest = capped(lists[key], CONSOLE_HOSTS)
            if hosts:
                lines.append(f"{title} ({len(lists[key])}):")
                lines += [f"  {host}" for host in hosts]
                if rest:
                    lines.append(f"  ... and {rest} more (report.json and summary.md list all)")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"

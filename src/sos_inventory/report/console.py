"""The console summary: a table of changes and problems, quiet when nothing changed."""

from __future__ import annotations

from sos_inventory.report.run import HOST_LISTS, RunReport
from sos_inventory.report.text import CONSOLE_HOSTS, capped, change_text, summary_line

DEFAULT_ROWS = 50


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    out = []
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    return out


def render(report: RunReport, *, verbose: bool = False) -> str:
    """Console text: the first DEFAULT_ROWS changes and problems; ``verbose`` lists every change
    and problem, and the hostname lists (each capped at CONSOLE_HOSTS, with a count of the rest)."""
    max_rows = None if verbose else DEFAULT_ROWS
    lines: list[str] = []
    outcomes = report.outcomes
    if outcomes:
        shown, rest = capped(outcomes, max_rows)
        lines.append(f"Changes ({len(outcomes)}):")
        lines += _table(
            [(o.change.c_code, o.change.hostname, o.outcome, change_text(o)) for o in shown],
            ("C_CODE", "HOSTNAME", "OUTCOME", "CHANGE"),
        )
        if rest:
            lines.append(f"  ... and {rest} more (-v lists all; report.json has every one)")
    problems = report.problems()
    if problems:
        lines.append(f"Problems ({len(problems)}):")
        shown_problems, rest = capped(problems, max_rows)
        for p in shown_problems:
            lines.append(f"  [{p.category.value}] {p.message}")
            lines.append(f"      action: {p.action}")
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
    if report.stopped:
        lines.append(f"Stopped: {report.stopped}")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"

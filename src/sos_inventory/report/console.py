"""The console summary: a table of changes and problems, quiet when nothing changed."""

from __future__ import annotations

from sos_inventory.report.run import RunReport
from sos_inventory.report.text import change_text, summary_line

DEFAULT_ROWS = 50


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    out = []
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.append("  " + "  ".join([*cells, row[-1]]).rstrip())
    return out


def render(report: RunReport, *, max_rows: int | None = DEFAULT_ROWS) -> str:
    """Console text; ``max_rows=None`` lists every change."""
    lines: list[str] = []
    outcomes = report.outcomes
    if outcomes:
        shown = outcomes if max_rows is None else outcomes[:max_rows]
        lines.append(f"Changes ({len(outcomes)}):")
        lines += _table(
            [(o.change.c_code, o.change.hostname, o.outcome, change_text(o)) for o in shown],
            ("C_CODE", "HOSTNAME", "OUTCOME", "CHANGE"),
        )
        if len(shown) < len(outcomes):
            lines.append(
                f"  ... and {len(outcomes) - len(shown)} more (-v lists all; report.json has every one)"
            )
    problems = report.problems()
    if problems:
        lines.append(f"Problems ({len(problems)}):")
        for p in problems if max_rows is None else problems[:max_rows]:
            lines.append(f"  [{p.category.value}] {p.message}")
            lines.append(f"      action: {p.action}")
        if max_rows is not None and len(problems) > max_rows:
            lines.append(
                f"  ... and {len(problems) - max_rows} more (-v lists all; report.json has every one)"
            )
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"

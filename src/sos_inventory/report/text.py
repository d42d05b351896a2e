"""Shared wording of the human-facing renderers (console and Markdown)."""

from __future__ import annotations

from sos_inventory.apply import Outcome
from sos_inventory.report.run import RunReport


def change_text(outcome: Outcome) -> str:
    """``status: Build -> Live, application: a -> b``."""
    change = outcome.change
    return ", ".join(
        f"{name}: {change.before.get(name) or '(empty)'} -> {value}" for name, value in change.after.items()
    )


def summary_line(report: RunReport) -> str:
    """One sentence with the run's counts; the console's last line and the summary's first."""
    c = report.counts()
    parts = [f"{c['devices']} device rows"]
    if report.command == "update":
        parts.append(f"{c['changes']} change(s): {c['applied']} applied, {c['failed']} failed")
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

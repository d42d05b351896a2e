"""``summary.md``: the run for a human, e.g. the compliance focal or a Jenkins page."""

from __future__ import annotations

from sos_inventory.report.run import RunReport, iso
from sos_inventory.report.text import change_text, summary_line

MAX_ROWS = 500


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(report: RunReport) -> str:
    lines = [
        f"# sos-inventory {report.command}: exit {report.exit_code}",
        "",
        f"Run clock `{iso(report.now)}`, started `{iso(report.started_at)}`"
        + (f", finished `{iso(report.finished_at)}`." if report.finished_at else "."),
        "",
        summary_line(report) + ".",
        "",
        "| count | value |",
        "| --- | ---: |",
        *(f"| {key} | {value} |" for key, value in report.counts().items()),
    ]
    if report.outcomes:
        lines += [
            "",
            f"## Changes ({len(report.outcomes)})",
            "",
            "| C_Code | hostname | unid | change | outcome |",
        ]
        lines.append("| --- | --- | --- | --- | --- |")
        for outcome in report.outcomes[:MAX_ROWS]:
            c = outcome.change
            lines.append(
                f"| {c.c_code} | {c.hostname} | {c.unid} | {_cell(change_text(outcome))} | {outcome.outcome} |"
            )
        if len(report.outcomes) > MAX_ROWS:
            lines.append(f"\n... and {len(report.outcomes) - MAX_ROWS} more in report.json.")
    problems = report.problems()
    if problems:
        lines += ["", f"## Problems ({len(problems)})", ""]
        for p in problems[:MAX_ROWS]:
            lines.append(f"- **{p.category.value}** {_cell(p.message)}  \n  Action: {p.action}")
        if len(problems) > MAX_ROWS:
            lines.append(f"\n... and {len(problems) - MAX_ROWS} more in report.json.")
    return "\n".join(lines) + "\n"

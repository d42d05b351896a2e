"""``summary.md``: the run for a human, e.g. the compliance focal or a Jenkins page.

Its first lines say how the run ended and why (done, stopped by the breaker,
interrupted by SIGTERM, refused by a guard), before any count.
"""

from __future__ import annotations

from collections.abc import Sequence

from sos_inventory.report.escape import markdown, markdown_code
from sos_inventory.report.run import HOST_LISTS, RunReport, iso
from sos_inventory.report.text import (
    FIRST_NOT_ATTEMPTED,
    capped,
    change_text,
    split_not_attempted,
    summary_line,
)
from sos_inventory.runbook import action_of
from sos_inventory.sync.apply import Outcome

MAX_ROWS = 500


_cell = markdown
_code = markdown_code


def _about(report: RunReport) -> list[str]:
    """Which run this is: id, version, config, inventory, user, C_Codes."""
    config = _code(str(report.config_path)) if report.config_path else "(none)"
    if report.config_sha256:
        config += f" (SHA-256 {_code(report.config_sha256)})"
    inputs = [
        f"{_cell(name)} {_code(str(where.get('commit')))}"
        + (f" ({_cell(str(where['ref']))})" if where.get("ref") else "")
        for name, where in report.inputs.items()
    ]
    return [
        f"- Run {_code(report.run_id)}, sos-inventory {_cell(report.version)}",
        *([f"- Inputs at commit: {', '.join(inputs)}"] if inputs else []),
        f"- Run clock `{iso(report.now)}`, started `{iso(report.started_at)}`"
        + (f", finished `{iso(report.finished_at)}`" if report.finished_at else ""),
        f"- Config {config}",
        *([f"- Reviewed plan SHA-256 {_code(report.plan_sha256)}"] if report.plan_sha256 else []),
        f"- Inventory {_code(report.inventory_url or '(not reached)')} as {_code(report.api_user or '(no user)')}, "
        f"C_Codes {_cell(', '.join(report.c_codes)) or '(none)'}",
    ]


def _outcome_rows(outcomes: Sequence[Outcome]) -> list[str]:
    rows = ["| C_Code | hostname | unid | change | outcome |", "| --- | --- | --- | --- | --- |"]
    for outcome in outcomes:
        c = outcome.change
        rows.append(
            f"| {_cell(c.c_code)} | {_cell(c.hostname)} | {_cell(c.unid)} | {_cell(change_text(outcome))} "
            f"| {_cell(outcome.outcome)} |"
        )
    return rows


def render(report: RunReport) -> str:
    """How the run ended, the problems and their actions, what was not attempted, then the rest."""
    headline, why = report.ending()
    lines = [
        f"# sos-inventory {report.command}: {_cell(headline)} (exit {report.exit_code})",
        "",
        f"**{_cell(why)}**" if why else "",
        "",
        *(_about(report)),
        "",
        _cell(summary_line(report)) + ".",
        *(f"\n**Warning:** {_cell(warning)}" for warning in report.warnings),
    ]
    problems = report.problems()
    if problems:
        lines += ["", f"## Problems ({len(problems)})", ""]
        shown_problems, rest = capped(problems, MAX_ROWS)
        for p in shown_problems:
            lines.append(f"- **{p.category.value}** {_cell(p.message)}  \n  Action: {_cell(action_of(p))}")
            lines += [f"  - {_cell(item)}" for item in p.details]
            if p.hostnames:
                lines.append(f"  Machines ({len(p.hostnames)}): {_cell(', '.join(p.hostnames))}")
        if rest:
            lines.append(f"\n... and {rest} more in report.json.")
    left, others = split_not_attempted(report)
    if left:
        first, rest = capped(left, FIRST_NOT_ATTEMPTED)
        lines += ["", f"## Not attempted ({len(left)})", "", "A rerun makes these changes.", ""]
        lines += _outcome_rows(first)
        if rest:
            lines.append(f"\n... and {rest} more, listed after the changes below.")
    lines += [
        "",
        "## Counts",
        "",
        "| count | value |",
        "| --- | ---: |",
        *(f"| {_cell(str(key))} | {value} |" for key, value in report.counts().items()),
    ]
    if others:
        lines += ["", f"## Changes ({len(others)})", ""]
        shown, rest = capped(others, MAX_ROWS)
        lines += _outcome_rows(shown)
        if rest:
            lines.append(f"\n... and {rest} more in report.json.")
    if len(left) > FIRST_NOT_ATTEMPTED:
        shown, rest = capped(left[FIRST_NOT_ATTEMPTED:], MAX_ROWS)
        lines += ["", f"## Not attempted, the other {len(left) - FIRST_NOT_ATTEMPTED}", ""]
        lines += _outcome_rows(shown)
        if rest:
            lines.append(f"\n... and {rest} more in report.json.")
    lists = report.host_lists()
    for key, title in HOST_LISTS:
        if lists[key]:
            hosts, rest = capped(lists[key], MAX_ROWS)
            lines += ["", f"## {title} ({len(lists[key])})", "", *(f"- {_cell(h)}" for h in hosts)]
            if rest:
                lines.append(f"- ... and {rest} more in report.json.")
    return "\n".join(lines) + "\n"

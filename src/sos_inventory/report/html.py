"""``summary.html``: the run for a person, one self-contained file.

Jenkins' HTML publisher serves it under a strict Content-Security-Policy that
blocks scripts and even inline styles, so the page must read well as plain
HTML: headings, tables, lists and ``<details>``; the chart is inline SVG drawn
with presentation attributes (``fill``), which no policy blocks. Where styles
and scripts are allowed, the ``<style>`` makes it tidier and the ``<script>``
makes the changes table sortable and filterable. Nothing is loaded from
elsewhere, and every text that came from the inputs or the inventory is escaped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sos_inventory.model import Status
from sos_inventory.report.escape import html as html_text
from sos_inventory.report.run import HOST_LISTS, RunReport, iso
from sos_inventory.report.text import FIRST_NOT_ATTEMPTED, change_text, split_not_attempted, summary_line
from sos_inventory.runbook import problem_dict
from sos_inventory.sync.apply import Outcome

MAX_ROWS = 2000  # per table or list; report.json has every one

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}
.outcome{padding:.8rem 1rem;border-radius:6px;border-left:8px solid #1a7f37;background:#eef8f0}
.outcome.warn{border-color:#bf8700;background:#fff8e5}.outcome.fail{border-color:#cf222e;background:#ffefef}
.outcome h1{margin:.1rem 0;font-size:1.5rem}table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right}th{background:#f6f8fa}th[data-sort]{cursor:pointer}
pre{background:#f6f8fa;padding:.6rem;white-space:pre-wrap}details{margin:.4rem 0}
.problem{border-top:1px solid #d0d7de;padding:.4rem 0}.category{font-weight:600}
"""

# Progressive enhancement only: sort a table by a clicked header, filter rows by text.
_SCRIPT = """
document.querySelectorAll("table[data-sortable]").forEach(function (table) {
  var body = table.tBodies[0];
  var filter = document.createElement("input");
  filter.type = "search"; filter.placeholder = "filter rows"; filter.setAttribute("aria-label", "filter rows");
  filter.addEventListener("input", function () {
    var word = filter.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (row) {
      row.hidden = word !== "" && row.textContent.toLowerCase().indexOf(word) < 0;
    });
  });
  table.parentNode.insertBefore(filter, table);
  table.querySelectorAll("th").forEach(function (th, column) {
    th.setAttribute("data-sort", "");
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].textContent, y = b.cells[column].textContent;
        return (up ? 1 : -1) * x.localeCompare(y, undefined, {numeric: true});
      });
      rows.forEach(function (row) { body.appendChild(row); });
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
    });
  });
});
"""

_BEFORE_FILL, _AFTER_FILL = "#8c959f", "#0969da"


_e = html_text


def status_counts(report: RunReport) -> dict[str, dict[str, tuple[int, int]]]:
    """Records per C_Code and Status, (before, after): after the applied changes (update)
    or after the planned ones (plan)."""
    plan = report.plan
    if plan is None:
        return {}
    written = "planned" if report.command == "plan" else "applied"
    after = {c_code: Counter(counts) for c_code, counts in plan.statuses.items()}
    for outcome in report.outcomes:
        change = outcome.change
        if outcome.outcome == written and "status" in change.after:
            counts = after.setdefault(change.c_code, Counter())
            counts[change.before.get("status", "")] -= 1
            counts[change.after["status"]] += 1
    known = [s.value for s in Status]
    table: dict[str, dict[str, tuple[int, int]]] = {}
    for c_code in sorted(after):
        before = plan.statuses.get(c_code, {})
        names = known + sorted(set(before) - set(known))
        table[c_code] = {name: (before.get(name, 0), after[c_code][name]) for name in names}
    return table


def _chart(counts: Mapping[str, Mapping[str, tuple[int, int]]], after_label: str) -> str:
    """Grouped horizontal bars, before (grey) and after (blue), per C_Code and Status."""
    rows = [(c_code, status, pair) for c_code, by in counts.items() for status, pair in by.items()]
    if not rows:
        return ""
    biggest = max(max(pair) for _, _, pair in rows) or 1
    label_w, bar_w, row_h, top = 190, 420, 34, 28
    height = top + row_h * len(rows) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 70}" height="{height}" '
        f'role="img" aria-labelledby="chart-title" font-family="sans-serif" font-size="12">',
        '<title id="chart-title">Records per C_Code and Status, before and after</title>',
        f'<rect x="{label_w}" y="4" width="12" height="12" fill="{_BEFORE_FILL}"/>'
        f'<text x="{label_w + 16}" y="14">before</text>',
        f'<rect x="{label_w + 80}" y="4" width="12" height="12" fill="{_AFTER_FILL}"/>'
        f'<text x="{label_w + 96}" y="14">{_e(after_label)}</text>',
    ]
    for index, (c_code, status, (before, after)) in enumerate(rows):
        y = top + index * row_h
        parts.append(f'<text x="0" y="{y + 18}">{_e(c_code)} {_e(status)}</text>')
        for offset, value, fill in ((0, before, _BEFORE_FILL), (15, after, _AFTER_FILL)):
            width = round(bar_w * value / biggest)
            parts.append(
                f'<rect x="{label_w}" y="{y + offset}" width="{width}" height="13" fill="{fill}"/>'
                f'<text x="{label_w + width + 4}" y="{y + offset + 11}">{value}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _table(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: Sequence[int] = (), **attrs: str
) -> str:
    extra = "".join(f' {name.replace("_", "-")}="{_e(value)}"' for name, value in attrs.items())
    head = "".join(f"<th{' class=n' if i in numeric else ''}>{_e(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{_e(cell)}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table{extra}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _more(total: int) -> str:
    return f"<p>... and {total - MAX_ROWS} more in report.json.</p>" if total > MAX_ROWS else ""


def _facts(report: RunReport) -> list[tuple[str, str]]:
    """Which run this was (the fields it has)."""
    facts = [
        ("run", report.run_id),
        ("command", report.command),
        ("exit code", str(report.exit_code)),
        ("run clock", iso(report.now)),
        ("started", iso(report.started_at)),
        ("finished", iso(report.finished_at) if report.finished_at else "(not finished)"),
        ("version", report.version),
        ("config", report.config_path or ""),
        ("config SHA-256", report.config_sha256 or ""),
        ("plan SHA-256", report.plan_sha256 or ""),
        ("inventory", report.inventory_url or ""),
        ("API user", report.api_user or ""),
        ("C_Codes", ", ".join(report.c_codes)),
        *(
            (
                f"{name} at commit",
                f"{where.get('commit')}" + (f" ({where['ref']})" if where.get("ref") else ""),
            )
            for name, where in report.inputs.items()
        ),
        ("traceback", report.traceback_path or ""),
    ]
    return [(name, value) for name, value in facts if value]


def _head(report: RunReport) -> list[str]:
    tone = "" if report.exit_code == 0 else " warn" if report.exit_code == 1 else " fail"
    headline, why = report.ending()
    out = [f'<section class="outcome{tone}" id="outcome">', f"<h1>{_e(headline)}</h1>"]
    out.append(f'<p id="why">{_e(why)}</p>')
    if report.stopped and report.stopped not in why:
        out.append(f'<p id="stopped"><strong>Stopped early:</strong> {_e(report.stopped)}</p>')
    out.append(f"<p>{_e(summary_line(report))}.</p>")
    out += [f'<p class="warning"><strong>Warning:</strong> {_e(warning)}</p>' for warning in report.warnings]
    problems = len(report.problems())
    if problems:
        out.append(f'<p><a href="#problems">Go to the {problems} problem(s) and their actions</a></p>')
    if report.build_url and report.build_url.startswith(("https://", "http://")):
        out.append(f'<p>Jenkins build: <a href="{_e(report.build_url)}">{_e(report.build_url)}</a></p>')
    out.append(
        '<table id="run-facts"><tbody>'
        + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in _facts(report))
        + "</tbody></table>"
    )
    out.append("</section>")
    return out


def _problems(report: RunReport) -> list[str]:
    problems = report.problems()
    if not problems:
        return []
    out = [f'<h2 id="problems">Problems ({len(problems)})</h2>']
    for problem in problems[:MAX_ROWS]:
        data: dict[str, Any] = problem_dict(problem, report.facts())
        where = " ".join(_e(v) for v in (problem.c_code, problem.hostname, problem.source) if v)
        out.append('<div class="problem">')
        out.append(f'<p><span class="category">{_e(problem.category.value)}</span> {where}</p>')
        out.append(f"<p>{_e(problem.message)}</p>")
        if problem.details:
            out.append("<ul>" + "".join(f"<li>{_e(item)}</li>" for item in problem.details) + "</ul>")
        if problem.hostnames:
            out.append(
                f"<details><summary>{len(problem.hostnames)} machine(s)</summary><ul>"
                + "".join(f"<li>{_e(h)}</li>" for h in problem.hostnames[:MAX_ROWS])
                + "</ul></details>"
            )
        out.append(f"<p><strong>Action:</strong> {_e(data['action'])}</p>")
        if data.get("ticket"):
            out.append(f"<details><summary>Ticket draft</summary><pre>{_e(data['ticket'])}</pre></details>")
        out.append("</div>")
    out.append(_more(len(problems)))
    return out


def _hostnames(report: RunReport) -> list[str]:
    if report.plan is None:
        return []
    lists = report.host_lists()
    out = ['<h2 id="hostnames">Hostname lists</h2>']
    for key, title in HOST_LISTS:
        items = lists[key]
        anchor = key.replace("_", "-")
        out.append(f'<details id="{anchor}"{" open" if 0 < len(items) <= 20 else ""}>')
        out.append(f"<summary>{_e(title)}: {len(items)}</summary>")
        if items:
            out.append("<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items[:MAX_ROWS]) + "</ul>")
            out.append(_more(len(items)))
        out.append("</details>")
    return out


def _outcomes(outcomes: Sequence[Outcome], id: str) -> str:
    rows = [(o.change.c_code, o.change.hostname, o.change.unid, change_text(o), o.outcome) for o in outcomes]
    return _table(("C_Code", "hostname", "unid", "change", "outcome"), rows, id=id, data_sortable="")


def _not_attempted(left: Sequence[Outcome]) -> list[str]:
    """What a stopped run left to do: the first FIRST_NOT_ATTEMPTED, the rest folded."""
    if not left:
        return []
    out = [
        f'<h2 id="not-attempted">Not attempted ({len(left)})</h2>',
        "<p>The run stopped before these changes; a rerun makes them.</p>",
        _outcomes(left[:FIRST_NOT_ATTEMPTED], "not-attempted-table"),
    ]
    if len(left) > FIRST_NOT_ATTEMPTED:
        rest = left[FIRST_NOT_ATTEMPTED : FIRST_NOT_ATTEMPTED + MAX_ROWS]
        out.append(f"<details><summary>The other {len(left) - FIRST_NOT_ATTEMPTED}</summary>")
        out.append(_outcomes(rest, "not-attempted-rest"))
        out.append(_more(len(left) - FIRST_NOT_ATTEMPTED) + "</details>")
    return out


def render(report: RunReport) -> str:
    """The whole page: how the run ended, the problems and their actions, what was not attempted,
    the counts and the chart, the changes, the hostname lists."""
    title = f"sos-inventory {report.command}: {report.ending()[0]}"
    body = _head(report)
    body += _problems(report)
    left, others = split_not_attempted(report)
    body += _not_attempted(left)
    counts = report.counts()
    body.append('<h2 id="counts">Counts</h2>')
    body.append(_table(("count", "value"), counts.items(), numeric=(1,), id="counts-table"))
    by_status = status_counts(report)
    if by_status:
        after_label = "after the plan" if report.command == "plan" else "after"
        body.append('<h2 id="statuses">Records per C_Code and Status</h2>')
        body.append(_chart(by_status, after_label))
        rows = [
            (c_code, status, before, after, after - before)
            for c_code, by in by_status.items()
            for status, (before, after) in by.items()
        ]
        body.append(
            _table(
                ("C_Code", "Status", "before", after_label, "difference"),
                rows,
                numeric=(2, 3, 4),
                id="status-table",
            )
        )
    if others:
        body.append(f'<h2 id="changes">Changes ({len(others)})</h2>')
        body.append(_outcomes(others[:MAX_ROWS], "changes-table"))
        body.append(_more(len(others)))
    body += _hostnames(report)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + f"\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )

"""``junit.xml``: one test case per machine that needed a change or had a problem.

Jenkins' JUnit publisher then shows failed updates and problems as failed
tests, with the runbook action in the failure text, and changes the run never
attempted (it stopped first) as skipped. The hostname lists are the suite's
``system-out``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sos_inventory.model import Problem
from sos_inventory.redact import printable
from sos_inventory.report.run import HOST_LISTS, RunReport
from sos_inventory.report.text import ending_line
from sos_inventory.runbook import action_of, problem_of

SUITE = "sos-inventory"


def _fail(case: ET.Element, problem: Problem) -> None:
    failure = ET.SubElement(case, "failure", message=problem.message[:500], type=problem.category.value)
    failure.text = f"{problem.message}\nAction: {action_of(problem)}"


def render(report: RunReport) -> str:
    suite = ET.Element("testsuite", name=f"{SUITE}-{report.command}")
    cases = failures = skipped = 0
    for outcome in report.outcomes:
        change = outcome.change
        case = ET.SubElement(suite, "testcase", classname=f"{SUITE}.{change.c_code}", name=change.hostname)
        fields = ", ".join(f"{k}: {change.before.get(k, '')!r} -> {v!r}" for k, v in change.after.items())
        ET.SubElement(case, "system-out").text = f"unid {change.unid}: {fields} ({outcome.outcome})"
        cases += 1
        if outcome.outcome == "failed" and outcome.error is not None:
            _fail(case, problem_of(outcome.error))
            failures += 1
        elif outcome.outcome == "not_attempted":
            ET.SubElement(
                case, "skipped", message=f"not attempted: {report.stopped or 'the run stopped first'}"
            )
            skipped += 1
        elif outcome.outcome == "unknown":
            ET.SubElement(
                case,
                "failure",
                message="unknown: the request was sent and its answer never came; it may have landed",
            )
            failures += 1
        elif outcome.outcome == "stale":
            ET.SubElement(case, "skipped", message="not applied: the record changed since the plan was made")
            skipped += 1
    for problem in report.problems(updates=False):
        name = problem.hostname or problem.source or problem.category.value
        case = ET.SubElement(suite, "testcase", classname=f"{SUITE}.{problem.c_code or 'run'}", name=name)
        _fail(case, problem)
        cases += 1
        failures += 1
    lists = report.host_lists()
    out = [ending_line(report), f"run {report.run_id}"]
    for key, title in HOST_LISTS:
        if lists[key]:
            out += [f"{title} ({len(lists[key])}):", *(f"  {host}" for host in lists[key])]
    ET.SubElement(suite, "system-out").text = "\n".join(out)
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    if report.finished_at is not None:
        suite.set("time", f"{(report.finished_at - report.started_at).total_seconds():.3f}")
    ET.indent(suite)
    # ElementTree writes control characters as they are, and XML 1.0 cannot hold them: one in a
    # server's message would make the file unreadable to Jenkins' publisher. Escape them all.
    text = printable(ET.tostring(suite, encoding="unicode"))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"

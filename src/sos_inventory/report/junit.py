"""``junit.xml``: one test case per machine that needed a change or had a problem.

Jenkins' JUnit publisher then shows failed updates and problems as failed
tests, with the runbook action in the failure text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sos_inventory.plan import Problem
from sos_inventory.report.run import RunReport

SUITE = "sos-inventory"


def _fail(case: ET.Element, problem: Problem) -> None:
    failure = ET.SubElement(case, "failure", message=problem.message[:500], type=problem.category.value)
    failure.text = f"{problem.message}\nAction: {problem.action}"


def render(report: RunReport) -> str:
    suite = ET.Element("testsuite", name=f"{SUITE}-{report.command}")
    cases = failures = 0
    for outcome in report.outcomes:
        change = outcome.change
        case = ET.SubElement(suite, "testcase", classname=f"{SUITE}.{change.c_code}", name=change.hostname)
        fields = ", ".join(f"{k}: {change.before.get(k, '')!r} -> {v!r}" for k, v in change.after.items())
        ET.SubElement(case, "system-out").text = f"unid {change.unid}: {fields} ({outcome.outcome})"
        cases += 1
        if outcome.outcome == "failed" and outcome.error is not None:
            _fail(case, Problem.from_error(outcome.error))
            failures += 1
        elif outcome.outcome == "stale":
            ET.SubElement(case, "skipped", message="not applied: the record changed since the plan was made")
    for problem in report.problems(updates=False):
        name = problem.hostname or problem.source or problem.category.value
        case = ET.SubElement(suite, "testcase", classname=f"{SUITE}.{problem.c_code or 'run'}", name=name)
        _fail(case, problem)
        cases += 1
        failures += 1
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    if report.finished_at is not None:
        suite.set("time", f"{(report.finished_at - report.started_at).total_seconds():.3f}")
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"

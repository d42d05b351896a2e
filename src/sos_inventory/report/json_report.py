"""``report.json``: the machine-readable record of a run (README, Reports)."""

from __future__ import annotations

import json
from typing import Any

from sos_inventory.report.run import RunReport, iso
from sos_inventory.runbook import problem_dict

VERSION = 1


def as_dict(report: RunReport) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    changes = []
    for outcome in report.outcomes:
        entry = outcome.change.to_dict()
        entry["outcome"] = outcome.outcome
        if outcome.error is not None:
            entry["error"] = str(outcome.error)
        changes.append(entry)
    plan = report.plan
    headline, why = report.ending()
    return {
        "version": VERSION,
        "run_id": report.run_id,
        "tool_version": report.version,
        "command": report.command,
        "started_at": iso(report.started_at),
        "finished_at": iso(report.finished_at) if report.finished_at else None,
        "now": iso(report.now),
        "exit_code": report.exit_code,
        "ended": {"headline": headline, "why": why},
        "config": {"path": report.config_path, "sha256": report.config_sha256},
        "plan_sha256": report.plan_sha256,
        "inputs": report.inputs,
        "inventory_url": report.inventory_url,
        "api_user": report.api_user,
        "c_codes": report.c_codes,
        "counts": report.counts(),
        "changes": changes,
        "problems": [problem_dict(p, report.facts()) for p in report.problems()],
        "build_url": report.build_url,
        "not_in_inventory": [n.to_dict() for n in plan.not_in_inventory] if plan else [],
        "orphans": [n.to_dict() for n in plan.orphans] if plan else [],
        "unowned": [n.to_dict() for n in plan.unowned] if plan else [],
        "ambiguous": report.host_lists()["ambiguous"],
        "records": dict(plan.records) if plan else {},
        "safety": report.verdict.to_dict() if report.verdict else None,
        "stopped": report.stopped,
        "warnings": list(report.warnings),
        "requests": {"attempts": report.attempts, "retries": report.retries},
        "traceback": report.traceback_path,
    }


#: Characters that mean markup to a browser: written as JSON escapes (the same string once decoded),
#: so that a report shown in a web page cannot carry a tag from a server's message.
_MARKUP = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def render(report: RunReport) -> str:
    return json.dumps(as_dict(report), indent=2).translate(_MARKUP) + "\n"

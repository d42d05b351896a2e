"""A RunReport with a bit of everything, for the metrics and HTML tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sos_inventory.errors import SosHttpError
from sos_inventory.model import Category, Change, Notice, Problem
from sos_inventory.report import RunReport
from sos_inventory.sync.apply import Outcome
from sos_inventory.sync.plan import Plan

STARTED = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>&<img src=http://example.invalid/x.png>'


def sample_report(command: str = "update") -> RunReport:
    changes = (
        Change("ALC", "prod-dal10-worker-01", "A01", {"status": "Build"}, {"status": "Live"}),
        Change(
            "ALC",
            "prod-dal10-worker-02",
            "A02",
            {"status": "Build", "application": "a"},
            {"status": "Live", "application": "b"},
        ),
        Change("ALC", "prod-dal10-worker-03", "A03", {"status": "Live"}, {"status": "Available"}),
        Change("ALC_FR2", "prodfr2-worker-01", "F01", {"environment": "X"}, {"environment": "Y"}),
    )
    plan = Plan(
        changes=changes,
        problems=(
            Problem(Category.DUPLICATE_HOSTNAME, "two records share it", "ALC", "prod-dal10-worker-10"),
            Problem(Category.INPUT_ERROR, f"invalid row: {HOSTILE}", source="devices.csv:4"),
        ),
        in_step=5,
        not_in_inventory=(Notice("ALC", "prod-dal10-worker-13", "no record"),),
        orphans=(Notice("ALC", "prod-dal10-old-01", "no machine", unid="A99"),),
        unowned=(Notice("ALC", f"box-{HOSTILE}", "no rule"),),
        rows=12,
        excluded=1,
        invalid=1,
        ambiguous=(Notice("ALC", "prod-dal10-worker-10", "devices.csv:11"),),
        records={"ALC": 10, "ALC_FR2": 1},
        machines={"ALC": 9, "ALC_FR2": 1},
        statuses={"ALC": {"Build": 6, "Live": 4}, "ALC_FR2": {"Live": 1}},
    )
    report = RunReport(command=command, started_at=STARTED, now=STARTED)
    report.set_plan(plan)
    if command == "update":
        failure = SosHttpError(
            f"SOS inventory returned an error when updating: {HOSTILE}",
            operation="update",
            c_code="ALC",
            hostname="prod-dal10-worker-03",
            unid="A03",
            status=500,
        )
        report.outcomes = [
            Outcome(changes[0], "applied"),
            Outcome(changes[1], "applied"),
            Outcome(changes[2], "failed", failure),
            Outcome(changes[3], "applied"),
        ]
        report.exit_code = 1
    report.attempts, report.retries = 9, 2
    report.attempts_by_kind = {"query": 5, "update": 4}
    report.finished_at = STARTED + timedelta(seconds=42)
    return report

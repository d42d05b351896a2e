"""Manual edits and fights from the job's own past writes (README, Evidence)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sos_inventory.model import Category, Change
from sos_inventory.sync.drift import review
from sos_inventory.sync.plan import Plan


@dataclass(frozen=True)
class Write:
    run_id: str
    after: str
    time: str = "2026-11-27T12:00:00.000Z"


def _plan(*changes: Change) -> Plan:
    return Plan(changes)


EDITED = Change(
    "ALC",
    "h1",
    "U1",
    {"status": "Build", "application": "x"},
    {"status": "Live", "application": "k8s"},
    {"status": "lifecycle", "application": "ownership.application[1]"},
)


def test_a_field_set_back_from_the_value_the_job_wrote_is_a_manual_edit() -> None:
    writes = {
        ("ALC", "U1", "status"): [Write("R1", "Live")],
        ("ALC", "U1", "application"): [Write("R1", "old")],
    }
    plan = review(_plan(EDITED), writes, ["R1"], respect=False)
    assert plan.changes == (Change(**{**_fields(EDITED), "manual_edit": True}),)
    [problem] = plan.problems
    assert (
        problem.category is Category.MANUAL_EDIT
        and "ALC/h1 status: 'Build' (job wrote 'Live')" in problem.message
    )
    assert "application" not in problem.message  # the exports changed it since: not a hand edit


def test_respect_leaves_the_edited_fields_and_keeps_the_others() -> None:
    writes = {("ALC", "U1", "status"): [Write("R1", "Live")]}
    plan = review(_plan(EDITED), writes, ["R1"], respect=True)
    assert plan.changes == (
        Change(
            "ALC",
            "h1",
            "U1",
            {"application": "x"},
            {"application": "k8s"},
            {"application": "ownership.application[1]"},
        ),
    )
    assert "left as edited" in plan.problems[0].message


def test_no_past_write_no_manual_edit_and_a_field_written_in_each_of_the_last_three_runs_is_a_fight() -> None:
    assert review(_plan(EDITED), {}, ["R3", "R2", "R1"], respect=False) == _plan(EDITED)
    writes = {("ALC", "U1", "status"): [Write("R1", "Live"), Write("R2", "Live"), Write("R3", "Live")]}
    plan = review(_plan(EDITED), writes, ["R3", "R2", "R1", "R0"], respect=False)
    assert [p.category for p in plan.problems] == [Category.MANUAL_EDIT, Category.FIGHT]
    assert "R1, R2, R3" in plan.problems[1].message
    two_of_three = {("ALC", "U1", "status"): [Write("R1", "Live"), Write("R3", "Live")]}
    assert [
        p.category for p in review(_plan(EDITED), two_of_three, ["R3", "R2", "R1"], respect=False).problems
    ] == [Category.MANUAL_EDIT]


def _fields(change: Change) -> dict[str, Any]:
    return {
        name: getattr(change, name) for name in ("c_code", "hostname", "unid", "before", "after", "rules")
    }

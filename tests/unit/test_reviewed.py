"""Saved plans and undo plans: reading them back, refusing what is not one, undoing a run's writes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sos_inventory.errors import PlanFileError
from sos_inventory.model import Change
from sos_inventory.sync.reviewed import load_plan, plan_document, undo_changes

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CHANGE = Change("ALC", "h1", "U1", {"status": "Build"}, {"status": "Live"}, {"status": "lifecycle"})


def _save(path: Path, **overrides: object) -> Path:
    config = path.parent / "config.yaml"
    config.write_text("x: 1\n")
    document = plan_document(
        [CHANGE], created_at=T0, now=T0, inventory_url="http://127.0.0.1:1", c_codes=["ALC"], inputs=[config]
    )
    document.update(overrides)
    path.write_text(json.dumps(document))
    return path


def test_a_saved_plan_reads_back_as_the_same_changes(tmp_path: Path) -> None:
    saved = load_plan(_save(tmp_path / "p.json"), max_age=timedelta(hours=24), clock=T0 + timedelta(hours=1))
    assert saved.changes == (CHANGE,)
    assert saved.inventory_url == "http://127.0.0.1:1" and saved.created_at == T0
    assert saved.inputs == {str(tmp_path / "config.yaml"): hashlib.sha256(b"x: 1\n").hexdigest()}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"format": "other"}, "not a plan saved by"),
        ({"version": 2}, "plan version 2"),
        (
            {"changes": [{"c_code": "ALC", "hostname": "h", "unid": "U", "before": {}, "after": {}}]},
            "non-empty",
        ),
        (
            {
                "changes": [
                    {
                        "c_code": "ALC",
                        "hostname": "h",
                        "unid": "U",
                        "before": {"fqdn": "a"},
                        "after": {"fqdn": "b"},
                    }
                ]
            },
            "only text values of application, environment, status",
        ),
        ({"created_at": "yesterday"}, "not a valid plan"),
    ],
)
def test_what_is_not_a_valid_plan_is_refused_by_name(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(PlanFileError, match=message):
        load_plan(_save(tmp_path / "p.json", **overrides), max_age=timedelta(hours=24), clock=T0)


def test_a_plan_older_than_the_limit_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "p.json")
    load_plan(path, max_age=timedelta(hours=24), clock=T0 + timedelta(hours=24))
    with pytest.raises(PlanFileError, match=r"older than --max-plan-age 24\.0h"):
        load_plan(path, max_age=timedelta(hours=24), clock=T0 + timedelta(hours=24, seconds=1))


@dataclass(frozen=True)
class Row:
    c_code: str
    hostname: str
    unid: str
    field: str
    before: str | None
    after: str
    outcome: str


def test_undo_puts_back_applied_and_unsettled_writes_but_not_failed_ones() -> None:
    rows = [
        Row("ALC", "h1", "U1", "status", "Build", "Live", "applied"),
        Row("ALC", "h1", "U1", "application", "a", "b", "applied"),
        Row("ALC", "h2", "U2", "status", "Build", "Live", "failed"),
        Row("ALC", "h3", "U3", "status", "Live", "Available", "pending"),  # killed: the record tells
        Row("ALC", "h2", "U2", "status", "Build", "Live", "applied"),  # its second chance
    ]
    assert undo_changes("R1", rows) == [
        Change(
            "ALC",
            "h1",
            "U1",
            {"status": "Live", "application": "b"},
            {"status": "Build", "application": "a"},
            {"status": "undo R1", "application": "undo R1"},
        ),
        Change("ALC", "h2", "U2", {"status": "Live"}, {"status": "Build"}, {"status": "undo R1"}),
        Change("ALC", "h3", "U3", {"status": "Available"}, {"status": "Live"}, {"status": "undo R1"}),
    ]

"""Saved plans and undo plans: reading them back, refusing what is not one, undoing a run's writes."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sos_inventory.config import Credentials
from sos_inventory.errors import ConfigError, PlanFileError
from sos_inventory.inventory.memory import MemoryInventory
from sos_inventory.model import Change, KnownNames
from sos_inventory.sync.engine import RunOptions, RunResult, run_reviewed
from sos_inventory.sync.reviewed import (
    CLOCK_SKEW,
    SavedPlan,
    in_scope,
    load_plan,
    plan_digest,
    plan_document,
    same_inventory,
    undo_changes,
)
from tests.builders import make_config, record

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CHANGE = Change("ALC", "h1", "U1", {"status": "Build"}, {"status": "Live"}, {"status": "lifecycle"})


VALUES = {"status": frozenset({"Build", "Live", "Available"}), "application": {"a"}, "environment": {"e"}}
DAY = timedelta(hours=24)


def _save(path: Path, **overrides: object) -> Path:
    """A plan as ``plan --out`` saves it, with ``overrides`` (its digest made again: as saved)."""
    config = path.parent / "config.yaml"
    config.write_text("x: 1\n")
    document = plan_document(
        [CHANGE], created_at=T0, now=T0, inventory_url="http://127.0.0.1:1", c_codes=["ALC"], inputs=[config]
    )
    document.update(overrides)
    document["digest"] = plan_digest(document)
    path.write_text(json.dumps(document))
    return path


def _load(path: Path, clock: datetime = T0) -> SavedPlan:
    return load_plan(path, max_age=DAY, clock=clock, values=VALUES)


def test_a_saved_plan_reads_back_as_the_same_changes(tmp_path: Path) -> None:
    path = _save(tmp_path / "p.json")
    saved = _load(path, T0 + timedelta(hours=1))
    assert saved.changes == (CHANGE,) and saved.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert saved.inventory_url == "http://127.0.0.1:1" and saved.created_at == T0
    assert saved.inputs == {str(tmp_path / "config.yaml"): hashlib.sha256(b"x: 1\n").hexdigest()}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"format": "other"}, "not a plan saved by"),
        ({"version": 1}, "plan version 1, this tool reads 2"),
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
        ({"created_at": "9999-12-31T23:59:59-14:00"}, "created_at 9999-12-31T23:59:59-14:00 is out of range"),
        ({"created_at": "2099-01-01T00:00:00Z"}, "in the future"),
        ({"created_at": (T0 + timedelta(minutes=6)).isoformat()}, "in the future"),
        ({"changes": [{**CHANGE.to_dict(), "after": {"status": "Decommissioned"}}]}, "'Decommissioned'"),
        (
            {
                "changes": [
                    {**CHANGE.to_dict(), "before": {"environment": "e"}, "after": {"environment": "x"}}
                ]
            },
            "1 value(s) the config cannot give (its ownership rules and the Status values): "
            "changes[0].after.environment 'x'",
        ),
        ({"changes": [CHANGE.to_dict(), CHANGE.to_dict()]}, "changed more than once: changes[0] and [1]"),
        ({"inputs": {"x": [[[[[[[]]]]]]]}, "changes": 1}, "changes must be a list"),
    ],
)
def test_what_is_not_a_valid_plan_is_refused_by_name(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(PlanFileError, match=re.escape(message)):
        _load(_save(tmp_path / "p.json", **overrides))


def test_a_plan_older_than_the_limit_or_beyond_the_clock_skew_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "p.json")
    _load(path, T0 + timedelta(hours=24))
    _load(path, T0 - CLOCK_SKEW)  # this agent's clock a little behind the one that made it
    with pytest.raises(PlanFileError, match=r"older than --max-plan-age 24\.0h"):
        _load(path, T0 + timedelta(hours=24, seconds=1))
    with pytest.raises(PlanFileError, match="in the future"):
        _load(path, T0 - CLOCK_SKEW - timedelta(seconds=1))


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["changes"][0]["after"].update(status="Available"),
        lambda d: d.update(created_at="2026-11-27T13:00:00Z"),
        lambda d: d.update(inventory_url="http://127.0.0.1:2"),
        lambda d: d["changes"].append(dict(d["changes"][0], unid="U2")),
        lambda d: d.pop("digest"),
        lambda d: d.update(extra=1),
    ],
)
def test_any_edit_of_a_saved_plan_is_refused_by_its_digest(
    tmp_path: Path, edit: Callable[[Any], None]
) -> None:
    path = _save(tmp_path / "p.json")
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    with pytest.raises(PlanFileError, match="does not match its digest"):
        _load(path)


def test_reformatting_a_saved_plan_keeps_its_digest(tmp_path: Path) -> None:
    path = _save(tmp_path / "p.json")
    document = json.loads(path.read_text())
    path.write_text(json.dumps(dict(reversed(document.items())), indent=7))
    assert _load(path).changes == (CHANGE,)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"format": "sos-inventory-plan", "format": "x"}', "appears twice"),
        (b"\xff\xfe", "cannot read the plan"),
    ],
)
def test_a_file_that_is_not_json_of_a_plan_is_refused_by_name(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(PlanFileError, match=message) as raised:
        _load(path)
    assert str(path) in str(raised.value)


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


def test_changes_of_c_codes_the_config_does_not_map_refuse_the_whole_plan() -> None:
    other = Change("ZZZ", "h9", "U9", {"status": "Build"}, {"status": "Live"})
    with pytest.raises(ConfigError, match="changes to C_Code\\(s\\) ZZZ that no account of the config maps"):
        in_scope("the plan P", [CHANGE, other], mapped={"ALC"}, selected=None)


def test_c_code_keeps_its_c_codes_changes_and_says_what_it_left_out() -> None:
    fr2 = Change("ALC_FR2", "h9", "U9", {"status": "Build"}, {"status": "Live"})
    kept, note = in_scope("the plan P", [CHANGE, fr2], mapped={"ALC", "ALC_FR2"}, selected={"ALC"})
    assert (
        kept == [CHANGE] and note == "--c-code ALC: 1 change(s) of the plan P to C_Code(s) ALC_FR2 left out"
    )
    assert in_scope("the plan P", [CHANGE], mapped={"ALC"}, selected={"ALC"}) == ([CHANGE], None)


def test_another_inventory_or_none_is_refused_naming_both() -> None:
    same_inventory("run R", "https://a.example.com", "https://a.example.com", otherwise="Do X.")
    with pytest.raises(ConfigError) as raised:
        same_inventory("run R", "https://a.example.com", "https://b.example.com", otherwise="Do X.")
    assert "made on the inventory https://a.example.com, and this run points at https://b.example.com" in str(
        raised.value
    )
    assert (
        raised.value.action is not None
        and "--inventory-url https://a.example.com). Do X." in raised.value.action
    )
    with pytest.raises(ConfigError, match="names no inventory") as unnamed:
        same_inventory("run R", None, "https://b.example.com", otherwise="Do X.")
    assert unnamed.value.action == "Nothing was written. Do X."


def _reviewed(changes: list[Change], inventory: MemoryInventory, tmp_path: Path, **safety: int) -> RunResult:
    config = make_config(tmp_path, safety={"max_changes": 500, "max_change_ratio": 1.0, **safety})
    return run_reviewed(
        config,
        Credentials("sre@example.com", "t" * 20),
        RunOptions(now=T0),
        changes,
        write=True,
        check_values=True,
        inventory=inventory,
    )


def test_a_plan_over_max_changes_is_refused_before_any_request(tmp_path: Path) -> None:
    inventory = MemoryInventory([record("h1", "U1", status="Build")], {})
    result = _reviewed([CHANGE, replace(CHANGE, unid="U2")], inventory, tmp_path, max_changes=1)
    assert result.verdict is not None and result.verdict.refused
    assert inventory.counts().attempts == 0


def test_a_value_the_inventory_does_not_know_is_refused_before_any_write(tmp_path: Path) -> None:
    known = {"ALC": KnownNames(frozenset({"containers-kubernetes"}), frozenset({"PROD-US-SOUTH"}))}
    inventory = MemoryInventory([record("h1", "U1")], known)
    mars = Change("ALC", "h1", "U1", {"environment": "PROD-US-SOUTH"}, {"environment": "PROD-MARS"})
    result = _reviewed([CHANGE, mars], inventory, tmp_path)
    assert isinstance(result.error, PlanFileError)
    assert "1 value(s) to write that the inventory does not know: ALC environment 'PROD-MARS'" in str(
        result.error
    )
    assert inventory.counts().by_kind.get("update", 0) == 0

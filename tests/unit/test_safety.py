from __future__ import annotations

from pathlib import Path

from sos_inventory.config import Safety
from sos_inventory.model import Change, RowError
from sos_inventory.sync.devices import DeviceSet
from sos_inventory.sync.plan import Plan
from sos_inventory.sync.safety import check, limits_with_overrides
from tests.builders import make_device as device


def plan(changes: int, records: dict[str, int], c_code: str = "ALC") -> Plan:
    return Plan(
        changes=tuple(
            Change(c_code, f"h{i}", f"U{i}", {"status": "Live"}, {"status": "Available"})
            for i in range(changes)
        ),
        records=records,
    )


def fleet(n: int, c_code: str = "ALC") -> DeviceSet:
    return DeviceSet(devices=[device(f"h{i}", c_code=c_code) for i in range(n)], rows_by_file={"a.csv": n})


LIMITS = Safety(max_changes=500, max_change_ratio=0.2, min_export_ratio=0.5)


def test_a_normal_plan_passes() -> None:
    verdict = check(plan(15, {"ALC": 100}), fleet(100), LIMITS)
    assert not verdict.refused
    assert verdict.to_dict()["verdict"] == "ok"


def test_flipping_every_machine_is_refused_by_the_ratio() -> None:
    verdict = check(plan(100, {"ALC": 100}), fleet(100), LIMITS)
    assert verdict.refused
    (refusal,) = verdict.refusals
    assert refusal.limit == "max_change_ratio"
    assert "100 of 100 records (100.0%)" in refusal.message
    assert "--max-change-ratio" in refusal.message and "--force" in refusal.message


def test_ratio_is_ignored_for_tiny_inventories_but_max_changes_is_not() -> None:
    assert not check(plan(5, {"ALC": 5}), fleet(5), LIMITS).refused
    verdict = check(plan(600, {"ALC": 100000}), fleet(100000), LIMITS)
    assert [r.limit for r in verdict.refusals] == ["max_changes"]


def test_truncated_export_and_empty_file_are_refused() -> None:
    devices = fleet(30)
    devices.invalid.append(RowError("a.csv", 9, "Provision Date", "x", "bad", "h99", "ALC"))
    devices.rows_by_file["b.csv"] = 0
    verdict = check(plan(0, {"ALC": 100}), devices, LIMITS)
    assert [r.limit for r in verdict.refusals] == ["min_export_ratio", "empty_export"]
    assert "31 machines but the inventory has 100 records" in verdict.refusals[0].message


def test_force_and_raised_limits_are_recorded_as_overrides() -> None:
    limits, overrides = limits_with_overrides(LIMITS, max_change_ratio=1.0)
    assert limits.max_change_ratio == 1.0 and limits.max_changes == 500
    assert overrides == ["--max-change-ratio 1.0 (config: 0.2)"]
    assert not check(plan(100, {"ALC": 100}), fleet(100), limits).refused
    forced = check(plan(100, {"ALC": 100}), fleet(100), LIMITS, force=True, overrides=tuple(overrides))
    assert not forced.refused
    assert forced.to_dict()["verdict"] == "forced"
    assert forced.overrides[-1] == "--force"


def test_paths_are_strings(tmp_path: Path) -> None:
    assert check(plan(0, {}), DeviceSet(rows_by_file={str(tmp_path / "x.csv"): 1}), LIMITS).refusals == ()


# Each limit is inclusive: reaching it is allowed, crossing it is refused.


def test_exactly_max_changes_passes_one_more_is_refused() -> None:
    limits = Safety(max_changes=20, max_change_ratio=1.0, min_export_ratio=0.0)
    assert check(plan(20, {"ALC": 100}), fleet(100), limits).refusals == ()
    [refusal] = check(plan(21, {"ALC": 100}), fleet(100), limits).refusals
    assert refusal.limit == "max_changes"
    assert "--max-changes 21" in refusal.message


def test_the_ratio_guard_starts_at_ten_records() -> None:
    limits = Safety(max_changes=500, max_change_ratio=0.2, min_export_ratio=0.0)
    assert check(plan(9, {"ALC": 9}), fleet(9), limits).refusals == ()  # too few records to judge
    [refusal] = check(plan(10, {"ALC": 10}), fleet(10), limits).refusals
    assert refusal.limit == "max_change_ratio"
    assert "--max-change-ratio 1.00" in refusal.message


def test_the_suggested_ratio_lets_exactly_this_plan_through() -> None:
    [refusal] = check(plan(30, {"ALC": 100}), fleet(100), LIMITS).refusals
    assert "--max-change-ratio 0.30" in refusal.message  # the 30% planned: only more is refused


def test_an_export_share_exactly_at_the_limit_passes() -> None:
    assert check(plan(0, {"ALC": 100}), fleet(50), LIMITS).refusals == ()
    [refusal] = check(plan(0, {"ALC": 100}), fleet(49), LIMITS).refusals
    assert refusal.limit == "min_export_ratio"
    assert "--min-export-ratio 0.48" in refusal.message  # just under the 49% exported


def test_an_empty_inventory_is_not_a_truncated_export() -> None:
    assert check(plan(0, {"ALC": 0}), fleet(5), LIMITS).refusals == ()


def test_a_tiny_export_share_never_suggests_a_negative_limit() -> None:
    [refusal] = check(plan(0, {"ALC": 1000}), fleet(1), LIMITS).refusals
    assert "(0.1%, below 50%)" in refusal.message
    assert "--min-export-ratio 0.00" in refusal.message  # not -0.00

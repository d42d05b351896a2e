"""Safety guards: refuse a plan that looks like bad input before anything is written.

A truncated or wrong export can make every machine look cancelled, unowned or
gone; applying it would damage the inventory. The guards compare the plan with
the inventory and the exports, and refuse (exit 3, nothing written):

* ``max_changes``: more changes than this in one run;
* ``max_change_ratio``: a larger share of a C_Code's records would change (only
  for inventories of at least ``RATIO_MIN_RECORDS`` records, where a share means
  something);
* ``min_export_ratio``: a C_Code's export lists fewer machines than this share
  of its inventory's records (a truncated export);
* an empty account file (a header and no row).

An operator who has checked the plan overrides with ``--force`` or a raised
limit; the report records the override.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sos_inventory.config import Safety
from sos_inventory.sync.devices import EMPTY_EXPORT, DeviceSet, empty_files
from sos_inventory.sync.plan import Plan

RATIO_MIN_RECORDS = 10


@dataclass(frozen=True, slots=True)
class Refusal:
    """One limit the plan crosses."""

    limit: str
    message: str
    c_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "c_code": self.c_code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The guards' answer; ``refused`` when a limit is crossed and not forced."""

    refusals: tuple[Refusal, ...]
    forced: bool
    overrides: tuple[str, ...]
    reason: str | None = None  # why the operator overrode (--reason), for the evidence

    @property
    def refused(self) -> bool:
        return bool(self.refusals) and not self.forced

    def to_dict(self) -> dict[str, Any]:
        state = "refused" if self.refused else ("forced" if self.refusals else "ok")
        return {
            "verdict": state,
            "refusals": [r.to_dict() for r in self.refusals],
            "overrides": list(self.overrides),
            "reason": self.reason,
        }


def limits_with_overrides(
    configured: Safety,
    *,
    max_changes: int | None = None,
    max_change_ratio: float | None = None,
    min_export_ratio: float | None = None,
) -> tuple[Safety, list[str]]:
    """The limits in force, and a line per command-line override (for the report)."""
    overrides = []
    values = {
        "max_changes": max_changes,
        "max_change_ratio": max_change_ratio,
        "min_export_ratio": min_export_ratio,
    }
    chosen: dict[str, Any] = {}
    for name, value in values.items():
        current = getattr(configured, name)
        if value is None:
            chosen[name] = current
        else:
            chosen[name] = value
            overrides.append(f"--{name.replace('_', '-')} {value} (config: {current})")
    return Safety(**chosen), overrides


def _how_to_override(flag: str, value: str) -> str:
    return (
        f"Nothing was written. Review the changes (sos-inventory plan -v lists them); if they are real, rerun with "
        f"{flag} {value} or --force, with --reason TEXT (recorded)."
    )


def check(
    plan: Plan,
    device_set: DeviceSet,
    limits: Safety,
    *,
    force: bool = False,
    overrides: tuple[str, ...] = (),
    reason: str | None = None,
) -> Verdict:
    """Every limit the plan crosses."""
    refusals: list[Refusal] = []
    changes = len(plan.changes)
    if changes > limits.max_changes:
        refusals.append(
            Refusal(
                "max_changes",
                f"{changes} changes planned, above the limit of {limits.max_changes}. "
                + _how_to_override("--max-changes", str(changes)),
            )
        )
    by_c_code = Counter(c.c_code for c in plan.changes)
    machines = Counter(d.c_code for d in device_set.devices)
    machines.update({(e.path, e.line): e.c_code for e in device_set.invalid}.values())
    for c_code, records in sorted(plan.records.items()):
        ratio = by_c_code[c_code] / records if records else 0.0
        if records >= RATIO_MIN_RECORDS and ratio > limits.max_change_ratio:
            refusals.append(
                Refusal(
                    "max_change_ratio",
                    f"C_Code {c_code}: {by_c_code[c_code]} of {records} records ({ratio:.1%}) would change, "
                    f"above the limit of {limits.max_change_ratio:.0%}. "
                    + _how_to_override("--max-change-ratio", f"{min(1.0, ratio + 0.005):.2f}"),
                    c_code,
                )
            )
        share = machines[c_code] / records if records else 1.0
        if share < limits.min_export_ratio:
            refusals.append(
                Refusal(
                    "min_export_ratio",
                    f"C_Code {c_code}: the exports list {machines[c_code]} machines but the inventory has "
                    f"{records} records ({share:.1%}, below {limits.min_export_ratio:.0%}): the export looks "
                    "truncated. " + _how_to_override("--min-export-ratio", f"{max(0.0, share - 0.005):.2f}"),
                    c_code,
                )
            )
    refusals.extend(
        Refusal(
            "empty_export",
            f"{path}: {EMPTY_EXPORT}. Nothing was written. Check the Netint export; if the account "
            "really has no machine, remove its folder or rerun with --force --reason TEXT.",
        )
        for path in empty_files(device_set)
    )
    return Verdict(
        tuple(refusals),
        forced=force,
        overrides=tuple(overrides) + (("--force",) if force else ()),
        reason=reason,
    )

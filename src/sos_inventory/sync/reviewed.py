"""Plans a human reviews before they are applied: saved plans (README, Evidence) and undo plans.

Both are a list of changes whose ``before`` is what the record must still hold
for the change to be applied; :func:`sos_inventory.sync.engine.run_reviewed` re-reads
each record and applies only those, the others are ``stale`` (for an undo: the
record was changed since that run).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sos_inventory.errors import PlanFileError
from sos_inventory.model import WRITABLE_FIELDS, Change

PLAN_FORMAT = "sos-inventory-plan"
#: What fixes a --plan file that is not a plan this tool can apply.
NOT_A_PLAN = (
    "Give --plan a plan saved by `sos-inventory plan --out PLAN.json`, unedited; make and review a new one "
    "if in doubt."
)
PLAN_VERSION = 1


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """A plan as ``plan --out`` saved it."""

    created_at: datetime
    inventory_url: str
    c_codes: tuple[str, ...]
    changes: tuple[Change, ...]
    inputs: Mapping[str, str]  # path -> SHA-256 of the config and of each export read


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_document(
    changes: Sequence[Change],
    *,
    created_at: datetime,
    now: datetime,
    inventory_url: str,
    c_codes: Iterable[str],
    inputs: Iterable[Path],
) -> dict[str, Any]:
    """The JSON document of a saved plan."""
    hashes = {}
    for path in inputs:
        try:
            hashes[str(path)] = sha256_of(path)
        except OSError:
            continue
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "created_at": created_at.astimezone(UTC).strftime(stamp),
        "now": now.astimezone(UTC).strftime(stamp),
        "inventory_url": inventory_url,
        "c_codes": sorted(set(c_codes)),
        "inputs": hashes,
        "changes": [change.to_dict() for change in changes],
    }


def _fields(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{where} must be a non-empty mapping")
    out = {}
    for name, text in value.items():
        if name not in WRITABLE_FIELDS or not isinstance(text, str):
            raise ValueError(f"{where}.{name}: only text values of {', '.join(WRITABLE_FIELDS)}")
        out[name] = text
    return out


def _change(item: object, index: int) -> Change:
    where = f"changes[{index}]"
    if not isinstance(item, Mapping):
        raise ValueError(f"{where} must be a mapping")
    texts = {}
    for key in ("c_code", "hostname", "unid"):
        value = item.get(key)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where}.{key} must be a non-empty text")
        texts[key] = value
    before, after = (
        _fields(item.get("before"), f"{where}.before"),
        _fields(item.get("after"), f"{where}.after"),
    )
    if set(before) != set(after):
        raise ValueError(f"{where}: before and after must name the same fields")
    rules = item.get("rules") or {}
    return Change(
        texts["c_code"],
        texts["hostname"],
        texts["unid"],
        before,
        after,
        {str(k): str(v) for k, v in rules.items()} if isinstance(rules, Mapping) else {},
    )


def load_plan(path: Path, *, max_age: timedelta, clock: datetime) -> SavedPlan:
    """Read a saved plan; PlanFileError if it is unreadable, not a plan, or older than ``max_age``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PlanFileError(f"{path}: cannot read the plan: {exc}", action=NOT_A_PLAN) from None
    if not isinstance(data, Mapping) or data.get("format") != PLAN_FORMAT:
        raise PlanFileError(f"{path}: not a plan saved by `sos-inventory plan --out`", action=NOT_A_PLAN)
    if data.get("version") != PLAN_VERSION:
        raise PlanFileError(
            f"{path}: plan version {data.get('version')!r}, this tool reads {PLAN_VERSION}", action=NOT_A_PLAN
        )
    try:
        created = datetime.fromisoformat(str(data["created_at"]).replace("Z", "+00:00"))
        if created.tzinfo is None:
            raise ValueError("created_at has no time zone")
        raw = data.get("changes")
        if not isinstance(raw, list):
            raise ValueError("changes must be a list")
        changes = tuple(_change(item, i) for i, item in enumerate(raw))
        url = str(data["inventory_url"])
    except (KeyError, ValueError) as exc:
        raise PlanFileError(f"{path}: not a valid plan: {exc}", action=NOT_A_PLAN) from None
    age = clock - created
    if age > max_age:
        raise PlanFileError(
            f"{path}: the plan was made {created:%Y-%m-%dT%H:%M:%SZ}, {_hours(age)} ago, older than "
            f"--max-plan-age {_hours(max_age)}: the inventory may have moved on",
            action="Make and review a new plan (`sos-inventory plan --out PLAN.json`) and apply it within "
            "--max-plan-age; if this plan is still right, raise --max-plan-age.",
        )
    inputs = data.get("inputs") if isinstance(data.get("inputs"), Mapping) else {}
    return SavedPlan(
        created_at=created,
        inventory_url=url,
        c_codes=tuple(sorted({c.c_code for c in changes})),
        changes=changes,
        inputs={str(k): str(v) for k, v in (inputs or {}).items()},
    )


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f}h"


class Written(Protocol):
    """One field a run wrote (a ledger row): what undo needs of it."""

    @property
    def c_code(self) -> str: ...
    @property
    def hostname(self) -> str: ...
    @property
    def unid(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def before(self) -> str | None: ...
    @property
    def after(self) -> str: ...
    @property
    def outcome(self) -> str: ...


def undo_changes(run_id: str, written: Iterable[Written]) -> list[Change]:
    """The changes that put back the ``before`` values of a run's writes, one per record.

    Applied writes and those never settled (the run was killed: the record shows
    whether they landed) are undone; failed ones wrote nothing.
    """
    befores: dict[tuple[str, str, str], dict[str, str]] = {}
    afters: dict[tuple[str, str, str], dict[str, str]] = {}
    for row in written:
        if row.outcome not in ("applied", "pending") or row.before is None:
            continue
        key = (row.c_code, row.hostname, row.unid)
        # The first write of a field holds the value before the run; a later one (second chance) the same.
        befores.setdefault(key, {}).setdefault(row.field, row.after)
        afters.setdefault(key, {}).setdefault(row.field, row.before)
    return [
        Change(
            c_code,
            hostname,
            unid,
            befores[(c_code, hostname, unid)],
            afters[(c_code, hostname, unid)],
            dict.fromkeys(afters[(c_code, hostname, unid)], f"undo {run_id}"),
        )
        for c_code, hostname, unid in sorted(befores)
    ]

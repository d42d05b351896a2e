"""Plans a human reviews before they are applied: saved plans (README, Evidence) and undo plans.

Both are a list of changes whose ``before`` is what the record must still hold
for the change to be applied; :func:`sos_inventory.sync.engine.run_reviewed` re-reads
each record and applies only those, the others are ``stale`` (for an undo: the
record was changed since that run).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sos_inventory.config import Config
from sos_inventory.config.files import PLAN, read_file
from sos_inventory.errors import ConfigError, PlanFileError, UnreadableFile
from sos_inventory.model import WRITABLE_FIELDS, Change, Status
from sos_inventory.redact import untrusted

PLAN_FORMAT = "sos-inventory-plan"
#: What fixes a --plan file that is not a plan this tool can apply.
NOT_A_PLAN = (
    "Give --plan a plan saved by `sos-inventory plan --out PLAN.json`, unedited; make and review a new one "
    "if in doubt."
)
#: 2: the plan carries the digest of its content (a plan of version 1 has none: it cannot be checked).
PLAN_VERSION = 2
#: How far in the future a plan's creation time may lie: the clocks of two agents differ a little.
CLOCK_SKEW = timedelta(minutes=5)
#: Changes a message lists before "and N more".
SHOWN = 10


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """A plan as ``plan --out`` saved it."""

    created_at: datetime
    inventory_url: str
    c_codes: tuple[str, ...]
    changes: tuple[Change, ...]
    inputs: Mapping[str, str]  # path -> SHA-256 of the config and of each export read
    sha256: str = ""  # of the plan file as read: the report and the ledger name it


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_digest(document: Mapping[str, Any]) -> str:
    """The SHA-256 of a plan's canonical content: every key but ``digest``, keys sorted, no spaces.

    Whitespace and key order may change (an editor's reformatting); any value may not."""
    body = {key: value for key, value in document.items() if key != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_document(
    changes: Sequence[Change],
    *,
    created_at: datetime,
    now: datetime,
    inventory_url: str,
    c_codes: Iterable[str],
    inputs: Iterable[Path],
) -> dict[str, Any]:
    """The JSON document of a saved plan, with the digest of its content."""
    hashes = {}
    for path in inputs:
        try:
            hashes[str(path)] = sha256_of(path)
        except OSError:
            continue
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    document: dict[str, Any] = {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "created_at": created_at.astimezone(UTC).strftime(stamp),
        "now": now.astimezone(UTC).strftime(stamp),
        "inventory_url": inventory_url,
        "c_codes": sorted(set(c_codes)),
        "inputs": hashes,
        "changes": [change.to_dict() for change in changes],
    }
    document["digest"] = plan_digest(document)
    return document


def _fields(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{where} must be a non-empty mapping")
    out = {}
    for name, text in value.items():
        if name not in WRITABLE_FIELDS or not isinstance(text, str):
            raise ValueError(
                f"{where}.{untrusted(name, 40)}: only text values of {', '.join(WRITABLE_FIELDS)}"
            )
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


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: a repeated key would show the reviewer one value and
    give the job another."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {untrusted(key, 40)!r} appears twice in one object")
            seen.add(key)
    return out


def _parse(path: Path, raw: bytes) -> Mapping[str, Any]:
    """The plan document of ``raw``, its digest checked; PlanFileError when it is not one, or was edited."""
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
        if not isinstance(data, Mapping) or data.get("format") != PLAN_FORMAT:
            raise PlanFileError(f"{path}: not a plan saved by `sos-inventory plan --out`", action=NOT_A_PLAN)
        if data.get("version") != PLAN_VERSION:
            raise PlanFileError(
                f"{path}: plan version {untrusted(data.get('version'), 20)}, this tool reads {PLAN_VERSION}",
                action=NOT_A_PLAN,
            )
        digest = plan_digest(data)
    except RecursionError:  # the decoder, or the digest, on nesting thousands deep
        raise PlanFileError(f"{path}: not a valid plan: nested too deeply", action=NOT_A_PLAN) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise PlanFileError(
            f"{path}: cannot read the plan: {untrusted(exc, 200)}", action=NOT_A_PLAN
        ) from None
    if data.get("digest") != digest:
        raise PlanFileError(
            f"{path}: the plan is not as `plan --out` saved it: its content does not match its digest "
            "(edited after it was saved?)",
            action="Apply a plan only as it was saved and reviewed: make and review a new one "
            "(`sos-inventory plan --out PLAN.json`); never edit one by hand.",
        )
    return data


def _created(data: Mapping[str, Any]) -> datetime:
    """The plan's creation time, in UTC (ValueError: not an ISO 8601 time with a zone, or out of range)."""
    text = data.get("created_at")
    if not isinstance(text, str):
        raise ValueError("created_at must be an ISO 8601 time")
    created = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if created.tzinfo is None:
        raise ValueError("created_at has no time zone")
    try:
        return created.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"created_at {untrusted(text, 40)} is out of range") from None


def _check_age(path: Path, created: datetime, *, max_age: timedelta, clock: datetime) -> None:
    if created - clock > CLOCK_SKEW:
        raise PlanFileError(
            f"{path}: the plan says it was made {created:%Y-%m-%dT%H:%M:%SZ}, in the future (this clock: "
            f"{clock.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}): its age cannot be told",
            action="Make and review a new plan on an agent whose clock is right (`sos-inventory plan --out "
            "PLAN.json`), and check the clocks of the agents.",
        )
    age = clock - created
    if age > max_age:
        raise PlanFileError(
            f"{path}: the plan was made {created:%Y-%m-%dT%H:%M:%SZ}, {_hours(age)} ago, older than "
            f"--max-plan-age {_hours(max_age)}: the inventory may have moved on",
            action="Make and review a new plan (`sos-inventory plan --out PLAN.json`) and apply it within "
            "--max-plan-age; if this plan is still right, raise --max-plan-age.",
        )


def _listed(items: Sequence[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def check_changes(path: Path, changes: Sequence[Change], values: Mapping[str, Collection[str]]) -> None:
    """One change per record field, and every value to write one the config can give
    (``values``: field -> the values allowed); PlanFileError naming the others."""
    seen: dict[tuple[str, str, str], int] = {}
    repeated, unknown = [], []
    for index, change in enumerate(changes):
        for name, value in sorted(change.after.items()):
            key = (change.c_code, change.unid, name)
            if key in seen:
                repeated.append(f"changes[{seen[key]}] and [{index}]: {untrusted(change.unid, 40)} {name}")
            seen.setdefault(key, index)
            if value not in values.get(name, ()):
                unknown.append(f"changes[{index}].after.{name} {untrusted(value, 60)!r}")
    if repeated:
        raise PlanFileError(
            f"{path}: {len(repeated)} record field(s) changed more than once: {_listed(repeated)}",
            action=NOT_A_PLAN,
        )
    if unknown:
        raise PlanFileError(
            f"{path}: {len(unknown)} value(s) the config cannot give (its ownership rules and the Status "
            f"values): {_listed(unknown)}",
            action=NOT_A_PLAN,
        )


def config_values(config: Config) -> dict[str, frozenset[str]]:
    """The values a plan of this config can write, by field."""
    return {
        "application": frozenset(rule.value for rule in config.application_rules),
        "environment": frozenset(rule.value for rule in config.environment_rules),
        "status": frozenset(Status),
    }


def load_plan(
    path: Path,
    *,
    max_age: timedelta,
    clock: datetime,
    values: Mapping[str, Collection[str]],
    raw: bytes | None = None,
) -> SavedPlan:
    """Read a saved plan; PlanFileError if it is unreadable, not a plan, edited since it was saved,
    made in the future or longer than ``max_age`` ago, or holds what its config could not give
    (``values``) or two changes of one record field."""
    if raw is None:
        try:  # a regular file of at most PLAN.cap bytes (config/files.py): not a FIFO, not /dev/zero
            raw = read_file(path, PLAN)
        except UnreadableFile as exc:
            raise PlanFileError(str(exc), action=NOT_A_PLAN) from None
    data = _parse(path, raw)
    try:
        created = _created(data)
        changes_raw = data.get("changes")
        if not isinstance(changes_raw, list):
            raise ValueError("changes must be a list")
        changes = tuple(_change(item, i) for i, item in enumerate(changes_raw))
        url = data.get("inventory_url")
        if not isinstance(url, str):
            raise ValueError("inventory_url must be a text")
    except ValueError as exc:
        raise PlanFileError(f"{path}: not a valid plan: {exc}", action=NOT_A_PLAN) from None
    _check_age(path, created, max_age=max_age, clock=clock)
    check_changes(path, changes, values)
    inputs = data.get("inputs") if isinstance(data.get("inputs"), Mapping) else {}
    return SavedPlan(
        created_at=created,
        inventory_url=url,
        c_codes=tuple(sorted({c.c_code for c in changes})),
        changes=changes,
        inputs={str(k): str(v) for k, v in (inputs or {}).items()},
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f}h"


def same_inventory(what: str, made_on: str | None, target: str, *, otherwise: str) -> None:
    """ConfigError unless ``what`` (a plan, a run) was made on ``target``, the inventory of this run;
    ``otherwise``: the sentence that ends the action (what to do instead)."""
    if made_on == target:
        return
    if not made_on:
        raise ConfigError(
            f"{what} names no inventory: whose records it holds cannot be told, so it is not applied to "
            f"{target}",
            action=f"Nothing was written. {otherwise}",
            headline="another inventory",
        )
    made = untrusted(made_on, 200)
    raise ConfigError(
        f"{what} was made on the inventory {made}, and this run points at {target}",
        action=f"Nothing was written. Run it against the inventory it was made on (--inventory-url {made}). "
        f"{otherwise}",
        headline="another inventory",
    )


def in_scope(
    what: str, changes: Sequence[Change], *, mapped: Collection[str], selected: Collection[str] | None
) -> tuple[list[Change], str | None]:
    """The changes of ``what`` this run may make: ConfigError when one is to a C_Code no account of
    the config maps (refused whole); with ``selected`` (--c-code), only those C_Codes', and a
    warning that says how many were left out."""
    unmapped = sorted({c.c_code for c in changes} - set(mapped))
    if unmapped:
        shown = ", ".join(untrusted(code, 40) for code in unmapped[:SHOWN])
        raise ConfigError(
            f"{what} holds changes to C_Code(s) {shown} that no account of the config maps "
            f"(the config's: {', '.join(sorted(mapped)) or 'none'})",
            action="Nothing was written. Apply it with the config it was made with, or make and review a new "
            "plan with this one.",
            headline="C_Codes outside the config",
        )
    if selected is None:
        return list(changes), None
    kept = [c for c in changes if c.c_code in selected]
    left = sorted({c.c_code for c in changes} - set(selected))
    if not left:
        return kept, None
    return kept, (
        f"--c-code {', '.join(sorted(selected))}: {len(changes) - len(kept)} change(s) of {what} to "
        f"C_Code(s) {', '.join(left)} left out"
    )


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

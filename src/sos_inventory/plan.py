"""Desired state vs the inventory: a Plan of changes and problems (SPEC 4.2).

A Plan is a value: it can be printed, serialised and checked before anything is
written, and :mod:`sos_inventory.apply` runs it. Changes and problems are
sorted, so the same inputs always give the same output.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sos_inventory.config import Config, Rule
from sos_inventory.devices import DeviceSet
from sos_inventory.errors import ConfigError, SosError, SosHttpError
from sos_inventory.model import WRITABLE_FIELDS, Device, ServerRecord
from sos_inventory.ownership import Desired, desired_metadata
from sos_inventory.runbook import UNEXPECTED_SERVERS, Category, category_of, default_knowledge, message_of

#: Device attribute and record attribute compared, in order, to tell duplicates apart.
_DISAMBIGUATORS: tuple[tuple[str, str, str], ...] = (
    ("device_id", "device_id", "Device ID"),
    ("private_ip", "ip_private", "private IP"),
    ("public_ip", "ip_public", "public IP"),
)


@dataclass(frozen=True, slots=True)
class KnownNames:
    """The applications and environments an inventory (one C_Code) knows."""

    applications: frozenset[str]
    environments: frozenset[str]


@dataclass(frozen=True, slots=True)
class Change:
    """One record to update: only the fields that differ."""

    c_code: str
    hostname: str
    unid: str
    before: Mapping[str, str]
    after: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "c_code": self.c_code,
            "hostname": self.hostname,
            "unid": self.unid,
            "before": dict(self.before),
            "after": dict(self.after),
        }


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the run could not do or could not decide, in the runbook's terms."""

    category: Category
    message: str
    c_code: str | None = None
    hostname: str | None = None
    source: str | None = None  # file:line for input problems
    facts: Mapping[str, str] = field(default_factory=dict)  # for actions and tickets: host, status, time...

    def all_facts(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Every fact known about this problem, for the runbook's templates."""
        known = {"evidence": self.message, **self.facts, **(extra or {})}
        if self.c_code:
            known["c_code"] = self.c_code
        if self.hostname:
            known["hostname"] = self.hostname
        return known

    @property
    def action(self) -> str:
        return " ".join(default_knowledge().actions(self.category, self.all_facts()))

    @classmethod
    def from_error(cls, error: SosError, *, time: str | None = None) -> Problem:
        """The problem an inventory error makes, with the runbook's message, category and facts."""
        facts: dict[str, str] = {"operation": error.operation}
        if error.url:
            facts["host"] = urlsplit(error.url).hostname or ""
        if isinstance(error, SosHttpError):
            facts["status"] = str(error.status)
        if error.unid:
            facts["unid"] = error.unid
        facts["time"] = time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(
            category_of(error), message_of(error), c_code=error.c_code, hostname=error.hostname, facts=facts
        )

    def to_dict(self, extra_facts: Mapping[str, str] | None = None) -> dict[str, Any]:
        knowledge = default_knowledge()
        facts = self.all_facts(extra_facts)
        out: dict[str, Any] = {
            "category": self.category.value,
            "c_code": self.c_code,
            "hostname": self.hostname,
            "message": self.message,
            "action": " ".join(knowledge.actions(self.category, facts)),
            "actions": knowledge.actions(self.category, facts),
            "transient": knowledge.categories[self.category].transient,
            "ticket": knowledge.ticket(self.category, facts),
        }
        if self.source:
            out["source"] = self.source
        if self.facts:
            out["facts"] = dict(self.facts)
        return out


@dataclass(frozen=True, slots=True)
class Notice:
    """A fact worth listing that is not a failure (not in inventory, orphan, unowned)."""

    c_code: str
    hostname: str
    detail: str
    unid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"c_code": self.c_code, "hostname": self.hostname, "detail": self.detail}
        if self.unid:
            out["unid"] = self.unid
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a run would do, and everything it found wrong."""

    changes: tuple[Change, ...]
    problems: tuple[Problem, ...]
    in_step: int
    not_in_inventory: tuple[Notice, ...]
    orphans: tuple[Notice, ...]
    unowned: tuple[Notice, ...]
    rows: int
    excluded: int
    invalid: int
    ambiguous: int
    records: Mapping[str, int] = field(default_factory=dict)  # inventory size per C_Code

    def counts(self) -> dict[str, int]:
        """The plan's counts, as SPEC 7 names them (applied/failed come from apply)."""
        return {
            "devices": self.rows,
            "excluded": self.excluded,
            "invalid": self.invalid,
            "in_step": self.in_step,
            "changes": len(self.changes),
            "not_in_inventory": len(self.not_in_inventory),
            "ambiguous": self.ambiguous,
            "unowned": len(self.unowned),
            "orphans": len(self.orphans),
        }


def input_problems(device_set: DeviceSet) -> list[Problem]:
    """Problems for invalid rows and for files whose account has no C_Code."""
    problems = [
        Problem(
            Category.INPUT_ERROR,
            f"Invalid row in {error.path} line {error.line}: column {error.column!r} "
            f"value {error.value!r}: {error.reason}; this machine is left untouched",
            source=f"{error.path}:{error.line}",
        )
        for error in device_set.invalid
    ]
    problems.extend(
        Problem(
            Category.INPUT_ERROR,
            f"{skipped.path}: account {skipped.account} has no C_Code in the config's 'accounts'; "
            f"its {skipped.rows} rows were not processed",
            source=skipped.path,
        )
        for skipped in device_set.skipped_files
    )
    return problems


def pick_record(device: Device, records: Sequence[ServerRecord]) -> ServerRecord | None:
    """The record of this device among records sharing its hostname, or None if ambiguous."""
    candidates = list(records)
    for device_attr, record_attr, _ in _DISAMBIGUATORS:
        if len(candidates) == 1:
            break
        wanted = getattr(device, device_attr)
        if not wanted:
            continue
        same = [r for r in candidates if getattr(r, record_attr) == wanted]
        if same:
            candidates = same
    return candidates[0] if len(candidates) == 1 else None


def _ambiguity(device: Device, records: Sequence[ServerRecord], shared: bool) -> Problem:
    unids = ", ".join(r.unid for r in records)
    if shared:
        reason = f"several rows of the exports claim the same record (unid {unids})"
    else:
        keys = ", ".join(
            f"{label} {getattr(device, attr) or '(empty)'}" for attr, _, label in _DISAMBIGUATORS
        )
        reason = f"{len(records)} records share it (unids {unids}) and none is singled out by {keys}"
    return Problem(
        Category.DUPLICATE_HOSTNAME,
        f"{UNEXPECTED_SERVERS}: hostname {device.hostname} in C_Code {device.c_code}: {reason}; nothing written for it",
        c_code=device.c_code,
        hostname=device.hostname,
        source=f"{device.source}:{device.line}",
    )


class _Planner:
    def __init__(self, config: Config, now: datetime, known: Mapping[str, KnownNames]) -> None:
        self.config = config
        self.now = now
        self.known = known
        self.changes: list[Change] = []
        self.problems: list[Problem] = []
        self.not_in_inventory: list[Notice] = []
        self.unowned: list[Notice] = []
        self.unknown_values: set[tuple[str, str, str, str]] = set()
        self.checked: set[tuple[str, str]] = set()  # (rule, C_Code) pairs whose value was checked
        self.accounted: set[str] = set()  # unids matched to a machine or part of an ambiguous group
        self.in_step = 0
        self.ambiguous = 0

    def check_known(self, rule: Rule, kind: str, c_code: str) -> None:
        """Remember a rule value the C_Code's inventory does not know (once per rule and C_Code)."""
        key = (rule.where, c_code)
        if key in self.checked:
            return
        self.checked.add(key)
        known = self.known.get(c_code)
        names = None if known is None else known.applications if kind == "application" else known.environments
        if names is not None and rule.value not in names:
            self.unknown_values.add((rule.where, kind, rule.value, c_code))

    def desired(self, device: Device) -> Desired:
        desired = desired_metadata(device, self.config, self.now)
        app_rule, env_rule = desired.application_rule, desired.environment_rule
        if app_rule is None or env_rule is None:
            missing = " or ".join(
                n for n, r in (("application", app_rule), ("environment", env_rule)) if r is None
            )
            self.unowned.append(
                Notice(device.c_code, device.hostname, f"no {missing} rule matches; kept as is")
            )
        if app_rule is not None:
            self.check_known(app_rule, "application", device.c_code)
        if env_rule is not None:
            self.check_known(env_rule, "environment", device.c_code)
        return desired

    def compare(self, device: Device, record: ServerRecord) -> None:
        desired = self.desired(device)
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        for name in WRITABLE_FIELDS:
            value = getattr(desired, name)
            if value is not None and record.field(name) != value:
                before[name] = record.field(name)
                after[name] = str(value)
        if after:
            self.changes.append(Change(device.c_code, device.hostname, record.unid, before, after))
        else:
            self.in_step += 1

    def group(self, devices: Sequence[Device], records: Sequence[ServerRecord]) -> None:
        """Plan one hostname of one C_Code; note the unids it accounts for in ``accounted``."""
        if not records:
            for device in devices:
                self.desired(device)
                self.not_in_inventory.append(
                    Notice(
                        device.c_code,
                        device.hostname,
                        f"no record in the inventory ({device.source}:{device.line})",
                    )
                )
            return
        if len(devices) == 1 and len(records) == 1:  # the common case, by far
            self.compare(devices[0], records[0])
            self.accounted.add(records[0].unid)
            return
        picks = [(device, pick_record(device, records)) for device in devices]
        claimed: dict[str, int] = defaultdict(int)
        for _, record in picks:
            if record is not None:
                claimed[record.unid] += 1
        for device, record in picks:
            if record is None or claimed[record.unid] > 1:
                self.ambiguous += 1
                self.desired(device)
                self.problems.append(_ambiguity(device, records, shared=record is not None))
            else:
                self.compare(device, record)
        if any(record is None for _, record in picks):
            self.accounted.update(r.unid for r in records)  # the whole group is reported as ambiguous
        else:
            self.accounted.update(claimed)

    def check_values(self) -> None:
        if not self.unknown_values:
            return
        problems = []
        for where, kind, value, c_code in sorted(self.unknown_values):
            names = (
                self.known[c_code].applications if kind == "application" else self.known[c_code].environments
            )
            problems.append(
                f"{where}: {kind} {value!r} is not known to the {c_code} inventory "
                f"(known: {', '.join(sorted(names)) or 'none'})"
            )
        raise ConfigError(problems)


def build_plan(
    device_set: DeviceSet,
    inventories: Mapping[str, Sequence[ServerRecord]],
    config: Config,
    now: datetime,
    known: Mapping[str, KnownNames] | None = None,
    *,
    totals: Mapping[str, int] | None = None,
    partial: frozenset[str] = frozenset(),
) -> Plan:
    """Compare every device with its record and plan the updates.

    ``inventories`` holds the records of each C_Code in play: all of them, or,
    for the C_Codes in ``partial``, only those of the devices' hostnames (then
    no orphan can be told). ``totals`` gives each inventory's size when the
    records are not all of it. With ``known``, a rule value that a C_Code's
    inventory does not know raises ConfigError before any write.
    """
    planner = _Planner(config, now, known or {})
    # Grouped per C_Code, then per hostname: C_Codes are never mixed.
    devices_by_host: dict[str, dict[str, list[Device]]] = defaultdict(dict)
    for device in device_set.devices:
        devices_by_host[device.c_code].setdefault(device.hostname, []).append(device)
    for c_code, hosts in devices_by_host.items():
        records_by_host: dict[str, list[ServerRecord]] = {}
        for record in inventories.get(c_code, ()):
            records_by_host.setdefault(record.hostname.lower(), []).append(record)
        for hostname, devices in hosts.items():
            planner.group(devices, records_by_host.get(hostname, ()))
    planner.check_values()
    complete = {c_code: records for c_code, records in inventories.items() if c_code not in partial}
    orphans = _orphans(complete, planner.accounted, _untouchable_hosts(device_set))
    return Plan(
        changes=tuple(sorted(planner.changes, key=lambda c: (c.c_code, c.hostname, c.unid))),
        problems=tuple(
            sorted(
                [*input_problems(device_set), *planner.problems],
                key=lambda p: (p.category, p.c_code or "", p.hostname or "", p.source or ""),
            )
        ),
        in_step=planner.in_step,
        not_in_inventory=tuple(sorted(planner.not_in_inventory, key=lambda n: (n.c_code, n.hostname))),
        orphans=orphans,
        unowned=tuple(sorted(planner.unowned, key=lambda n: (n.c_code, n.hostname))),
        rows=device_set.rows,
        excluded=len(device_set.excluded),
        invalid=device_set.invalid_rows,
        ambiguous=planner.ambiguous,
        records={c_code: (totals or {}).get(c_code, len(records)) for c_code, records in inventories.items()},
    )


def _untouchable_hosts(device_set: DeviceSet) -> set[tuple[str, str]]:
    """Hostnames of excluded and invalid rows: their records are not orphans, just not ours to touch."""
    hosts = {(d.c_code, d.hostname) for d in device_set.excluded}
    hosts.update((e.c_code, e.hostname) for e in device_set.invalid if e.hostname)
    return hosts


def _orphans(
    inventories: Mapping[str, Iterable[ServerRecord]],
    accounted: set[str],
    untouchable: set[tuple[str, str]],
) -> tuple[Notice, ...]:
    orphans = [
        Notice(c_code, record.hostname, "no machine in the exports has this record", unid=record.unid)
        for c_code, records in inventories.items()
        for record in records
        if record.unid not in accounted and (c_code, record.hostname.lower()) not in untouchable
    ]
    return tuple(sorted(orphans, key=lambda n: (n.c_code, n.hostname, n.unid or "")))

"""Desired state vs the inventory: a Plan of changes and problems (docs/sos-api.md).

A Plan is a value: it can be printed, serialised and checked before anything is
written, and :mod:`sos_inventory.sync.apply` runs it. Changes and problems are
sorted, so the same inputs always give the same output.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import filterfalse, groupby
from operator import itemgetter
from typing import Any, TypeVar

from sos_inventory.config import Config, Rule
from sos_inventory.errors import ConfigError
from sos_inventory.model import Category, Change, Device, KnownNames, Notice, Problem, ServerRecord
from sos_inventory.runbook import UNEXPECTED_SERVERS
from sos_inventory.sync.devices import DeviceSet
from sos_inventory.sync.ownership import Desired, Owners

T = TypeVar("T")

#: Device attribute and record attribute compared, in order, to tell duplicates apart.
_DISAMBIGUATORS: tuple[tuple[str, str, str], ...] = (
    ("device_id", "device_id", "Device ID"),
    ("private_ip", "ip_private", "private IP"),
    ("public_ip", "ip_public", "public IP"),
)


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a run would do, and everything it found wrong."""

    # A plan made without reading the exports (a reviewed plan, an undo) has changes and
    # problems only: the counts of the exports default to nothing.
    changes: tuple[Change, ...]
    problems: tuple[Problem, ...] = ()
    in_step: int = 0
    not_in_inventory: tuple[Notice, ...] = ()
    orphans: tuple[Notice, ...] = ()
    unowned: tuple[Notice, ...] = ()
    rows: int = 0
    excluded: int = 0
    invalid: int = 0
    ambiguous: tuple[Notice, ...] = ()  # one per row of the exports that could not be matched safely
    records: Mapping[str, int] = field(default_factory=dict)  # inventory size per C_Code
    machines: Mapping[str, int] = field(default_factory=dict)  # the exports' machines per C_Code
    # Status -> records read, per C_Code, before any change (the records of the run's
    # hostnames only, for a C_Code read host by host).
    statuses: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The plan's counts, as the README's Reports section names them (applied/failed come from apply)."""
        return {
            "devices": self.rows,
            "excluded": self.excluded,
            "invalid": self.invalid,
            "in_step": self.in_step,
            "changes": len(self.changes),
            "not_in_inventory": len(self.not_in_inventory),
            "ambiguous": len(self.ambiguous),
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


DUPLICATE_IN_EXPORTS = "Duplicate hostname in the exports"


def duplicate_rows(device_set: DeviceSet) -> list[Problem]:
    """One problem per hostname that several rows of one C_Code's exports hold (one file or
    several accounts): two machines named alike, or one machine exported twice."""
    rows: dict[tuple[str, str], list[Device]] = defaultdict(list)
    for device in device_set.devices:
        rows[device.c_code, device.hostname].append(device)
    return [
        Problem(
            Category.DUPLICATE_HOSTNAME,
            f"{DUPLICATE_IN_EXPORTS}: {hostname} is in the C_Code {c_code} exports {len(found)} times "
            f"({', '.join(f'{d.source}:{d.line}' for d in found)}); the run writes for it only if "
            "Device ID or IPs tell its inventory records apart",
            c_code=c_code,
            hostname=hostname,
            source=f"{found[0].source}:{found[0].line}",
        )
        for (c_code, hostname), found in sorted(rows.items())
        if len(found) > 1
    ]


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


def _shared(devices: Sequence[Device], records: Sequence[ServerRecord]) -> Problem:
    """Several rows of the exports claim the same record: one problem naming every row."""
    first = devices[0]
    rows = ", ".join(f"{d.source}:{d.line}" for d in devices)
    return Problem(
        Category.DUPLICATE_HOSTNAME,
        f"{DUPLICATE_IN_EXPORTS}: hostname {first.hostname} in C_Code {first.c_code}: {len(devices)} rows "
        f"of the exports ({rows}) claim the same record (unids {', '.join(r.unid for r in records)}); "
        "nothing written for it",
        c_code=first.c_code,
        hostname=first.hostname,
        source=f"{first.source}:{first.line}",
    )


def _ambiguity(device: Device, records: Sequence[ServerRecord]) -> Problem:
    unids = ", ".join(r.unid for r in records)
    keys = ", ".join(f"{label} {getattr(device, attr) or '(empty)'}" for attr, _, label in _DISAMBIGUATORS)
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
        self.owners = Owners(config, now)
        self.known = known
        self.changes: list[Change] = []
        self.problems: list[Problem] = []
        self.not_in_inventory: list[Notice] = []
        self.unowned: list[Notice] = []
        self.orphans: list[Notice] = []
        # The rules used by the machines of the C_Code being planned, and the values they gave
        # that an inventory does not know (an error before any write).
        self.applications_used: set[Rule | None] = set()
        self.environments_used: set[Rule | None] = set()
        self.unknown_values: set[tuple[str, str, str, str]] = set()
        self.in_step = 0
        self.ambiguous: list[Notice] = []

    def desired(self, device: Device) -> Desired:
        desired = self.owners.desired(device)
        app_rule, env_rule = desired.application_rule, desired.environment_rule
        self.applications_used.add(app_rule)
        self.environments_used.add(env_rule)
        if app_rule is None or env_rule is None:
            missing = " or ".join(
                n for n, r in (("application", app_rule), ("environment", env_rule)) if r is None
            )
            self.unowned.append(
                Notice(device.c_code, device.hostname, f"no {missing} rule matches; kept as is")
            )
        return desired

    def compare(self, device: Device, record: ServerRecord) -> None:
        """Plan one machine against its record: a Change with only the fields that differ, or in step."""
        application, environment, status, app_rule, env_rule = self.desired(device)
        after: dict[str, str] = {}
        rules: dict[str, str] = {}
        if application is not None and record.application != application:
            after["application"] = application
            rules["application"] = app_rule.where if app_rule else "ownership.application"
        if environment is not None and record.environment != environment:
            after["environment"] = environment
            rules["environment"] = env_rule.where if env_rule else "ownership.environment"
        if status is not None and record.status != status:
            after["status"] = status.value
            rules["status"] = "lifecycle"
        if after:
            before = {name: record.field(name) for name in after}
            self.changes.append(Change(device.c_code, device.hostname, record.unid, before, after, rules))
        else:
            self.in_step += 1

    def missing(self, device: Device) -> None:
        """A machine with no record in its C_Code's inventory."""
        self.desired(device)
        self.not_in_inventory.append(
            Notice(
                device.c_code, device.hostname, f"no record in the inventory ({device.source}:{device.line})"
            )
        )

    def group(self, devices: Sequence[Device], records: Sequence[ServerRecord]) -> set[str]:
        """Plan one hostname of one C_Code held by several rows or records; the unids it accounts for."""
        if not records:
            for device in devices:
                self.missing(device)
            return set()
        picks = [(device, pick_record(device, records)) for device in devices]
        claimed: dict[str, int] = defaultdict(int)
        for _, record in picks:
            if record is not None:
                claimed[record.unid] += 1
        sharing: list[Device] = []  # rows that claim one record between them: one problem for all
        for device, record in picks:
            if record is None or claimed[record.unid] > 1:
                self.ambiguous.append(
                    Notice(device.c_code, device.hostname, f"{device.source}:{device.line}")
                )
                self.desired(device)
                if record is None:
                    self.problems.append(_ambiguity(device, records))
                else:
                    sharing.append(device)
            else:
                self.compare(device, record)
        if sharing:
            self.problems.append(_shared(sharing, records))
        if any(record is None for _, record in picks):
            return {r.unid for r in records}  # the whole group is reported as ambiguous
        return set(claimed)

    def plan_c_code(
        self,
        c_code: str,
        devices: Sequence[Device],
        records: Sequence[ServerRecord],
        untouchable: set[tuple[str, str]],
        *,
        complete: bool,
    ) -> None:
        """Plan the machines of one C_Code against its records (all of them when ``complete``)."""
        # The common case, one row and one record per hostname, goes through two dicts built
        # at C speed; hostnames held by several rows or records go through group().
        device_of = dict(zip(map(_DEVICE_HOSTNAME, devices), devices, strict=True))
        record_of = dict(zip(map(_RECORD_HOSTNAME, records), records, strict=True))
        several = _repeated(devices, len(device_of), _DEVICE_HOSTNAME)
        several |= _repeated(records, len(record_of), _RECORD_HOSTNAME)
        compare, missing, find = self.compare, self.missing, record_of.get
        for hostname, device in device_of.items():
            if several and hostname in several:
                continue
            record = find(hostname)
            if record is None:
                missing(device)
            else:
                compare(device, record)
        orphans: list[ServerRecord] = []
        if several:
            device_groups = _groups(devices, several, _DEVICE_HOSTNAME)
            record_groups = _groups(records, several, _RECORD_HOSTNAME)
            for hostname in sorted(several):
                group_records = record_groups.get(hostname, [])
                if hostname in device_groups:
                    accounted = self.group(device_groups[hostname], group_records)
                    orphans.extend(r for r in group_records if r.unid not in accounted)
                else:
                    orphans.extend(group_records)
        # Records no machine has: filterfalse walks the dict at C speed (a set difference of the
        # key views would first copy a million keys into a new set).
        orphans.extend(
            record_of[h] for h in filterfalse(device_of.__contains__, record_of) if h not in several
        )
        self.check_known(c_code)
        if complete:  # (a C_Code read host by host has no orphans to tell: its other records were not read)
            self.orphans.extend(
                Notice(c_code, r.hostname, "no machine in the exports has this record", unid=r.unid)
                for r in orphans
                if (c_code, r.hostname) not in untouchable
            )

    def check_known(self, c_code: str) -> None:
        """Remember the rule values the C_Code's inventory does not know, among the rules used."""
        known = self.known.get(c_code)
        for kind, used in (("application", self.applications_used), ("environment", self.environments_used)):
            if known is not None:
                names = known.of(kind)
                self.unknown_values.update(
                    (rule.where, kind, rule.value, c_code)
                    for rule in used
                    if rule is not None and rule.value not in names
                )
            used.clear()

    def check_values(self) -> None:
        if not self.unknown_values:
            return
        problems = []
        for where, kind, value, c_code in sorted(self.unknown_values):
            names = self.known[c_code].of(kind)
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
    untouchable = _untouchable_hosts(device_set)
    # C_Codes are never mixed: each is planned against its own inventory. The rows of a file
    # share a C_Code, so grouping takes a few runs of rows, not a step per machine.
    devices_of: dict[str, list[Device]] = defaultdict(list)
    for c_code, run in groupby(device_set.devices, _DEVICE_C_CODE):
        devices_of[c_code].extend(run)
    for c_code in sorted(devices_of.keys() | inventories.keys()):
        devices, records = devices_of.get(c_code, ()), inventories.get(c_code, ())
        planner.plan_c_code(c_code, devices, records, untouchable, complete=c_code not in partial)
    planner.check_values()
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
        orphans=tuple(sorted(planner.orphans, key=lambda n: (n.c_code, n.hostname, n.unid or ""))),
        unowned=tuple(sorted(planner.unowned, key=lambda n: (n.c_code, n.hostname))),
        rows=device_set.rows,
        excluded=len(device_set.excluded),
        invalid=device_set.invalid_rows,
        ambiguous=tuple(sorted(planner.ambiguous, key=lambda n: (n.c_code, n.hostname, n.detail))),
        # The guards' denominators: what was read counts even when the server's total says less.
        records={
            c_code: max((totals or {}).get(c_code, 0), len(records))
            for c_code, records in inventories.items()
        },
        machines={c_code: len(devices) for c_code, devices in devices_of.items()},
        statuses={
            c_code: dict(Counter(map(_RECORD_STATUS, records))) for c_code, records in inventories.items()
        },
    )


def _untouchable_hosts(device_set: DeviceSet) -> set[tuple[str, str]]:
    """Hostnames of excluded and invalid rows: their records are not orphans, just not ours to touch."""
    hosts = {(d.c_code, d.hostname) for d in device_set.excluded}
    hosts.update((e.c_code, e.hostname) for e in device_set.invalid if e.hostname)
    return hosts


def _repeated(items: Sequence[Any], distinct: int, hostname_of: Callable[[Any], str]) -> set[str]:
    """The hostnames several of ``items`` share (none when there are ``len(items)`` distinct ones)."""
    if distinct == len(items):
        return set()
    return {hostname for hostname, count in Counter(map(hostname_of, items)).items() if count > 1}


def _groups(items: Sequence[T], hostnames: set[str], hostname_of: Callable[[T], str]) -> dict[str, list[T]]:
    """The items of each of ``hostnames``."""
    groups: dict[str, list[T]] = defaultdict(list)
    for item in items:
        if hostname_of(item) in hostnames:
            groups[hostname_of(item)].append(item)
    return groups


_DEVICE_HOSTNAME: Callable[[Device], str] = itemgetter(Device._fields.index("hostname"))
_DEVICE_C_CODE: Callable[[Device], str] = itemgetter(Device._fields.index("c_code"))
_RECORD_HOSTNAME: Callable[[ServerRecord], str] = itemgetter(ServerRecord._fields.index("hostname"))
_RECORD_STATUS: Callable[[ServerRecord], str] = itemgetter(ServerRecord._fields.index("status"))

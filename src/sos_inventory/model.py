"""Domain values, on the ground floor: every other module may use them, none of them uses another.

Devices from the exports, records from the inventory, the changes and problems a plan is
made of, the runbook's categories, the progress callback. All of them are frozen: once
read, a value never changes, so a Plan built from them can be printed, checked and applied
without surprises. (What the runbook says of a problem, its actions and ticket, is
``runbook``'s: a problem only carries its category and facts.)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, NamedTuple

#: The tool's version (pyproject.toml's), named in every report and ledger run row.
VERSION = "0.1.0"

#: The only metadata fields the job ever writes (docs/sos-api.md).
WRITABLE_FIELDS: tuple[str, ...] = ("application", "environment", "status")


class Column(NamedTuple):
    """One column of a Netint devices.csv export (README, Config reference: devices.csv)."""

    header: str  # its standard header (a config's ``columns`` may rename it)
    field: str  # the Device field it fills
    required: bool  # the header must be present (its values may still be empty)
    rule: bool  # an ownership or exclude rule may test the field


#: The export's columns, once: the header mapping (devices), the Device fields below and the
#: fields a rule may test (config) all derive from this. Supporting a new column means one
#: entry here, the Device field of the same name (same order), and its tests.
COLUMNS: tuple[Column, ...] = (
    Column("Device Name", "fqdn", required=True, rule=True),
    Column("Device Type", "device_type", required=True, rule=True),
    Column("Location", "location", required=True, rule=True),
    Column("Public IP", "public_ip", required=True, rule=True),
    Column("Private IP", "private_ip", required=True, rule=True),
    Column("Management IP", "management_ip", required=True, rule=False),
    Column("Device ID", "device_id", required=False, rule=False),
    Column("Provision Date", "provision_date", required=True, rule=False),
    Column("Cancellation Date", "cancellation_date", required=False, rule=False),
    Column("Tags", "tags", required=False, rule=True),
)

#: Device fields that come from where the row was read, not from a column.
ORIGIN_FIELDS: tuple[str, ...] = ("source", "line", "account", "c_code", "hostname")

#: Device fields a rule's ``when`` may test (README, Config reference).
RULE_FIELDS: tuple[str, ...] = ("hostname", *(c.field for c in COLUMNS if c.rule), "account", "c_code")


def host_key(name: str) -> str | None:
    """The short host name a machine is kept under (ledger, plans): lower case, up to the first dot;
    None for a name that is not ASCII. Host names are ASCII (devices.py refuses any other), and a
    lookalike must not pass for one: ``str.lower`` folds the Kelvin sign (U+212A) into ``k``."""
    name = name.strip()
    if not name.isascii():
        return None
    return name.lower().partition(".")[0]


def new_run_id(started: datetime) -> str:
    """A run's id: its start in UTC, sortable, and a random suffix (``20261127T120000Z-3f9a``)."""
    return f"{started.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


class Status(StrEnum):
    """A machine's place in its life, as the inventory records it."""

    BUILD = "Build"
    LIVE = "Live"
    AVAILABLE = "Available"


class Device(NamedTuple):
    """One machine row of a Netint devices.csv export.

    Immutable like every value here; a NamedTuple rather than a frozen dataclass
    because a fleet-scale run builds a million of them and a frozen dataclass is
    several times slower to construct (measured: 4.6 vs 0.8 us for 15 fields).
    """

    # ORIGIN_FIELDS: where the row was read
    source: str  # the file it came from
    line: int  # the physical line the row starts on (1 = header)
    account: str
    c_code: str
    hostname: str  # short, lower-cased: the machine's identity (the first label of Device Name)
    # One field per entry of COLUMNS, in its order
    fqdn: str  # lower-cased
    device_type: str
    location: str
    public_ip: str
    private_ip: str
    management_ip: str
    device_id: str
    provision_date: datetime | None  # in UTC (the export's offset applied)
    cancellation_date: datetime | None  # in UTC; None: not marked for cancellation
    tags: str  # the Tags column's tags, separated by single spaces ("" for none)


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row of a devices file is not a usable machine."""

    path: str
    line: int
    column: str
    value: str
    reason: str
    hostname: str = ""  # the row's machine, when its Device Name could be read
    c_code: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: column {self.column!r} value {self.value!r}: {self.reason}"


class ServerRecord(NamedTuple):
    """One server record of the SOS inventory (docs/sos-api.md); a NamedTuple for the same reason as Device."""

    unid: str
    c_code: str
    hostname: str  # lower-cased (sos.client.record_from_item), as Device.hostname
    fqdn: str
    ip_public: str
    ip_private: str
    device_id: str
    application: str
    environment: str
    status: str
    last_modified: str

    def field(self, name: str) -> str:
        """The current value of a writable field."""
        value: str = getattr(self, name)
        return value


class Category(StrEnum):
    """Diagnosis categories (docs/runbook.md)."""

    DNS_LOOKUP_FAILURE = "dns_lookup_failure"
    NETWORK_TIMEOUT = "network_timeout"
    SOS_API_ERROR = "sos_api_error"
    AUTH_FAILURE = "auth_failure"
    RATE_LIMITED = "rate_limited"
    TLS_FAILURE = "tls_failure"
    DUPLICATE_HOSTNAME = "duplicate_hostname"
    INPUT_ERROR = "input_error"
    SAFETY_GUARD = "safety_guard"
    INTERRUPTED = "interrupted"
    MANUAL_EDIT = "manual_edit"
    FIGHT = "fight"
    STALE_PLAN = "stale_plan"
    STATE_ERROR = "state_error"
    CODE_DEFECT = "code_defect"


@dataclass(frozen=True, slots=True)
class KnownNames:
    """The applications and environments an inventory (one C_Code) knows."""

    applications: frozenset[str]
    environments: frozenset[str]

    def of(self, field: str) -> frozenset[str]:
        """The names known for a record field named by the inventory ("application" or
        "environment"; KeyError for any other)."""
        if field == "application":
            return self.applications
        if field == "environment":
            return self.environments
        raise KeyError(field)


@dataclass(frozen=True, slots=True)
class Change:
    """One record to update: only the fields that differ."""

    c_code: str
    hostname: str
    unid: str
    before: Mapping[str, str]
    after: Mapping[str, str]
    rules: Mapping[str, str] = field(default_factory=dict)  # field -> what decided it (evidence)
    manual_edit: bool = False  # the record was edited by hand since this job wrote it (README, Evidence)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "c_code": self.c_code,
            "hostname": self.hostname,
            "unid": self.unid,
            "before": dict(self.before),
            "after": dict(self.after),
        }
        if self.rules:
            out["rules"] = dict(self.rules)
        if self.manual_edit:
            out["manual_edit"] = True
        return out


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the run could not do or could not decide, in the runbook's terms."""

    category: Category
    message: str
    c_code: str | None = None
    hostname: str | None = None
    source: str | None = None  # file:line for input problems
    facts: Mapping[str, str] = field(default_factory=dict)  # for actions and tickets: host, status, time...
    hostnames: tuple[str, ...] = ()  # every machine this one cause hit (beyond ``hostname``)
    action_text: str | None = None  # the action, when the runbook's for the category is not precise
    details: tuple[str, ...] = ()  # the items the message introduces (each problem of a config)

    def all_facts(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Every fact known about this problem, for the runbook's templates."""
        known = {"evidence": self.message, **self.facts, **(extra or {})}
        if self.c_code:
            known["c_code"] = self.c_code
        if self.hostname:
            known["hostname"] = self.hostname
        return known


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


#: ``progress(phase, done, total)``; ``total`` is None while it is not known yet. The library
#: reports how far its long phases got through one of these and never prints (observe/progress.py
#: has the displays).
Progress = Callable[[str, int, int | None], None]


def no_progress(phase: str, done: int, total: int | None) -> None:
    """The library's default: show nothing."""


class ExitCode(IntEnum):
    """How a command ends (README, Exit codes): the one place the codes are written; the help
    texts and the README's table are made of, or checked against, :data:`EXIT_MEANINGS`."""

    OK = 0
    PROBLEMS = 1
    USAGE = 2
    REFUSED = 3
    UNREACHABLE = 4
    LOCKED = 5
    DEFECT = 70


#: The codes of a run that did its job (1: some machines need a human, the rest is in step).
DONE = frozenset({ExitCode.OK, ExitCode.PROBLEMS})
#: A run stopped by signal N exits 128 + N (as a shell reports it): SIGINT 130, SIGTERM 143.
SIGNALLED = 128

#: What each code means, in the words of every help text.
EXIT_MEANINGS: dict[str, str] = {
    "0": "done: the inventory is in step (plan: the plan was computed)",
    "1": "done, but some machines could not be updated or were ambiguous, or some rows were invalid",
    "2": "usage or configuration error",
    "3": "refused: input invalid or a safety limit would be crossed (nothing written), or the ledger "
    "cannot be written (before the first write: nothing written; mid-run: stopped before the next one)",
    "4": "the inventory is unreachable or refused the credentials; the run stopped",
    "5": "another run of the job holds the lock",
    "70": "internal error (a defect): the traceback is saved beside the report",
    "130/143": "interrupted by SIGINT/SIGTERM (in-flight requests finished, report written)",
}


def exit_codes_help() -> str:
    """The exit codes as ``--help`` lists them."""
    return "exit codes:\n" + "".join(f"  {code:<2} {meaning}\n" for code, meaning in EXIT_MEANINGS.items())

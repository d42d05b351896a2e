"""Domain values: devices from the exports, records from the inventory.

All of them are frozen: once read, a value never changes, so a Plan built from
them can be printed, checked and applied without surprises.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

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

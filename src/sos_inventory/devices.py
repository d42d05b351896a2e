"""Find and parse Netint ``devices.csv`` exports (SPEC 2).

A file that cannot be read at all (missing, empty, not UTF-8, not CSV, a
required column missing) stops the run before any write: every such file is
collected and raised together as :class:`~sos_inventory.errors.InputError`.
A bad row only takes its own machine out of the run: it becomes a
:class:`~sos_inventory.model.RowError` with file, line, column, value and reason.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from sys import intern

from sos_inventory.config import COLUMNS, RULE_FIELDS, Config, DevicesSpec, RuleSet
from sos_inventory.errors import FileProblem, InputError
from sos_inventory.model import Device, RowError

_ACCT_DIR = re.compile(r"^Acct(\d+)$", re.IGNORECASE)
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_TAG_SPLIT = re.compile(r"[,\s]+")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")

#: Columns whose header must be present (values may be empty where SPEC allows).
REQUIRED = (
    "Device Name",
    "Device Type",
    "Location",
    "Public IP",
    "Private IP",
    "Management IP",
    "Provision Date",
)


@dataclass(frozen=True, slots=True)
class DevicesFile:
    """One export file and the SoftLayer account it belongs to."""

    path: Path
    account: str


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A readable file whose account maps to no C_Code: its rows are not managed."""

    path: str
    account: str
    rows: int


@dataclass(slots=True)
class DeviceSet:
    """Everything read from the exports."""

    devices: list[Device] = field(default_factory=list)
    excluded: list[Device] = field(default_factory=list)
    invalid: list[RowError] = field(default_factory=list)
    skipped_files: list[SkippedFile] = field(default_factory=list)
    files: list[DevicesFile] = field(default_factory=list)
    rows_by_file: dict[str, int] = field(default_factory=dict)  # data rows of each file read

    @property
    def invalid_rows(self) -> int:
        """Rows with at least one error (a row may have several)."""
        return len({(e.path, e.line) for e in self.invalid})

    @property
    def rows(self) -> int:
        """Data rows read, whatever became of them."""
        return len(self.devices) + len(self.excluded) + self.invalid_rows


def account_of(path: Path) -> str | None:
    """The account of ``.../Acct<N>/devices.csv``, or None."""
    match = _ACCT_DIR.match(path.parent.name)
    return match.group(1) if match else None


def discover(specs: Iterable[DevicesSpec]) -> list[DevicesFile]:
    """Expand folders into their ``Acct<N>/devices.csv`` files; resolve each file's account.

    Raises InputError for a missing path, an empty folder or a file whose
    account cannot be told.
    """
    files: list[DevicesFile] = []
    problems: list[FileProblem] = []
    for spec in specs:
        if spec.path.is_dir():
            found = sorted(
                (p for p in spec.path.glob("*/devices.csv") if account_of(p) is not None),
                key=lambda p: int(account_of(p) or 0),
            )
            if not found:
                problems.append(FileProblem(str(spec.path), "no Acct<N>/devices.csv under this folder"))
            files.extend(DevicesFile(path=p, account=account_of(p) or "") for p in found)
        elif spec.path.exists():
            account = spec.account or account_of(spec.path)
            if account is None:
                problems.append(
                    FileProblem(
                        str(spec.path),
                        "cannot tell its SoftLayer account: put it in an Acct<N> folder, "
                        "give {path, account} in the config, or use --account",
                    )
                )
            else:
                files.append(DevicesFile(path=spec.path, account=account))
        else:
            problems.append(FileProblem(str(spec.path), "no such file or folder"))
    if not files and not problems:
        problems.append(FileProblem("devices", "no devices files given (config 'devices' or --devices)"))
    if problems:
        raise InputError(problems)
    return files


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 date or date-time; naive values are UTC, date-only is midnight UTC."""
    value = text.strip()
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _valid_ip(text: str) -> bool:
    if _IPV4.match(text):
        return True
    if ":" not in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


class _Header:
    """Where each canonical column sits in one file's header."""

    def __init__(self, header: list[str], columns: Mapping[str, str]) -> None:
        positions = {name.strip().casefold(): i for i, name in reversed(list(enumerate(header)))}
        self.index: dict[str, int] = {}
        self.names: dict[str, str] = {}
        for canonical in COLUMNS:
            wanted = columns.get(canonical, canonical)
            if wanted.strip().casefold() in positions:
                self.index[canonical] = positions[wanted.strip().casefold()]
                self.names[canonical] = wanted
        self.width = len(header)
        # Where each canonical column is, in COLUMNS order; -1 for an absent optional column.
        self.positions = tuple(self.index.get(canonical, -1) for canonical in COLUMNS)
        self.missing = [columns.get(c, c) for c in REQUIRED if c not in self.index]


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(starting line, fields) for every non-blank record; raises OSError/UnicodeError/csv.Error."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        previous_end = 0
        for fields in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            # Skip blank lines: csv gives [] for an empty line, [" "] for one of spaces.
            if len(fields) > 1 or (fields and fields[0].strip()):
                yield start, fields


class _RowReader:
    """Turns one file's rows into devices, exclusions and row errors."""

    def __init__(
        self,
        file: DevicesFile,
        c_code: str,
        header: _Header,
        exclude: RuleSet,
        out: DeviceSet,
    ) -> None:
        self.file = file
        self.path = str(file.path)
        self.c_code = c_code
        self.header = header
        self.exclude = exclude
        self.out = out
        self.account = file.account
        self.hostname = ""  # of the row being read, for its errors

    def error(self, line: int, column: str, value: str, reason: str) -> None:
        name = self.header.names.get(column, column)
        self.out.invalid.append(RowError(self.path, line, name, value, reason, self.hostname, self.c_code))

    def read(self, line: int, fields: list[str]) -> None:
        # The hot path of a million-row export: one pass over the columns, one Device built,
        # attribute lookups kept out of the common path.
        if len(fields) != self.header.width:
            self.hostname = ""
            self.error(
                line,
                "*",
                ",".join(fields)[:80],
                f"has {len(fields)} fields, the header has {self.header.width}",
            )
            return
        (
            name,
            device_type,
            location,
            public_ip,
            private_ip,
            management_ip,
            device_id,
            provision_text,
            cancel,
            tags,
        ) = [fields[i].strip() if i >= 0 else "" for i in self.header.positions]
        fqdn = name if name.islower() else name.lower()  # str.lower always copies: keep one string
        hostname = fqdn.partition(".")[0]
        problems: list[tuple[str, str, str]] = []
        if not _LABEL.match(hostname):
            problems.append(
                ("Device Name", name, "not a host name (expected e.g. prod-dal10-carrier2-worker-1030)")
            )
        if not device_type:
            problems.append(("Device Type", device_type, "empty"))
        if public_ip and not _valid_ip(public_ip):
            problems.append(("Public IP", public_ip, "not an IPv4 or IPv6 address"))
        if private_ip and not _valid_ip(private_ip):
            problems.append(("Private IP", private_ip, "not an IPv4 or IPv6 address"))
        if management_ip and not _valid_ip(management_ip):
            problems.append(("Management IP", management_ip, "not an IPv4 or IPv6 address"))
        if problems:
            self.hostname = "" if problems[0][0] == "Device Name" else hostname
            for column, value, reason in problems:
                self.error(line, column, value, reason)
            return
        provision = None
        provision_problem = ""
        if provision_text:
            try:
                provision = parse_timestamp(provision_text)
            except ValueError:
                provision_problem = "not an ISO 8601 date (e.g. 2026-11-25T14:03:11-06:00, 2026-11-25)"
        elif not cancel:
            provision_problem = "empty: the Status cannot be decided without it"
        # Low-cardinality columns are interned: one string object for a million rows.
        device = Device(
            self.path, line, self.account, self.c_code, hostname, fqdn, intern(device_type), intern(location),
            public_ip, private_ip, management_ip, device_id, provision, cancel,
            tuple(t for t in _TAG_SPLIT.split(tags) if t) if tags else (),
        )  # fmt: skip
        if self.exclude and self.exclude.first_match(rule_fields(device, self.exclude.fields)) is not None:
            # A VIP is not a machine: its dates do not matter, so it is never "invalid" for them.
            self.out.excluded.append(device)
        elif provision_problem:
            self.hostname = hostname
            self.error(line, "Provision Date", provision_text, provision_problem)
        else:
            self.out.devices.append(device)


_FIELD_GETTERS: dict[str, Callable[[Device], str]] = {
    "hostname": attrgetter("hostname"),
    "fqdn": attrgetter("fqdn"),
    "device_type": attrgetter("device_type"),
    "location": attrgetter("location"),
    "account": attrgetter("account"),
    "c_code": attrgetter("c_code"),
    "tags": lambda device: " ".join(device.tags),
    "public_ip": attrgetter("public_ip"),
    "private_ip": attrgetter("private_ip"),
}


def rule_fields(device: Device, names: Iterable[str] = RULE_FIELDS) -> dict[str, str]:
    """The fields a rule may test, as text (SPEC 3); only ``names`` when given (the ones rules use)."""
    return {name: _FIELD_GETTERS[name](device) for name in names}


def _read_file(file: DevicesFile, config: Config, out: DeviceSet) -> FileProblem | None:
    c_code = config.accounts.get(file.account)
    rows = _rows(file.path)
    try:
        first = next(rows, None)
        if first is None:
            return FileProblem(str(file.path), "empty file (no header row)")
        header = _Header(first[1], config.columns)
        if header.missing:
            return FileProblem(
                str(file.path),
                f"missing required column(s) {', '.join(repr(m) for m in header.missing)} "
                f"(header has: {', '.join(h.strip() for h in first[1])[:300]})",
            )
        if c_code is None:
            count = sum(1 for _ in rows)
            out.skipped_files.append(SkippedFile(str(file.path), file.account, count))
            return None
        reader = _RowReader(file, c_code, header, config.exclude, out)
        count = 0
        for line, fields in rows:
            reader.read(line, fields)
            count += 1
        out.rows_by_file[str(file.path)] = count
    except FileNotFoundError:
        return FileProblem(str(file.path), "no such file")
    except UnicodeDecodeError as exc:
        return FileProblem(str(file.path), f"not UTF-8 text (byte {exc.start}: {exc.reason})")
    except csv.Error as exc:
        return FileProblem(str(file.path), f"not a valid CSV file: {exc}")
    except OSError as exc:
        return FileProblem(str(file.path), f"cannot read: {exc.strerror or exc}")
    return None


def load_devices(files: Iterable[DevicesFile], config: Config) -> DeviceSet:
    """Read every file; raise InputError if any cannot be read, else return all rows sorted out."""
    out = DeviceSet()
    problems: list[FileProblem] = []
    for file in files:
        out.files.append(file)
        problem = _read_file(file, config, out)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise InputError(problems)
    return out

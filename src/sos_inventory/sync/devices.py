"""Find and parse Netint ``devices.csv`` exports (README, Config reference: devices.csv).

A file that cannot be read at all (missing, empty, not UTF-8, not CSV, a
required column missing) stops the run before any write: every such file is
collected and raised together as :class:`~sos_inventory.errors.InputError`.
A bad row only takes its own machine out of the run: it becomes a
:class:`~sos_inventory.model.RowError` with file, line, column, value and reason.
"""

from __future__ import annotations

import csv
import gc
import ipaddress
import logging
import re
import socket
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from sys import intern
from typing import IO

from sos_inventory.config import Config, DevicesSpec, RuleSet
from sos_inventory.errors import FileProblem, InputError
from sos_inventory.model import COLUMNS, Device, RowError

log = logging.getLogger(__name__)
_ACCT_DIR = re.compile(r"Acct([0-9]+)", re.IGNORECASE)  # fullmatch
# IPv4 in dotted-quad form, each part 0-255 without leading zeros: a C call, 5x faster than a regex.
_pton, _AF_INET = socket.inet_pton, socket.AF_INET
# fullmatch, so that nothing may follow (re's '$' also matches before a final line break).
_LABEL = re.compile(r"[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?")
#: The longest Device Name (a DNS name) and the longest other text a rule may test: every rule
#: pattern then runs in bounded time (patterns.py), whatever an export holds.
MAX_NAME, MAX_FIELD = 253, 1024
#: The longest physical line of an export read (characters): a row of every column at MAX_FIELD
#: is some 10 KB, so a longer line is not an export's; without the bound, the reader would hold
#: a line of any length in memory (a 100 MB line: 220 MB) before the csv module refuses it.
MAX_LINE = 1 << 20

#: Columns whose header must be present (values may be empty where the README allows).
REQUIRED: tuple[str, ...] = tuple(column.header for column in COLUMNS if column.required)

#: Cancellation Date values that mean "not marked" (README, Decisions), compared case-insensitively.
NULL_WORDS = frozenset({"", "n/a", "na", "none", "null", "-"})
_DATE_EXAMPLES = "e.g. 2026-11-25T14:03:11-06:00, 2026-11-25 14:03:11, 2026-11-25"
_OUT_OF_RANGE = "a date out of range (before year 1 or after 9999 once in UTC)"


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


#: What a header-only export looks like; plan and update refuse it (exit 3).
EMPTY_EXPORT = "has a header but no machine: the export looks truncated"


def empty_files(device_set: DeviceSet) -> list[str]:
    """The files read that have a header and no data row."""
    return sorted(path for path, rows in device_set.rows_by_file.items() if rows == 0)


def account_of(path: Path) -> str | None:
    """The account of ``.../Acct<N>/devices.csv``, or None."""
    match = _ACCT_DIR.fullmatch(path.parent.name)
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
        elif spec.path.exists() and not spec.path.is_file():
            # A device, a FIFO or a socket could be read forever (/dev/zero) or block.
            problems.append(FileProblem(str(spec.path), "not a regular file"))
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
    """Parse an ISO 8601 date or date-time, as a UTC date-time (naive values are UTC, date-only
    is midnight UTC; an offset is applied)."""
    return _utc(text.strip())


def _utc(value: str) -> datetime:
    # A million of these per fleet-scale run, hence text tricks instead of datetime calls that
    # cost several times the parse itself (measured): datetime.replace(tzinfo=...) for naive
    # values, astimezone(UTC) for offsets. The result is in UTC with the one UTC tzinfo object,
    # so that comparing two of them is the fast path of datetime comparison.
    size = len(value)
    if size == 19 and value[13] == ":" and value[16] == ":":  # 2026-11-25 14:03:11: no offset
        return datetime.fromisoformat(value + "+00:00")  # "+00:00" gives the UTC object
    if value[-1:] in ("z", "Z"):
        value = value[:-1] + "+00:00"
    elif size == 10:
        value += "T00:00:00+00:00"
    elif size == 25 and value[19] in "+-":  # the export's 2026-11-25T14:03:11-06:00
        offset = _OFFSETS.get(value[19:])
        if offset is None:
            offset = _OFFSETS[value[19:]] = _offset(value)
        return datetime.fromisoformat(value[:19] + "+00:00") - offset
    elif size > 10 and "+" not in value and "-" not in value[10:]:
        value += "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


_OFFSETS: dict[str, timedelta] = {}  # "-06:00" -> its UTC offset, as the exports use few


def _offset(value: str) -> timedelta:
    offset = datetime.fromisoformat(value).utcoffset()  # ValueError for a bad date or offset
    if offset is None:
        raise ValueError(f"no offset in {value!r}")
    return offset


def _valid_ip(text: str) -> bool:
    try:
        _pton(_AF_INET, text)
        return True
    except (OSError, ValueError):
        pass
    if ":" not in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


class _Header:
    """Where each standard column (model.COLUMNS) sits in one file's header."""

    def __init__(self, header: list[str], columns: Mapping[str, str]) -> None:
        positions = {name.strip().casefold(): i for i, name in reversed(list(enumerate(header)))}
        self.index: dict[str, int] = {}
        self.names: dict[str, str] = {}
        for column in COLUMNS:
            wanted = columns.get(column.header, column.header)
            if wanted.strip().casefold() in positions:
                self.index[column.header] = positions[wanted.strip().casefold()]
                self.names[column.header] = wanted
        self.width = len(header)
        # The standard columns of a row, in COLUMNS order, in one C call. An absent optional
        # column reads the empty string the reader appends to each row (at index ``width``).
        self.pick = itemgetter(*(self.index.get(column.header, self.width) for column in COLUMNS))
        self.missing = [columns.get(c, c) for c in REQUIRED if c not in self.index]


def _records(reader: Iterator[list[str]], line_num: Callable[[], int]) -> Iterator[tuple[int, list[str]]]:
    """(starting line, fields) for every non-blank record; raises UnicodeError/csv.Error."""
    previous_end = line_num()
    for fields in reader:
        start = previous_end + 1
        previous_end = line_num()
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
        self.excluded_by = exclude.first_match if exclude else None
        self.out = out
        self.account = file.account
        self.hostname = ""  # of the row being read, for its errors

    def error(self, line: int, column: str, value: str, reason: str) -> None:
        name = self.header.names.get(column, column)
        # The value comes from the export: capped here (a cell may be megabytes); every sink
        # escapes control characters when it shows it.
        shown = value if len(value) <= 200 else value[:199] + "…"
        self.out.invalid.append(RowError(self.path, line, name, shown, reason, self.hostname, self.c_code))

    def read(self, line: int, fields: list[str]) -> None:
        # The hot path of a million-row export: one pass over the columns, one Device built,
        # the common row checked with as few calls as possible, the details only for bad rows.
        if len(fields) != self.header.width:
            self.hostname = ""
            self.error(
                line,
                "*",
                ",".join(fields)[:80],
                f"has {len(fields)} fields, the header has {self.header.width}",
            )
            return
        fields.append("")  # what an absent optional column reads
        (  # in COLUMNS order (tests/unit/test_devices.py checks each column lands in its field)
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
        ) = map(str.strip, self.header.pick(fields))
        fqdn = name if name.islower() else name.lower()  # str.lower always copies: keep one string
        hostname = fqdn.partition(".")[0]
        try:  # the usual row: a host name, a type, IPv4 addresses or none (inet_pton is strict)
            if public_ip:
                _pton(_AF_INET, public_ip)
            if private_ip:
                _pton(_AF_INET, private_ip)
            if management_ip:
                _pton(_AF_INET, management_ip)
            usual = (
                device_type != ""
                and _LABEL.fullmatch(hostname) is not None
                and name.isascii()  # before case folding: the Kelvin sign folds into 'k'
                and len(name) <= MAX_NAME
                and len(device_type) + len(location) + len(tags) <= MAX_FIELD
            )
        except (OSError, ValueError):
            usual = False
        if not usual:
            addresses = {"Public IP": public_ip, "Private IP": private_ip, "Management IP": management_ip}
            texts = {"Device Type": device_type, "Location": location, "Tags": tags}
            problems = _row_problems(name, hostname, texts, addresses)
            if problems:
                self.hostname = "" if problems[0][0] == "Device Name" else hostname
                for column, value, reason in problems:
                    self.error(line, column, value, reason)
                return
        provision = cancelled = None
        problem: tuple[str, ...] = ()  # (column, value, reason) of the row's date problem
        if cancel and cancel.lower() not in NULL_WORDS:
            try:
                cancelled = _utc(cancel)
            except OverflowError:
                problem = ("Cancellation Date", cancel, _OUT_OF_RANGE)
            except ValueError:
                # A typo must never take a live machine out of compliance scanning.
                problem = (
                    "Cancellation Date",
                    cancel,
                    f"neither a date ({_DATE_EXAMPLES}) nor empty, N/A, NA, none, null or -",
                )
        if provision_text:
            try:
                provision = _utc(provision_text)
            except (ValueError, OverflowError):
                problem = problem or (
                    "Provision Date",
                    provision_text,
                    f"not an ISO 8601 date ({_DATE_EXAMPLES})",
                )
        elif cancelled is None and not problem:
            problem = ("Provision Date", provision_text, "empty: the Status cannot be decided without it")
        # Low-cardinality columns are interned: one string object for a million rows.
        device = _new_device(Device, (
            self.path, line, self.account, self.c_code, hostname, fqdn, intern(device_type), intern(location),
            public_ip, private_ip, management_ip, device_id, provision, cancelled,
            " ".join(tags.replace(",", " ").split()) if tags else "",
        ))  # fmt: skip
        if self.excluded_by is not None and self.excluded_by(device) is not None:
            # A VIP is not a machine: its dates do not matter, so it is never "invalid" for them.
            self.out.excluded.append(device)
        elif problem:
            self.hostname = hostname
            self.error(line, *problem)
        else:
            self.out.devices.append(device)


_new_device = tuple.__new__  # skips the NamedTuple's Python-level __new__ (3x the cost)


def _row_problems(
    name: str, hostname: str, texts: Mapping[str, str], addresses: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """(column, value, reason) for each problem of a row's name, texts and addresses."""
    problems: list[tuple[str, str, str]] = []
    if not name.isascii() or len(name) > MAX_NAME or not _LABEL.fullmatch(hostname):
        problems.append(
            ("Device Name", name, "not an ASCII host name (expected e.g. prod-dal10-carrier2-worker-1030)")
        )
    if not texts["Device Type"]:
        problems.append(("Device Type", "", "empty"))
    for column, text in texts.items():
        if len(text) > MAX_FIELD:
            problems.append((column, text, f"longer than {MAX_FIELD} characters"))
    for column, value in addresses.items():
        if value and not _valid_ip(value):
            problems.append((column, value, "not an IPv4 or IPv6 address"))
    return problems


def _header_summary(header: list[str], columns: Mapping[str, str]) -> str:
    """What the first line holds, without quoting it: a file that is not an export may be anything
    (a symlink to a token file, in one probe), and its first line must not reach a report."""
    known = {name.strip().casefold() for name in (*(c.header for c in COLUMNS), *columns.values())}
    found = [name.strip() for name in header if name.strip().casefold() in known]
    if not found:
        return f"the first line has {len(header)} field(s), none of them a devices.csv column: is this an export?"
    return f"the first line has {len(header)} field(s), of which these columns: {', '.join(found)}"


def _bounded_lines(handle: IO[str]) -> Iterator[str]:
    """The lines of ``handle``, each read up to MAX_LINE characters; csv.Error at a longer one."""
    readline = handle.readline
    while line := readline(MAX_LINE):
        if len(line) == MAX_LINE and line[-1] != "\n":
            raise csv.Error(f"a line longer than {MAX_LINE} characters (is this an export?)")
        yield line


#: Rows read between two pauses of :func:`loading` (some 10-20 ms of work).
CHUNK_ROWS = 2000


def _read_file(
    file: DevicesFile, config: Config, out: DeviceSet
) -> Generator[None, None, FileProblem | None]:
    c_code = config.accounts.get(file.account)
    try:
        with file.path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(_bounded_lines(handle), strict=True)
            first = next(_records(reader, lambda: reader.line_num), None)
            if first is None:
                return FileProblem(str(file.path), "empty file (no header row)")
            header = _Header(first[1], config.columns)
            if header.missing:
                return FileProblem(
                    str(file.path),
                    f"missing required column(s) {', '.join(repr(m) for m in header.missing)}: "
                    f"{_header_summary(first[1], config.columns)}",
                )
            if c_code is None:
                count = sum(1 for _ in _records(reader, lambda: reader.line_num))
                out.skipped_files.append(SkippedFile(str(file.path), file.account, count))
                return None
            read = _RowReader(file, c_code, header, config.exclude, out).read
            # _records inlined: this loop runs once per row of a million-row export.
            count = 0
            previous_end = reader.line_num
            for fields in reader:
                start = previous_end + 1
                previous_end = reader.line_num
                if len(fields) > 1 or (fields and fields[0].strip()):
                    read(start, fields)
                    count += 1
                    if count % CHUNK_ROWS == 0:
                        yield
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


def loading(files: Iterable[DevicesFile], config: Config, out: DeviceSet) -> Iterator[None]:
    """Read every file into ``out`` in steps: it pauses (yields) every CHUNK_ROWS rows, so that
    other work (the inventory's pages arriving) can run in between; raises InputError at the
    end if any file cannot be read."""
    problems: list[FileProblem] = []
    for file in files:
        out.files.append(file)
        problem = yield from _read_file(file, config, out)
        if problem is not None:
            problems.append(problem)
    if problems:
        raise InputError(problems)


def load_devices(files: Iterable[DevicesFile], config: Config) -> DeviceSet:
    """Read every file; raise InputError if any cannot be read, else return all rows sorted out."""
    out = DeviceSet()
    for _ in loading(files, config, out):
        pass
    return out


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of acyclic values are built.

    Devices and records are tuples of strings: reference counting frees them,
    and the cyclic collector would only re-scan the growing heap again and again
    (measured: 6 s of a 50 s parse-and-plan of 1,000,000 devices). What was built
    is then frozen, so later collections skip it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def find_files(
    config: Config, specs: Sequence[DevicesSpec] | None = None, c_codes: Iterable[str] | None = None
) -> list[DevicesFile]:
    """The export files to read (those of ``c_codes`` only, when given); InputError if none can be found."""
    files = discover(specs or config.devices)
    if c_codes is not None:
        wanted = set(c_codes)
        files = [f for f in files if config.accounts.get(f.account) in wanted]
    return files


def read_devices(
    config: Config, specs: Sequence[DevicesSpec] | None = None, c_codes: Iterable[str] | None = None
) -> DeviceSet:
    """Find and read the exports (those of ``c_codes`` only, when given)."""
    return read_files(config, find_files(config, specs, c_codes))


def read_files(config: Config, files: Sequence[DevicesFile]) -> DeviceSet:
    """Read these exports (InputError if any cannot be read)."""
    with gc_paused():
        device_set = load_devices(files, config)
    log_read(device_set)
    return device_set


def log_read(device_set: DeviceSet) -> None:
    """Log what was read (one line)."""
    log.info(
        "read %d rows from %d file(s): %d machines, %d excluded, %d invalid",
        device_set.rows,
        len(device_set.files),
        len(device_set.devices),
        len(device_set.excluded),
        device_set.invalid_rows,
    )

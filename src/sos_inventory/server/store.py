"""SQLite storage of the reference SOS server: server records and the
application/environment lists of each C_Code.

One ``sqlite3`` connection per :class:`Store`, used from one thread (the
server's event loop). Every write is one transaction, so a failed seed or
update leaves nothing half done. The database is in WAL mode, so ``dump`` and
``seed`` from another process work while the server runs.

Paging stays linear at a million records: ``LIMIT ... OFFSET`` alone walks
every record before the page (and ``COUNT(*)`` every record of the C_Code),
so reading all pages would be quadratic. Instead each C_Code gets a small
page index, built on its first query: its total and every
:data:`PAGE_STRIDE`-th unid in order. A page then starts at the mark before
it (``unid >= mark``, an index seek) and skips fewer than PAGE_STRIDE
records. The index is dropped when this store seeds, and when another
connection commits (``PRAGMA data_version``); updates keep it, since they
change neither unids nor C_Codes.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

__all__ = [
    "PAGE_STRIDE",
    "RECORD_KEYS",
    "STATUSES",
    "UPDATABLE_FIELDS",
    "InvalidValue",
    "RecordNotFound",
    "Store",
    "StoreError",
    "is_c_code",
]

STATUSES = ("Build", "Live", "Available")
UPDATABLE_FIELDS = ("application", "environment", "status")
# The keys of a record, in the order of docs/sos-api.md.
RECORD_KEYS = (
    "unid",
    "c_code",
    "hostname",
    "fqdn",
    "ip_public",
    "ip_private",
    "device_id",
    "application",
    "environment",
    "status",
    "last_modified",
)
_OPTIONAL_TEXT = ("fqdn", "ip_public", "ip_private", "device_id", "application", "environment")
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_CANONICAL_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
#: Records between two marks of a C_Code's page index (see the module docstring).
PAGE_STRIDE = 256
# Records written per statement while seeding (well under SQLite's 32766 variables).
_SEED_BATCH = 500
# Reads of a big inventory go through the OS page cache without a copy per read;
# this is address space, not memory: only the pages read count in the RSS.
_MMAP_BYTES = 1 << 30
# Seeding a million records in random unid order touches index pages all over the
# file; a larger page cache for that one transaction keeps it from thrashing.
_SEED_CACHE_KIB = 256 * 1024
_MAX_PROBLEMS = 100  # shown in a seed's ValueError
_C_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SPACE = re.compile(r"\s")  # what str.isspace() calls a space
_RECORD_KEY_SET = frozenset(RECORD_KEYS)
_SEED_KEYS = frozenset({"servers", "applications", "environments"})
_SEED_COUNTS = (
    "servers_added",
    "servers_replaced",
    "servers_unchanged",
    "applications_added",
    "environments_added",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS servers (
    unid TEXT PRIMARY KEY,
    c_code TEXT NOT NULL,
    hostname TEXT NOT NULL,
    fqdn TEXT NOT NULL,
    ip_public TEXT NOT NULL,
    ip_private TEXT NOT NULL,
    device_id TEXT NOT NULL,
    application TEXT NOT NULL,
    environment TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('Build', 'Live', 'Available')),
    last_modified TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS servers_by_c_code_unid ON servers (c_code, unid);
CREATE INDEX IF NOT EXISTS servers_by_c_code_hostname ON servers (c_code, hostname);
CREATE TABLE IF NOT EXISTS applications (
    c_code TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (c_code, name)
);
CREATE TABLE IF NOT EXISTS environments (
    c_code TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (c_code, name)
);
"""
_COLUMNS = ", ".join(RECORD_KEYS)
_JSON_RECORD = "json_object(" + ", ".join(f"'{key}', {key}" for key in RECORD_KEYS) + ")"
_BY_C_CODE_UNID = "servers INDEXED BY servers_by_c_code_unid"
_BY_HOSTNAME = "servers INDEXED BY servers_by_c_code_hostname"

Record = dict[str, str]


@dataclass(frozen=True, slots=True)
class _PageIndex:
    """A C_Code's record count and the unid at every PAGE_STRIDE-th position in unid order."""

    total: int
    marks: tuple[str, ...]


class StoreError(Exception):
    """Base of the errors :meth:`Store.update` raises on purpose."""


class RecordNotFound(StoreError):
    """No record with this unid in this C_Code."""

    def __init__(self, c_code: str, unid: str) -> None:
        super().__init__(f"no server with unid {unid!r} in C_Code {c_code}")
        self.c_code = c_code
        self.unid = unid


class InvalidValue(StoreError):
    """A value the inventory does not accept for this field and C_Code."""

    def __init__(self, field: str, value: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


def is_c_code(value: str) -> bool:
    """Whether ``value`` has the shape of a C_Code (letters, digits, ``_``, ``-``)."""
    return _C_CODE.fullmatch(value) is not None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Store:
    """The inventory in one SQLite file (created with its schema if missing).

    ``clock`` returns the current time for ``last_modified``; tests pass a
    fixed one.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = Path(path)
        self._clock = clock
        # Autocommit mode: transactions are opened explicitly in _write(), so
        # each write is exactly one BEGIN IMMEDIATE ... COMMIT.
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # A seed from another process may hold the write lock for a moment.
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        # In WAL mode NORMAL syncs at checkpoints, not at each commit: a commit stays atomic
        # and the file stays sound, but the last commits may be lost if the machine (not the
        # process) dies. Right for a reference server; FULL made the fsync of every update
        # the biggest cost of the server under a benchmark's load.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._pages: dict[str, _PageIndex] = {}
        self._data_version = self._current_data_version()
        try:  # JSON functions are built into SQLite since 3.38 (and usually compiled in before)
            self._json = self._db.execute("SELECT json_object('a', 1)").fetchone() is not None
        except sqlite3.OperationalError:
            self._json = False

    def _now(self) -> str:
        return self._clock().astimezone(UTC).strftime(_TIMESTAMP_FORMAT)

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so the reads that decide a
        # write (does the unid exist? is the value known?) cannot go stale.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- reads ---------------------------------------------------------------

    def query(
        self, c_code: str, page: int, page_size: int, hostname: str | None = None
    ) -> tuple[int, list[Record]]:
        """One page (from 1) of a C_Code's records ordered by unid, and the total.

        ``hostname`` keeps only the records whose short hostname equals it,
        case-insensitively.
        """
        total, rows = self._query(_COLUMNS, c_code, page, page_size, hostname)
        return total, [dict(row) for row in rows]

    def query_json(
        self, c_code: str, page: int, page_size: int, hostname: str | None = None
    ) -> tuple[int, str]:
        """As :meth:`query`, with the records as the text of a JSON array, made by SQLite.

        The server sends pages this way: at 1,000 records a page, SQLite's json_object
        costs about a third of building dicts and then json.dumps (measured).
        """
        if not self._json:
            total, records = self.query(c_code, page, page_size, hostname)
            return total, json.dumps(records)
        total, rows = self._query(_JSON_RECORD, c_code, page, page_size, hostname)
        return total, "[" + ",".join(row[0] for row in rows) + "]"

    def _query(
        self, select: str, c_code: str, page: int, page_size: int, hostname: str | None
    ) -> tuple[int, list[sqlite3.Row]]:
        if page < 1 or page_size < 1:
            raise ValueError("page and page_size start at 1")
        if hostname is None:
            return self._page(select, c_code, (page - 1) * page_size, page_size)
        # Stored hostnames are lower-case, so the hostname index finds them. Named, because
        # without it SQLite walks the (c_code, unid) index to skip sorting a few records:
        # 0.2 s per query at 100,000 records.
        where, params = "c_code = ? AND hostname = ?", [c_code, hostname.lower()]
        (total,) = self._db.execute(f"SELECT COUNT(*) FROM {_BY_HOSTNAME} WHERE {where}", params).fetchone()
        rows = self._db.execute(
            f"SELECT {select} FROM {_BY_HOSTNAME} WHERE {where} ORDER BY unid LIMIT ? OFFSET ?",
            [*params, page_size, (page - 1) * page_size],
        ).fetchall()
        return int(total), rows

    def _page(self, select: str, c_code: str, start: int, size: int) -> tuple[int, list[sqlite3.Row]]:
        """``size`` records of a C_Code from position ``start`` (0-based) in unid order, and the total."""
        index = self._page_index(c_code)
        if start >= index.total:
            return index.total, []
        mark, skip = divmod(start, PAGE_STRIDE)
        rows = self._db.execute(
            f"SELECT {select} FROM {_BY_C_CODE_UNID} WHERE c_code = ? AND unid >= ?"
            " ORDER BY unid LIMIT ? OFFSET ?",
            [c_code, index.marks[mark], size, skip],
        ).fetchall()
        return index.total, rows

    def _current_data_version(self) -> int:
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        return int(version)

    def _page_index(self, c_code: str) -> _PageIndex:
        version = self._current_data_version()
        if version != self._data_version:  # another connection committed: a seed, perhaps
            self._pages.clear()
            self._data_version = version
        index = self._pages.get(c_code)
        if index is None:
            index = self._pages[c_code] = self._build_page_index(c_code)
        return index

    def _build_page_index(self, c_code: str) -> _PageIndex:
        # Each mark is one index seek that steps PAGE_STRIDE entries inside SQLite: about
        # 0.1 s for a million records, where reading every unid into Python takes 0.8 s.
        first = self._db.execute(
            f"SELECT unid FROM {_BY_C_CODE_UNID} WHERE c_code = ? ORDER BY unid LIMIT 1", [c_code]
        ).fetchone()
        if first is None:
            return _PageIndex(0, ())
        marks = [str(first[0])]
        step = (
            f"SELECT unid FROM {_BY_C_CODE_UNID} WHERE c_code = ? AND unid > ? ORDER BY unid LIMIT 1 OFFSET ?"
        )
        while (row := self._db.execute(step, [c_code, marks[-1], PAGE_STRIDE - 1]).fetchone()) is not None:
            marks.append(str(row[0]))
        (tail,) = self._db.execute(
            f"SELECT COUNT(*) FROM {_BY_C_CODE_UNID} WHERE c_code = ? AND unid >= ?", [c_code, marks[-1]]
        ).fetchone()
        return _PageIndex((len(marks) - 1) * PAGE_STRIDE + int(tail), tuple(marks))

    def applications(self, c_code: str) -> list[str]:
        """The application names a C_Code's records may hold, sorted."""
        return self._names("applications", c_code)

    def environments(self, c_code: str) -> list[str]:
        """The environment names a C_Code's records may hold, sorted."""
        return self._names("environments", c_code)

    def _names(self, table: str, c_code: str) -> list[str]:
        rows = self._db.execute(
            f"SELECT name FROM {table} WHERE c_code = ? ORDER BY name", [c_code]
        ).fetchall()
        return [str(row["name"]) for row in rows]

    def dump(self, c_code: str | None = None) -> dict[str, Any]:
        """Everything (or one C_Code) in the shape of SEED.json.

        Servers are sorted by c_code, then unid; seeding a dump into an empty
        database reproduces it exactly.
        """
        where, params = ("WHERE c_code = ?", [c_code]) if c_code is not None else ("", [])
        servers = self._db.execute(
            f"SELECT {_COLUMNS} FROM servers {where} ORDER BY c_code, unid", params
        ).fetchall()
        lists: dict[str, dict[str, list[str]]] = {}
        for table in ("applications", "environments"):
            by_code: dict[str, list[str]] = {}
            for row in self._db.execute(
                f"SELECT c_code, name FROM {table} {where} ORDER BY c_code, name", params
            ):
                by_code.setdefault(row["c_code"], []).append(row["name"])
            lists[table] = by_code
        return {
            "servers": [dict(row) for row in servers],
            "applications": lists["applications"],
            "environments": lists["environments"],
        }

    # -- writes --------------------------------------------------------------

    def update(self, c_code: str, unid: str, fields: Mapping[str, str]) -> Record:
        """Set some of application/environment/status on one record; return it.

        Raises :class:`RecordNotFound` when the unid is not in this C_Code and
        :class:`InvalidValue` for a status outside Build/Live/Available or a
        name missing from the C_Code's lists. ``last_modified`` becomes now.
        """
        unknown = sorted(set(fields) - set(UPDATABLE_FIELDS))
        if not fields or unknown:
            raise ValueError(f"fields must be some of {', '.join(UPDATABLE_FIELDS)}: {unknown}")
        with self._write() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM servers WHERE c_code = ? AND unid = ?", [c_code, unid]
            ).fetchone()
            if row is None:
                raise RecordNotFound(c_code, unid)
            self._check_values(c_code, fields)
            record: Record = dict(row)
            record.update(fields)
            record["last_modified"] = self._now()
            db.execute(
                "UPDATE servers SET application = ?, environment = ?, status = ?,"
                " last_modified = ? WHERE unid = ?",
                [
                    record["application"],
                    record["environment"],
                    record["status"],
                    record["last_modified"],
                    unid,
                ],
            )
        return record

    def _check_values(self, c_code: str, fields: Mapping[str, str]) -> None:
        status = fields.get("status")
        if status is not None and status not in STATUSES:
            raise InvalidValue("status", status, f"status {status!r} is not one of {', '.join(STATUSES)}")
        for field, table in (("application", "applications"), ("environment", "environments")):
            value = fields.get(field)
            if value is not None and value not in self._names(table, c_code):
                raise InvalidValue(
                    field, value, f"{field} {value!r} is not in the {table} of C_Code {c_code}"
                )

    def seed(self, data: Mapping[str, Any]) -> dict[str, int]:
        """Add (or replace, by unid) records and add application/environment names.

        ``data`` has the shape of SEED.json. It is all written in one
        transaction, or not at all: a ValueError lists every bad entry
        (``servers[3].status: ...``, the first hundred) and nothing is written.
        A server without ``unid`` gets a new random one, so seeding such a file
        twice adds its servers twice. Returns counts: ``servers_added``,
        ``servers_replaced``, ``servers_unchanged``, ``applications_added``,
        ``environments_added``.
        """
        if not isinstance(data, Mapping):
            raise ValueError("the seed must be a JSON object with servers/applications/environments")
        problems = [f"unknown key {key!r}" for key in sorted(set(data) - _SEED_KEYS)]
        servers = data.get("servers", [])
        if not isinstance(servers, list):
            problems.append("servers: must be a list of objects")
            servers = []
        return self._seed(servers, data.get("applications", {}), data.get("environments", {}), problems)

    def seed_servers(
        self,
        servers: Iterable[Mapping[str, Any]],
        *,
        applications: Mapping[str, list[str]] | None = None,
        environments: Mapping[str, list[str]] | None = None,
    ) -> dict[str, int]:
        """:meth:`seed` for inventories too big to hold whole: ``servers`` is read once, as it
        streams, in batches, so memory stays flat whatever their number. Same checks and counts."""
        return self._seed(servers, applications or {}, environments or {}, [])

    def _seed(
        self, servers: Iterable[object], applications: object, environments: object, problems: list[str]
    ) -> dict[str, int]:
        names = {
            table: _seed_names(value, table, problems)
            for table, value in (("applications", applications), ("environments", environments))
        }
        records = (
            record
            for index, entry in enumerate(servers)
            if (record := _seed_record(entry, index, problems)) is not None
        )
        # Entries are checked as they are written; any problem rolls the transaction back.
        (cache_size,) = self._db.execute("PRAGMA cache_size").fetchone()
        self._db.execute(f"PRAGMA cache_size=-{_SEED_CACHE_KIB}")
        try:
            with self._write() as db:
                writer = _SeedWriter(db, self._now(), problems)
                writer.add_names(names)
                while batch := list(islice(records, _SEED_BATCH)):
                    writer.add_servers(batch)
                if problems:
                    shown = problems[:_MAX_PROBLEMS]
                    more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
                    raise ValueError("invalid seed: " + "; ".join(shown) + more)
        finally:
            self._db.execute(f"PRAGMA cache_size={int(cache_size)}")
            self._pages.clear()
        return writer.counts


class _SeedWriter:
    """The writes of one seed, inside its transaction, a batch of servers at a time."""

    def __init__(self, db: sqlite3.Connection, now: str, problems: list[str]) -> None:
        self.db = db
        self.now = now
        self.problems = problems
        self.counts = dict.fromkeys(_SEED_COUNTS, 0)
        # Rows this seed writes get rowids above this one: finding such a row under a
        # unid about to be written means the seed names that unid twice. Records it
        # leaves unchanged are not rewritten, so those few unids are remembered instead.
        (self.before,) = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM servers").fetchone()
        self.unchanged: set[str] = set()

    def add_names(self, names: dict[str, list[tuple[str, str]]]) -> None:
        for table, pairs in names.items():
            for pair in pairs:
                cursor = self.db.execute(f"INSERT OR IGNORE INTO {table} (c_code, name) VALUES (?, ?)", pair)
                self.counts[f"{table}_added"] += cursor.rowcount

    def add_servers(self, batch: list[Record]) -> None:
        """Add or replace records; records equal to the stored ones are left alone."""
        unids = [record["unid"] for record in batch]
        olds = {
            row["unid"]: row
            for row in self.db.execute(
                f"SELECT rowid AS seed_rowid, {_COLUMNS} FROM servers"
                f" WHERE unid IN ({', '.join('?' * len(unids))})",
                unids,
            )
        }
        rows: list[list[str]] = []
        seen: set[str] = set()
        for record in batch:
            unid = record["unid"]
            row = olds.get(unid)
            if (
                unid in seen
                or unid in self.unchanged
                or (row is not None and row["seed_rowid"] > self.before)
            ):
                self.problems.append(f"unid {unid} appears more than once")
                continue
            seen.add(unid)
            old = None if row is None else {key: row[key] for key in RECORD_KEYS}
            if old is not None and old["c_code"] != record["c_code"]:
                # Moving a record between C_Codes is never what a seed means.
                self.problems.append(
                    f"unid {unid} already belongs to C_Code {old['c_code']}, not {record['c_code']}"
                )
                continue
            if not record["last_modified"]:
                # Not given: an unchanged record keeps its date, any other gets now.
                record["last_modified"] = old["last_modified"] if old is not None else self.now
            if old is not None and old == record:
                self.counts["servers_unchanged"] += 1
                self.unchanged.add(unid)
                continue
            if old is not None and record["last_modified"] == old["last_modified"]:
                record["last_modified"] = self.now
            self.counts["servers_replaced" if old is not None else "servers_added"] += 1
            rows.append([record[key] for key in RECORD_KEYS])
        self.db.executemany(
            f"INSERT OR REPLACE INTO servers ({_COLUMNS}) VALUES ({', '.join('?' * len(RECORD_KEYS))})",
            rows,
        )


def _seed_names(value: object, table: str, problems: list[str]) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        problems.append(f"{table}: must be an object mapping C_Code to a list of names")
        return []
    pairs: list[tuple[str, str]] = []
    for c_code, names in value.items():
        if not is_c_code(c_code):
            problems.append(f"{table}: {c_code!r} is not a C_Code")
        elif not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            problems.append(f"{table}.{c_code}: must be a list of non-empty strings")
        else:
            pairs += [(c_code, name) for name in names]
    return pairs


def _seed_record(entry: object, index: int, problems: list[str]) -> Record | None:
    """Server ``index`` of a SEED.json as a record, or None after noting its problems.

    ``last_modified`` is ``""`` when the entry has none. (A million-record seed
    spends most of its checking time here, hence the plain style.)
    """
    if not isinstance(entry, Mapping):
        problems.append(f"servers[{index}]: must be an object")
        return None
    found: list[str] = []  # each starts with ": " or ".<key>: ", after servers[i]
    if not _RECORD_KEY_SET.issuperset(entry):
        found += [f": unknown key {key!r}" for key in sorted(set(entry) - _RECORD_KEY_SET)]
    c_code, hostname, status = entry.get("c_code"), entry.get("hostname"), entry.get("status")
    if not isinstance(c_code, str) or not is_c_code(c_code):
        found.append(f".c_code: {c_code!r} is not a C_Code")
    short = hostname.strip().lower().split(".", 1)[0] if isinstance(hostname, str) else ""
    if not short or _SPACE.search(short):
        found.append(f".hostname: {hostname!r} is not a host name")
    if status not in STATUSES:
        found.append(f".status: {status!r} is not one of {', '.join(STATUSES)}")
    record: Record = {}
    for key in _OPTIONAL_TEXT:
        value = entry.get(key)
        if value.__class__ is not str:  # the common case costs one test
            if key == "device_id" and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)  # SoftLayer ids are numbers; JSON writers may not quote them
            if value is not None and not isinstance(value, str):
                found.append(f".{key}: must be a string")
        record[key] = value or ""
    unid = entry.get("unid")
    if unid is not None and (not isinstance(unid, str) or not _UNID.fullmatch(unid)):
        found.append(f".unid: {unid!r} is not a unid (letters, digits, _ or -)")
    last_modified = entry.get("last_modified")
    if last_modified is not None and not _is_timestamp(last_modified):
        found.append(f".last_modified: {last_modified!r} is not YYYY-MM-DDTHH:MM:SSZ")
    if found:
        problems += [f"servers[{index}]{problem}" for problem in found]
        return None
    full_name = str(hostname).strip().lower()
    if "." in full_name and not record["fqdn"]:
        record["fqdn"] = full_name  # an FQDN given as hostname is still the FQDN
    return {
        "unid": unid if isinstance(unid, str) else secrets.token_hex(8).upper(),
        "c_code": str(c_code),
        "hostname": short,
        **record,
        "status": str(status),
        "last_modified": last_modified or "",
    }


def _is_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    if _CANONICAL_TIMESTAMP.fullmatch(value):
        # strptime costs about 10 us, which is most of a million-record seed's checks.
        try:
            datetime.fromisoformat(value[:-1])
        except ValueError:
            return False
        return True
    try:
        datetime.strptime(value, _TIMESTAMP_FORMAT)
    except ValueError:
        return False
    return True

"""SQLite storage of the reference SOS server: server records and the
application/environment lists of each C_Code.

One ``sqlite3`` connection per :class:`Store`, used from one thread (the
server's event loop). Every write is one transaction, so a failed seed or
update leaves nothing half done. The database is in WAL mode, so ``dump`` and
``seed`` from another process work while the server runs.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
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
# The keys of a record, in the order of SPEC 4.2.
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
_C_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNID = re.compile(r"[A-Za-z0-9_-]{1,64}")
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

Record = dict[str, str]


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
        self._db.executescript(_SCHEMA)

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
        if page < 1 or page_size < 1:
            raise ValueError("page and page_size start at 1")
        where, params = "c_code = ?", [c_code]
        if hostname is not None:
            # Stored hostnames are lower-case, so this uses the index.
            where += " AND hostname = ?"
            params.append(hostname.lower())
        (total,) = self._db.execute(f"SELECT COUNT(*) FROM servers WHERE {where}", params).fetchone()
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM servers WHERE {where} ORDER BY unid LIMIT ? OFFSET ?",
            [*params, page_size, (page - 1) * page_size],
        ).fetchall()
        return int(total), [dict(row) for row in rows]

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

        ``data`` has the shape of SEED.json. It is checked whole first: a
        ValueError lists every bad entry (``servers[3].status: ...``) and
        nothing is written. A server without ``unid`` gets a new random one,
        so seeding such a file twice adds its servers twice. Returns counts:
        ``servers_added``, ``servers_replaced``, ``servers_unchanged``,
        ``applications_added``, ``environments_added``.
        """
        problems: list[str] = []
        if not isinstance(data, Mapping):
            raise ValueError("the seed must be a JSON object with servers/applications/environments")
        problems += [f"unknown key {key!r}" for key in sorted(set(data) - _SEED_KEYS)]
        names = {
            table: _seed_names(data.get(table, {}), table, problems)
            for table in ("applications", "environments")
        }
        servers = data.get("servers", [])
        records: list[Record] = []
        if isinstance(servers, list):
            for index, entry in enumerate(servers):
                record = _seed_record(entry, f"servers[{index}]", problems)
                if record is not None:
                    records.append(record)
        else:
            problems.append("servers: must be a list of objects")
        _check_unique_unids(records, problems)
        if problems:
            raise ValueError("invalid seed: " + "; ".join(problems))
        return self._write_seed(records, names)

    def _write_seed(self, records: list[Record], names: dict[str, list[tuple[str, str]]]) -> dict[str, int]:
        now = self._now()
        counts = dict.fromkeys(_SEED_COUNTS, 0)
        with self._write() as db:
            for table, pairs in names.items():
                for pair in pairs:
                    cursor = db.execute(f"INSERT OR IGNORE INTO {table} (c_code, name) VALUES (?, ?)", pair)
                    counts[f"{table}_added"] += cursor.rowcount
            for record in records:
                old = db.execute(
                    f"SELECT {_COLUMNS} FROM servers WHERE unid = ?", [record["unid"]]
                ).fetchone()
                if old is not None and old["c_code"] != record["c_code"]:
                    # Moving a record between C_Codes is never what a seed means.
                    raise ValueError(
                        f"invalid seed: unid {record['unid']} already belongs to "
                        f"C_Code {old['c_code']}, not {record['c_code']}"
                    )
                if not record["last_modified"]:
                    # Not given: an unchanged record keeps its date, any other gets now.
                    record["last_modified"] = old["last_modified"] if old is not None else now
                if old is not None and dict(old) == record:
                    counts["servers_unchanged"] += 1
                    continue
                if old is not None and record["last_modified"] == old["last_modified"]:
                    record["last_modified"] = now
                counts["servers_replaced" if old is not None else "servers_added"] += 1
                db.execute(
                    f"INSERT OR REPLACE INTO servers ({_COLUMNS})"
                    f" VALUES ({', '.join('?' * len(RECORD_KEYS))})",
                    [record[key] for key in RECORD_KEYS],
                )
        return counts


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


def _seed_record(entry: object, where: str, problems: list[str]) -> Record | None:
    """One SEED.json server as a record, or None after noting its problems.

    ``last_modified`` is ``""`` when the entry has none.
    """
    if not isinstance(entry, Mapping):
        problems.append(f"{where}: must be an object")
        return None
    found: list[str] = []
    found += [f"{where}: unknown key {key!r}" for key in sorted(set(entry) - set(RECORD_KEYS))]
    c_code, hostname, status = entry.get("c_code"), entry.get("hostname"), entry.get("status")
    if not isinstance(c_code, str) or not is_c_code(c_code):
        found.append(f"{where}.c_code: {c_code!r} is not a C_Code")
    short = hostname.strip().lower().split(".", 1)[0] if isinstance(hostname, str) else ""
    if not short or any(char.isspace() for char in short):
        found.append(f"{where}.hostname: {hostname!r} is not a host name")
    if status not in STATUSES:
        found.append(f"{where}.status: {status!r} is not one of {', '.join(STATUSES)}")
    record: Record = {}
    for key in _OPTIONAL_TEXT:
        value = entry.get(key)
        if key == "device_id" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # SoftLayer ids are numbers; JSON writers may not quote them
        if value is not None and not isinstance(value, str):
            found.append(f"{where}.{key}: must be a string")
        record[key] = value or ""
    unid = entry.get("unid")
    if unid is not None and (not isinstance(unid, str) or not _UNID.fullmatch(unid)):
        found.append(f"{where}.unid: {unid!r} is not a unid (letters, digits, _ or -)")
    last_modified = entry.get("last_modified")
    if last_modified is not None and not _is_timestamp(last_modified):
        found.append(f"{where}.last_modified: {last_modified!r} is not YYYY-MM-DDTHH:MM:SSZ")
    if found:
        problems += found
        return None
    full_name = str(hostname).strip().lower()
    if "." in full_name and not record["fqdn"]:
        record["fqdn"] = full_name  # an FQDN given as hostname is still the FQDN
    record.update(
        unid=unid if isinstance(unid, str) else secrets.token_hex(8).upper(),
        c_code=str(c_code),
        hostname=short,
        status=str(status),
        last_modified=last_modified or "",
    )
    return {key: record[key] for key in RECORD_KEYS}


def _is_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.strptime(value, _TIMESTAMP_FORMAT)
    except ValueError:
        return False
    return True


def _check_unique_unids(records: list[Record], problems: list[str]) -> None:
    seen: set[str] = set()
    for record in records:
        if record["unid"] in seen:
            problems.append(f"unid {record['unid']} appears more than once")
        seen.add(record["unid"])

"""An inventory held in memory: the second Inventory implementation (inventory/protocol.py).

For a plan made offline against a copy of the inventory (``inventory.api: memory`` with
``inventory.url: file:///path/dump.json``, a ``server dump`` or a SEED.json), and for a
library caller or a test that wants the whole job without a service. It keeps the API's
contract where it matters to a run: unknown applications and environments and statuses
other than Build, Live and Available are rejected (422), an unknown unid is 404. Writes
change the records in memory only: the file is never written.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import unquote, urlsplit

from sos_inventory.config import Config, Credentials
from sos_inventory.config.files import FileKind, read_text
from sos_inventory.errors import ConfigError, SosRejected, UnreadableFile
from sos_inventory.inventory.protocol import InventoryRead, QueryStrategy, ReadTick, RequestCounts
from sos_inventory.model import WRITABLE_FIELDS, Change, KnownNames, ServerRecord, Status

if TYPE_CHECKING:
    from sos_inventory.inventory import InventorySettings

#: The largest dump read (a million records is about 400 MB of JSON).
MAX_DUMP = 2 << 30
DUMP = FileKind("inventory dump", MAX_DUMP)


class MemoryInventory:
    """Records and known names of any number of C_Codes, read and written in memory."""

    def __init__(self, records: Iterable[ServerRecord], known: Mapping[str, KnownNames]) -> None:
        self._records: dict[tuple[str, str], ServerRecord] = {(r.c_code, r.unid): r for r in records}
        self._known = dict(known)
        self._counts: dict[str, int] = {}

    @classmethod
    def opened(cls, config: Config, credentials: Credentials, settings: InventorySettings) -> MemoryInventory:
        """The implementation of ``inventory.api: memory``: the dump that ``inventory.url`` names."""
        return cls.from_file(config.inventory_url)

    @classmethod
    def from_file(cls, url: str) -> MemoryInventory:
        """The inventory of a ``file://`` URL naming a ``server dump`` or a SEED.json."""
        path = Path(unquote(urlsplit(url).path))
        try:
            data = json.loads(read_text(path, DUMP))
        except (UnreadableFile, ValueError) as exc:
            raise ConfigError(
                f"inventory.url {path}: cannot read the inventory dump: {exc}",
                action="Point inventory.url at the file:// path of a `sos-inventory server dump` output "
                "or a SEED.json (inventory.api: memory).",
            ) from None
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Any) -> MemoryInventory:
        """From ``{"servers": [...], "applications": {C_CODE: [...]}, "environments": {...}}``."""
        from sos_inventory.inventory.sos.client import record_from_item  # the API's own item shape

        if not isinstance(data, Mapping) or not isinstance(data.get("servers"), list):
            raise ConfigError("the inventory dump must hold a 'servers' list (`server dump` or SEED.json)")
        records = []
        for index, item in enumerate(data["servers"]):
            try:
                records.append(record_from_item(item, str(item.get("c_code", ""))))
            except (ValueError, AttributeError) as exc:
                raise ConfigError(f"the inventory dump's servers[{index}] is not a record: {exc}") from None
        names: dict[str, KnownNames] = {}
        for c_code in {r.c_code for r in records} | set(data.get("applications") or {}):
            names[c_code] = KnownNames(
                frozenset(map(str, (data.get("applications") or {}).get(c_code, ()))),
                frozenset(map(str, (data.get("environments") or {}).get(c_code, ()))),
            )
        return cls(records, names)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None

    def _count(self, kind: str) -> None:
        self._counts[kind] = self._counts.get(kind, 0) + 1

    def _of(self, c_code: str) -> list[ServerRecord]:
        return sorted((r for (code, _), r in self._records.items() if code == c_code), key=lambda r: r.unid)

    async def read(
        self,
        c_code: str,
        *,
        machines_at_most: int,
        hostnames: Callable[[], Awaitable[Sequence[str]]],
        strategy: QueryStrategy,
        tick: ReadTick,
    ) -> InventoryRead:
        self._count("query")
        tick(0)
        records = self._of(c_code)
        known = self._known.get(c_code, KnownNames(frozenset(), frozenset()))
        return InventoryRead(records, known, len(records))

    async def records_of(self, c_code: str, hostnames: Sequence[str]) -> list[ServerRecord]:
        wanted = {hostname.lower() for hostname in hostnames}
        self._count("query")
        return [r for r in self._of(c_code) if r.hostname in wanted]

    async def size(self, c_code: str) -> int:
        self._count("query")
        return len(self._of(c_code))

    async def known(self, c_code: str) -> KnownNames:
        self._count("query")
        return self._known.get(c_code, KnownNames(frozenset(), frozenset()))

    async def update(self, change: Change) -> ServerRecord:
        self._count("update")
        record = self._records.get((change.c_code, change.unid))
        if record is None:
            raise _rejected(change, 404, "not_found", f"no record {change.unid}")
        known = self._known.get(change.c_code, KnownNames(frozenset(), frozenset()))
        allowed = {
            "application": known.applications,
            "environment": known.environments,
            "status": set(Status),
        }
        for name, value in change.after.items():
            if name not in WRITABLE_FIELDS or value not in allowed[name]:
                message = f"{name} {value!r} is not known to C_Code {change.c_code}"
                raise _rejected(change, 422, "invalid_value", message)
        updated = record._replace(**dict(change.after))
        self._records[(change.c_code, change.unid)] = updated
        return updated

    def counts(self) -> RequestCounts:
        return RequestCounts(sum(self._counts.values()), 0, dict(self._counts))

    def records(self) -> list[ServerRecord]:
        """Every record as it stands now, by C_Code and unid."""
        return sorted(self._records.values(), key=lambda r: (r.c_code, r.unid))


def _rejected(change: Change, status: int, code: str, message: str) -> SosRejected:
    """The error the API gives for a write it refuses (docs/sos-api.md)."""
    return SosRejected(
        f"HTTP {status} {code}: {message}",
        status=status,
        code=code,
        operation="update",
        c_code=change.c_code,
        hostname=change.hostname,
        unid=change.unid,
    )

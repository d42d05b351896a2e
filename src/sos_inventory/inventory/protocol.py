"""The seam between the sync and the inventory it keeps in step: what the run needs of one.

The engine (sync/engine.py), the plan, apply, the reports and the ledger know this protocol
and the values below, never an API: the SOS client (inventory/sos/) is one implementation,
an in-memory inventory (inventory/memory.py) another, and config's ``inventory.api`` picks one
(inventory/__init__.py). How an implementation reads (whole inventories page by page, or one
query per hostname) is its own business: the engine only says how many machines the exports
hold at most, and hands over their hostnames when it has them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol, Self

from sos_inventory.model import Change, KnownNames, ServerRecord

QueryStrategy = Literal["auto", "bulk", "per-host"]

#: ``tick(more_expected)``: an implementation says how many reads it has planned (``more_expected``
#: > 0) and that one finished (0), for the progress of the reading phase.
ReadTick = Callable[[int], None]


@dataclass(slots=True)
class InventoryRead:
    """What a run read of one C_Code's inventory."""

    records: list[ServerRecord]
    known: KnownNames
    total: int  # the inventory's size, however much of it was read
    partial: bool = False  # only the exports' hostnames were read: no orphan can be told


@dataclass(slots=True)
class RequestCounts:
    """The requests a run made of its inventory, retries included, by kind (query, update)."""

    attempts: int = 0
    retries: int = 0
    by_kind: Mapping[str, int] = field(default_factory=dict)


class Inventory(Protocol):
    """One inventory, opened for a run (``async with``)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...

    async def read(
        self,
        c_code: str,
        *,
        machines_at_most: int,
        hostnames: Callable[[], Awaitable[Sequence[str]]],
        strategy: QueryStrategy,
        tick: ReadTick,
    ) -> InventoryRead:
        """Everything the plan needs of one C_Code, read from the moment the run starts.

        ``machines_at_most`` bounds the exports' machines of this C_Code before they are
        parsed; ``hostnames()`` gives them once they are (only an implementation that reads
        host by host needs to wait for it)."""
        ...

    async def records_of(self, c_code: str, hostnames: Sequence[str]) -> list[ServerRecord]:
        """The records of these hostnames, read now (a reviewed plan's re-reads)."""
        ...

    async def size(self, c_code: str) -> int:
        """How many records the C_Code's inventory holds."""
        ...

    async def known(self, c_code: str) -> KnownNames:
        """The applications and environments the C_Code's inventory knows (a reviewed plan's or an
        undo's values are checked against them before any write)."""
        ...

    async def update(self, change: Change) -> ServerRecord:
        """Write the change's ``after`` values; the record as the inventory now has it."""
        ...

    def counts(self) -> RequestCounts:
        """The requests made so far."""
        ...

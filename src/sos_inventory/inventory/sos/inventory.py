"""The SOS inventory as an Inventory (inventory/protocol.py): the wire client, its resilience, and
the choice between reading a whole inventory page by page and querying the exports' hostnames.

A run on a few machines of a big inventory (one export file against a million records) costs a
query per hostname rather than a thousand pages: ``auto`` picks whichever takes fewer requests,
deciding on page 1's ``total`` and a bound on the machines the exports can hold, so that the
pages of an inventory worth reading whole are asked for while the exports are still parsed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypeVar, cast

from sos_inventory.config import Config, Credentials
from sos_inventory.inventory.protocol import InventoryRead, QueryStrategy, ReadTick, RequestCounts
from sos_inventory.inventory.resilience import Resilience, gather_or_cancel
from sos_inventory.inventory.sos.client import SosClient
from sos_inventory.model import Change, KnownNames, ServerRecord

if TYPE_CHECKING:
    from sos_inventory.inventory import InventorySettings

log = logging.getLogger(__name__)
T = TypeVar("T")
_UNKNOWN = KnownNames(frozenset(), frozenset())  # until the names' own reads answer


def choose_strategy(strategy: QueryStrategy, hosts: int, total: int, page_size: int) -> QueryStrategy:
    """``auto``: per-host queries when they take fewer requests than the remaining pages."""
    if strategy != "auto":
        return strategy
    remaining_pages = max(0, math.ceil(total / page_size) - 1)
    return "per-host" if hosts < remaining_pages else "bulk"


class SosInventory:
    """One SOS inventory service for one run, over one client (``async with``)."""

    def __init__(
        self,
        config: Config,
        credentials: Credentials,
        *,
        concurrency: int,
        deadline: float | None,
        max_rps: float | None = None,
    ) -> None:
        """``deadline``: the monotonic time after which no request starts (None: none)."""
        self.resilience = Resilience(config.retry, deadline=deadline)
        self.client = SosClient(
            config.inventory_url,
            credentials,
            concurrency=concurrency,
            page_size=config.page_size,
            timeout=config.timeout,
            resilience=self.resilience,
            max_rps=max_rps,
            ca_bundle=None if config.ca_bundle is None else str(config.ca_bundle),
            max_body=config.max_body,
        )

    @classmethod
    def opened(cls, config: Config, credentials: Credentials, settings: InventorySettings) -> SosInventory:
        """The implementation of ``inventory.api: sos`` (inventory/__init__.py)."""
        return cls(
            config,
            credentials,
            concurrency=settings.concurrency,
            deadline=settings.deadline,
            max_rps=settings.max_rps,
        )

    async def __aenter__(self) -> Self:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.client.__aexit__(kind, error, trace)

    async def read(
        self,
        c_code: str,
        *,
        machines_at_most: int,
        hostnames: Callable[[], Awaitable[Sequence[str]]],
        strategy: QueryStrategy,
        tick: ReadTick,
    ) -> InventoryRead:
        """The C_Code's known names and its records: every page, or the exports' hostnames' records.

        When even ``machines_at_most`` hostnames would take more requests than the pages, the
        pages are read at once, while the exports are parsed; otherwise the read waits for the
        hostnames and queries each.
        """
        known, read = await gather_or_cancel(
            self._names(c_code), self._records(c_code, machines_at_most, hostnames, strategy, tick)
        )
        return replace(cast(InventoryRead, read), known=cast(KnownNames, known))

    async def _names(self, c_code: str) -> KnownNames:
        applications, environments = await gather_or_cancel(
            self.client.applications(c_code), self.client.environments(c_code)
        )
        return KnownNames(applications, environments)

    async def _records(
        self,
        c_code: str,
        machines_at_most: int,
        hostnames: Callable[[], Awaitable[Sequence[str]]],
        strategy: QueryStrategy,
        tick: ReadTick,
    ) -> InventoryRead:
        # Forced per-host needs only the inventory's size (the safety ratios use it): a 1-record page.
        first = await self.client.page(c_code, 1, size=1 if strategy == "per-host" else None)
        total = first[0]
        tick(0)
        if choose_strategy(strategy, machines_at_most, total, self.client.page_size) == "per-host":
            # The machines are at most that many: per-host stays the cheaper way, whatever their number.
            names = sorted(set(await hostnames()))
            log.info(
                "%s: %d machine(s) in a %d-record inventory: per-host queries", c_code, len(names), total
            )
            tick(len(names))
            found = await gather_or_cancel(*(_ticked(self.client.records_of(c_code, h), tick) for h in names))
            return InventoryRead([r for records in found for r in records], _UNKNOWN, total, partial=True)
        tick(max(0, math.ceil(total / self.client.page_size) - 1))
        records = await self.client.fetch_inventory(c_code, first, on_page=lambda: tick(0))
        return InventoryRead(records, _UNKNOWN, total)

    async def records_of(self, c_code: str, hostnames: Sequence[str]) -> list[ServerRecord]:
        found = await gather_or_cancel(*(self.client.records_of(c_code, host) for host in hostnames))
        return [record for records in found for record in records]

    async def size(self, c_code: str) -> int:
        total, _ = await self.client.page(c_code, 1, size=1)
        return total

    async def known(self, c_code: str) -> KnownNames:
        return await self._names(c_code)

    async def update(self, change: Change) -> ServerRecord:
        return await self.client.update(change.c_code, change.unid, change.after, hostname=change.hostname)

    def counts(self) -> RequestCounts:
        resilience = self.resilience
        return RequestCounts(resilience.attempts, resilience.retries, dict(resilience.attempts_by_kind))


async def _ticked(work: Awaitable[T], tick: ReadTick) -> T:
    result = await work
    tick(0)
    return result

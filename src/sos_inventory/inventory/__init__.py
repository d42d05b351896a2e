"""The inventory the job keeps in step: the Inventory protocol (protocol.py) and its implementations.

``inventory.api`` in the config names one (default ``sos``); an implementation's module is
imported only when a run opens it (the SOS client's aiohttp costs a tenth of a second).
Adding one: a module with a class that takes ``(config, credentials, settings)``, and a line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from sos_inventory.config import Config, Credentials
from sos_inventory.inventory.protocol import Inventory

#: ``inventory.api`` -> "module:Class" of the implementation.
IMPLEMENTATIONS: dict[str, str] = {
    "sos": "sos_inventory.inventory.sos.inventory:SosInventory",
    "memory": "sos_inventory.inventory.memory:MemoryInventory",
}


@dataclass(frozen=True, slots=True)
class InventorySettings:
    """How a run uses its inventory, beyond the config."""

    concurrency: int = 8  # requests in flight
    deadline: float | None = None  # the monotonic time after which no request starts
    max_rps: float | None = None  # at most this many requests a second


def open_inventory(config: Config, credentials: Credentials, settings: InventorySettings) -> Inventory:
    """The implementation ``inventory.api`` names, for one run (to be used with ``async with``)."""
    module, _, name = IMPLEMENTATIONS[config.inventory_api].partition(":")
    implementation = getattr(importlib.import_module(module), name)
    opened: Inventory = implementation.opened(config, credentials, settings)
    return opened

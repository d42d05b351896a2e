"""Keep the SOS security-compliance inventory in step with the real fleet.

The public API, for a run from Python as the ``sos-inventory`` command does it::

    from sos_inventory import RunRequest, credentials_from_env, load_config, run

    config = load_config("sos-inventory.yaml")
    report = run(RunRequest("plan", config, credentials_from_env(), now=datetime.now(UTC)))
    report.exit_code, report.counts(), [change.to_dict() for change in report.plan.changes]

:func:`run` takes one :class:`RunRequest` (the exports, a reviewed plan, or a run to undo; the
run clock; the options) and returns the :class:`RunReport`; it never prints or exits. An
:class:`Inventory` (the SOS API by default, a :class:`MemoryInventory` for an offline run) and
a :class:`StateStore` (``open_store``) may be given to it. docs/architecture.md draws the rest.

The names are loaded when first used: the command line imports this package before anything
else (its signal handling comes first), so importing it loads only the ground floor's values.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sos_inventory.model import VERSION as __version__

#: Public name -> the module that defines it.
_PUBLIC = {
    "run": "sos_inventory.session",
    "RunRequest": "sos_inventory.session",
    "Exports": "sos_inventory.session",
    "ReviewedPlan": "sos_inventory.session",
    "Undo": "sos_inventory.session",
    "RunReport": "sos_inventory.report.run",
    "Config": "sos_inventory.config",
    "Credentials": "sos_inventory.config",
    "load_config": "sos_inventory.config",
    "credentials_from_env": "sos_inventory.config",
    "Inventory": "sos_inventory.inventory.protocol",
    "MemoryInventory": "sos_inventory.inventory.memory",
    "StateStore": "sos_inventory.state.store",
    "open_store": "sos_inventory.state",
    "Change": "sos_inventory.model",
    "Problem": "sos_inventory.model",
    "ExitCode": "sos_inventory.model",
    "SosInventoryError": "sos_inventory.errors",
    "ConfigError": "sos_inventory.errors",
    "InputError": "sos_inventory.errors",
    "SosError": "sos_inventory.errors",
}

__all__ = [
    "Change",
    "Config",
    "ConfigError",
    "Credentials",
    "ExitCode",
    "Exports",
    "InputError",
    "Inventory",
    "MemoryInventory",
    "Problem",
    "ReviewedPlan",
    "RunReport",
    "RunRequest",
    "SosError",
    "SosInventoryError",
    "StateStore",
    "Undo",
    "__version__",
    "credentials_from_env",
    "load_config",
    "open_store",
    "run",
]

if TYPE_CHECKING:
    from sos_inventory.config import Config, Credentials, credentials_from_env, load_config
    from sos_inventory.errors import ConfigError, InputError, SosError, SosInventoryError
    from sos_inventory.inventory.memory import MemoryInventory
    from sos_inventory.inventory.protocol import Inventory
    from sos_inventory.model import Change, ExitCode, Problem
    from sos_inventory.report.run import RunReport
    from sos_inventory.session import Exports, ReviewedPlan, RunRequest, Undo, run
    from sos_inventory.state import open_store
    from sos_inventory.state.store import StateStore


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'sos_inventory' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

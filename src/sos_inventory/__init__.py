"""Keep the SOS security-compliance inventory in step with the real fleet.

The library reads Netint devices.csv exports (:mod:`.devices`), decides each
machine's owner and Status (:mod:`.ownership`), compares with the SOS
inventory (:mod:`.sos.client`, :mod:`.plan`) and applies the differences
(:mod:`.apply`). The ``sos-inventory`` command (:mod:`.cli`) drives it.
"""

from __future__ import annotations

from sos_inventory.errors import ConfigError, InputError, SosError, SosInventoryError

__version__ = "0.1.0"

__all__ = ["ConfigError", "InputError", "SosError", "SosInventoryError", "__version__"]

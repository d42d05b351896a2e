"""``python -m sos_inventory``: the same as the ``sos-inventory`` command."""

from __future__ import annotations

import sys

from sos_inventory.console import main

sys.exit(main())

"""The ``sos-inventory`` console script.

SIGINT and SIGTERM are caught from its first moment, before the command line
and the libraries it needs are imported (over half a second on a busy machine):
a signal that comes then is recorded, and the command stops, with its report,
as soon as it can (see :mod:`sos_inventory.interrupts`).
"""

from __future__ import annotations


def main() -> int:
    """Install the signal handling, then load and run the command line."""
    from sos_inventory.interrupts import Interrupts

    interrupts = Interrupts()
    interrupts.install()
    from sos_inventory.cli import main as cli_main

    return cli_main(interrupts=interrupts)

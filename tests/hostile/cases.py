"""The registry of hostile cases: ``@case`` adds a function that builds one :class:`Run`."""

from __future__ import annotations

from collections.abc import Callable

from tests.hostile.harness import Context, Run

Maker = Callable[[Context], Run]


def registry() -> tuple[dict[str, Maker], Callable[[Maker], Maker]]:
    """A dict of cases and the decorator that fills it (named after the function)."""
    cases: dict[str, Maker] = {}

    def case(make: Maker) -> Maker:
        cases[make.__name__] = make
        return make

    return cases, case

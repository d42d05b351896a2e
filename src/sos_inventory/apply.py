"""Run a Plan's changes with bounded concurrency; record one outcome per change.

A change that fails does not stop the others. Only an error that no later
request can avoid (credentials refused: :class:`~sos_inventory.errors.SosAuthError`)
stops the run; changes not attempted then keep the outcome ``planned``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sos_inventory.errors import SosAuthError, SosError, SosProtocolError
from sos_inventory.model import ServerRecord
from sos_inventory.plan import Change

log = logging.getLogger(__name__)

OutcomeKind = Literal["planned", "applied", "failed"]
Updater = Callable[[Change], Awaitable[ServerRecord]]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one change."""

    change: Change
    outcome: OutcomeKind
    error: SosError | None = None


@dataclass(slots=True)
class ApplyResult:
    """Outcomes in plan order, and the error that stopped the run, if any."""

    outcomes: list[Outcome] = field(default_factory=list)
    stopped_by: SosError | None = None

    def count(self, kind: OutcomeKind) -> int:
        return sum(1 for o in self.outcomes if o.outcome == kind)


def planned(changes: Iterable[Change]) -> list[Outcome]:
    """Outcomes of a plan that was not applied."""
    return [Outcome(change, "planned") for change in changes]


def _check_written(change: Change, record: ServerRecord) -> None:
    """The API's answer must show the values we wrote; anything else is not a success."""
    wrong = {name: record.field(name) for name, value in change.after.items() if record.field(name) != value}
    if wrong:
        raise SosProtocolError(
            f"the update answered 200 but the record shows {wrong}, not {dict(change.after)}",
            operation="update",
            c_code=change.c_code,
            hostname=change.hostname,
            unid=change.unid,
        )


async def apply_changes(changes: Sequence[Change], update: Updater, *, concurrency: int = 8) -> ApplyResult:
    """Apply every change with at most ``concurrency`` in flight; never raises SosError."""
    results: list[Outcome | None] = [None] * len(changes)
    result = ApplyResult()
    pending = iter(range(len(changes)))
    done = 0
    started = last_report = time.monotonic()

    async def worker() -> None:
        nonlocal done, last_report
        for index in pending:
            if result.stopped_by is not None:
                return
            change = changes[index]
            try:
                _check_written(change, await update(change))
                results[index] = Outcome(change, "applied")
            except SosAuthError as exc:
                results[index] = Outcome(change, "failed", exc)
                result.stopped_by = exc
                return
            except SosError as exc:
                log.warning("%s %s (%s): %s", change.c_code, change.hostname, change.unid, exc)
                results[index] = Outcome(change, "failed", exc)
            done += 1
            now = time.monotonic()
            if now - last_report >= 5:
                last_report = now
                log.info("applied %d/%d changes (%.0f/s)", done, len(changes), done / (now - started))

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(changes))))))
    result.outcomes = [r if r is not None else Outcome(changes[i], "planned") for i, r in enumerate(results)]
    return result

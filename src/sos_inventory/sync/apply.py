"""Run a Plan's changes with bounded concurrency; record one outcome per change.

A change that fails does not stop the others. The run stops early only when no
later request can succeed or the run must end: credentials refused
(:class:`~sos_inventory.errors.SosAuthError`), the inventory down (circuit
breaker open), the deadline passed, or a signal. Changes not attempted then get
the outcome ``not_attempted``. Changes that failed for a transient reason get a second
chance at the end of the run, when it is still allowed to go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sos_inventory.errors import (
    RunStopped,
    SosAuthError,
    SosError,
    SosInventoryError,
    SosProtocolError,
    SosTlsError,
    StateError,
    is_transient,
)
from sos_inventory.model import Change, Progress, ServerRecord, no_progress

log = logging.getLogger(__name__)

#: README, Reports; ``planned`` only in a plan that was not (yet) applied; ``stale``: a reviewed plan's
#: change whose record no longer held its before values (README, Evidence); ``unknown``: a change whose
#: request was sent (its pending row written) and whose answer the run never had (cancelled in
#: flight): it may have landed, and the ledger holds it as pending.
OutcomeKind = Literal["planned", "applied", "failed", "not_attempted", "stale", "unknown"]
Updater = Callable[[Change], Awaitable[ServerRecord]]
StopCheck = Callable[[], RunStopped | None]

#: The phases told to the progress.
APPLYING, SECOND_CHANCE = "applying", "applying again"


class Recorder(Protocol):
    """Evidence of each request: told before it is sent and after its answer (the ledger)."""

    def pending(self, change: Change) -> int:
        """Record the change as about to be sent; a token for ``settled``. StateError stops the run
        before this write: no request is sent without its record."""
        ...

    def settled(self, token: int, change: Change, outcome: str, error: str | None = None) -> None:
        """Record what became of the request: applied, failed or not_attempted."""
        ...


class _NoRecord:
    def pending(self, change: Change) -> int:
        return 0

    def settled(self, token: int, change: Change, outcome: str, error: str | None = None) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one change."""

    change: Change
    outcome: OutcomeKind
    error: SosError | None = None


@dataclass(slots=True)
class ApplyResult:
    """Outcomes in plan order, and what stopped the run early, if anything."""

    outcomes: list[Outcome] = field(default_factory=list)
    stopped_by: SosInventoryError | None = None  # SosAuthError, SosTlsError, RunStopped or StateError
    second_chance: int = 0  # changes tried again at the end
    recovered: int = 0  # ... of which applied then

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


def _no_stop() -> RunStopped | None:
    return None


@dataclass(slots=True)
class _Applier:
    changes: Sequence[Change]
    update: Updater
    concurrency: int
    stop: StopCheck
    result: ApplyResult
    outcomes: list[Outcome]
    progress: Progress
    record: Recorder

    async def run(self, indices: Sequence[int], phase: str) -> None:
        """Apply ``changes[i]`` for i in ``indices``, writing into ``outcomes[i]``."""
        pending = iter(indices)
        done = 0
        result = self.result
        self.progress(phase, 0, len(indices))

        async def worker() -> None:
            nonlocal done
            for index in pending:
                if result.stopped_by is None:
                    result.stopped_by = self.stop()
                if result.stopped_by is not None:
                    return
                change = self.changes[index]
                # No write without evidence: a ledger that cannot record this request stops the run
                # here, and no later request starts.
                try:
                    token = self.record.pending(change)
                except StateError as exc:
                    result.stopped_by = result.stopped_by or exc
                    return
                before = self.outcomes[index]
                self.outcomes[index] = Outcome(change, "unknown")  # sent: until its answer comes
                try:
                    _check_written(change, await self.update(change))
                    self.outcomes[index] = Outcome(change, "applied")
                    self._settle(token, change, "applied")
                except (SosAuthError, SosTlsError) as exc:
                    self.outcomes[index] = Outcome(change, "failed", exc)
                    self._settle(token, change, "failed", str(exc))
                    result.stopped_by = exc
                    return
                except RunStopped as exc:  # raised before the request was sent
                    self.outcomes[index] = before
                    self._settle(token, change, "not_attempted", str(exc))
                    result.stopped_by = result.stopped_by or exc
                    return
                except SosError as exc:
                    log.warning(
                        "%s %s (%s): %s",
                        change.c_code,
                        change.hostname,
                        change.unid,
                        exc,
                        extra={"c_code": change.c_code, "hostname": change.hostname, "unid": change.unid},
                    )
                    self.outcomes[index] = Outcome(change, "failed", exc)
                    self._settle(token, change, "failed", str(exc))
                done += 1
                self.progress(phase, done, len(indices))

        await asyncio.gather(*(worker() for _ in range(max(1, min(self.concurrency, len(indices))))))

    def _settle(self, token: int, change: Change, outcome: str, error: str | None = None) -> None:
        """Record an answer; a ledger that cannot take it stops the run (the answer stays in the
        outcomes: the report has it, the ledger holds the change as pending)."""
        try:
            self.record.settled(token, change, outcome, error)
        except StateError as exc:
            self.result.stopped_by = self.result.stopped_by or exc


async def apply_changes(
    changes: Sequence[Change],
    update: Updater,
    *,
    concurrency: int = 8,
    stop: StopCheck = _no_stop,
    second_chance: bool = True,
    progress: Progress = no_progress,
    record: Recorder | None = None,
) -> ApplyResult:
    """Apply every change with at most ``concurrency`` in flight; never raises SosError.

    ``record`` is told of each request before it is sent and after its answer.
    """
    result = ApplyResult()
    applier = _Applier(
        changes, update, concurrency, stop, result, planned(changes), progress, record or _NoRecord()
    )
    try:
        await applier.run(range(len(changes)), APPLYING)
    except asyncio.CancelledError:
        # A second signal cancels the writes in flight: they may have landed (``unknown``), and the
        # result must say so rather than be lost with the task.
        result.stopped_by = result.stopped_by or stop() or RunStopped("the writes in flight were cancelled")
        result.outcomes = not_attempted(applier.outcomes)
        return result
    outcomes = applier.outcomes
    retry = [i for i, o in enumerate(outcomes) if o.outcome == "failed" and o.error and is_transient(o.error)]
    if second_chance and retry and result.stopped_by is None:
        log.info("second chance for %d change(s) that failed transiently", len(retry))
        result.second_chance = len(retry)
        # A change this pass does not reach (the run stopped) keeps its first failure.
        try:
            await applier.run(retry, SECOND_CHANCE)
        except asyncio.CancelledError:
            result.stopped_by = (
                result.stopped_by or stop() or RunStopped("the writes in flight were cancelled")
            )
        result.recovered = sum(1 for i in retry if outcomes[i].outcome == "applied")
    result.outcomes = not_attempted(outcomes)
    return result


def not_attempted(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """The outcomes of a run that has ended: a change still only planned was never attempted."""
    return [Outcome(o.change, "not_attempted") if o.outcome == "planned" else o for o in outcomes]

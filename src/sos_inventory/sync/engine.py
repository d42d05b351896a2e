"""The sync, end to end: read the exports and the inventories at once, plan, check, apply.

It knows the Inventory protocol (inventory/protocol.py), never an API; run.py calls it with
the request's inventory and evidence recorder. It never prints or exits.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from sos_inventory.config import Config, Credentials
from sos_inventory.errors import DeadlineExceeded, Interrupted, PlanFileError, RunStopped, SosInventoryError
from sos_inventory.interrupts import Interrupts
from sos_inventory.inventory import InventorySettings, open_inventory
from sos_inventory.inventory.protocol import Inventory, QueryStrategy
from sos_inventory.inventory.resilience import gather_or_cancel
from sos_inventory.model import Category, Change, KnownNames, Problem, Progress, ServerRecord, no_progress
from sos_inventory.redact import untrusted
from sos_inventory.sync import safety
from sos_inventory.sync.apply import ApplyResult, Outcome, Recorder, apply_changes
from sos_inventory.sync.devices import DeviceSet, DevicesFile, gc_paused, loading, log_read
from sos_inventory.sync.plan import Plan, build_plan

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The phases told to RunOptions.progress.
READING_EXPORTS, READING_INVENTORY, PLANNING = "reading exports", "reading inventory", "planning"


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a run was asked to do, beyond the config."""

    now: datetime
    concurrency: int = 8
    deadline: float | None = None  # seconds from the start of the inventory work
    force: bool = False
    overrides: tuple[str, ...] = ()
    reason: str | None = None  # why the guards are overridden (--reason), recorded with the verdict
    query_strategy: QueryStrategy = "auto"
    max_rps: float | None = None  # cap on requests per second to a shared API
    progress: Progress = no_progress  # told how far reading, planning and applying got
    record: Recorder | None = None  # the evidence of each write (the ledger)
    review: Callable[[Plan], Plan] | None = None  # a last look at the plan before the guards (drift)


@dataclass(slots=True)
class RunResult:
    """What a plan or update run produced (fields stay None when the run stopped before)."""

    plan: Plan | None = None
    verdict: safety.Verdict | None = None
    applied: ApplyResult | None = None
    attempts: int = 0  # HTTP attempts, retries included
    retries: int = 0
    # Why the run stopped before it could plan (or apply): InputError, ConfigError (a rule value
    # the inventory does not know), SosError, RunStopped. Counts above stay right.
    error: SosInventoryError | None = None
    attempts_by_kind: dict[str, int] = field(default_factory=dict)  # query, update
    warnings: list[str] = field(default_factory=list)  # what a person should know that is no failure


async def _read_devices_stepwise(
    files: Sequence[DevicesFile], config: Config, progress: Progress, rows: int | None
) -> DeviceSet:
    """read_devices inside the event loop: requests in flight progress between steps.

    ``rows`` bounds the rows to read (None: unknown), for the progress only.
    """
    device_set = DeviceSet()
    for _ in loading(files, config, device_set):
        progress(READING_EXPORTS, device_set.rows, None if rows is None else max(rows, device_set.rows))
        await asyncio.sleep(0)
    progress(READING_EXPORTS, device_set.rows, device_set.rows)
    log_read(device_set)
    return device_set


def c_codes_in_play(config: Config, files: Iterable[DevicesFile]) -> list[str]:
    """The C_Codes whose inventories this run must read: those of the files."""
    return sorted({config.accounts[f.account] for f in files if f.account in config.accounts})


def rows_at_most(files: Iterable[DevicesFile]) -> int:
    """An upper bound on the data rows of these files, from their line count (0 if unreadable).

    Counting lines is ~100x faster than parsing them, so the query strategy can be chosen
    before the rows are read (a quoted line break or a blank line only raises the bound).
    """
    lines = 0
    for file in files:
        try:
            with file.path.open("rb") as handle:
                last = b"\n"
                for block in iter(lambda: handle.read(1 << 20), b""):
                    lines += block.count(b"\n")
                    last = block[-1:]
                lines += last != b"\n"  # a last line without its line break
        except OSError:
            continue  # reading the rows will say why
        lines -= 1  # the header
    return max(0, lines)


@dataclass(slots=True)
class Snapshot:
    """What the run read of each inventory."""

    records: dict[str, list[ServerRecord]] = field(default_factory=dict)
    known: dict[str, KnownNames] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)  # inventory size, whatever was read
    partial: set[str] = field(default_factory=set)  # C_Codes read host by host (no orphan list)


@dataclass(slots=True)
class _Requests:
    """Inventory reads expected and done, for the progress.

    Each C_Code's first read is expected from the start, so the count of reads done reaches
    the expected one only when every inventory has been read.
    """

    progress: Progress
    expected: int = 0
    done: int = 0

    def tick(self, more: int) -> None:
        """``more`` reads planned (> 0), or one done (0): the inventory's ReadTick."""
        if more:
            self.expected += more
        else:
            self.done += 1
        self.progress(READING_INVENTORY, self.done, self.expected)


async def _snapshot(
    inventory: Inventory,
    rows: Mapping[str, int],
    devices: Awaitable[DeviceSet],
    strategy: QueryStrategy,
    progress: Progress,
) -> Snapshot:
    snapshot = Snapshot()
    requests = _Requests(progress)
    requests.tick(len(rows))  # the first reads

    async def hostnames(c_code: str) -> list[str]:
        return [device.hostname for device in (await devices).devices if device.c_code == c_code]

    async def one(c_code: str) -> None:
        read = await inventory.read(
            c_code,
            machines_at_most=rows[c_code],
            hostnames=lambda: hostnames(c_code),
            strategy=strategy,
            tick=requests.tick,
        )
        snapshot.records[c_code] = read.records
        snapshot.known[c_code] = read.known
        snapshot.totals[c_code] = read.total
        if read.partial:
            snapshot.partial.add(c_code)

    await gather_or_cancel(*(one(c_code) for c_code in sorted(rows)))
    return snapshot


class _Run:
    """One run's shared state: the client, its resilience, and the stop signals."""

    def __init__(
        self, config: Config, credentials: Credentials, options: RunOptions, inventory: Inventory | None
    ) -> None:
        self.config = config
        self.options = options
        self.deadline = None if options.deadline is None else time.monotonic() + options.deadline
        settings = InventorySettings(options.concurrency, self.deadline, options.max_rps)
        self.inventory = inventory or open_inventory(config, credentials, settings)
        self.signal_number: int | None = None
        self._task: asyncio.Task[object] | None = None  # the phase a signal may cancel
        self._cancel_at_once = False

    def stop_reason(self) -> RunStopped | None:
        """Why the run must stop taking new work now, if it must."""
        if self.signal_number is not None:
            name = signal.Signals(self.signal_number).name
            return Interrupted(f"stopped by {name}", self.signal_number)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return DeadlineExceeded(f"the run's deadline ({self.options.deadline:g}s) passed")
        return None

    def on_signal(self, number: int) -> None:
        """SIGINT/SIGTERM (run in the loop): reads stop at once; writes in flight finish, no new one
        starts; a second signal stops everything."""
        first = self.signal_number is None
        if first:
            self.signal_number = number
        log.warning(
            "%s received: finishing the requests in flight, starting no new one", signal.Signals(number).name
        )
        if self._task is not None and (self._cancel_at_once or not first):
            self._task.cancel()

    async def interruptible(self, work: Callable[[], Awaitable[T]], *, cancel_at_once: bool) -> T:
        """Run ``work``; a signal cancels it at once (reads) or lets it wind down (writes)."""
        if cancel_at_once and (stop := self.stop_reason()) is not None:
            raise stop
        task: asyncio.Task[T] = asyncio.ensure_future(work())
        self._task, self._cancel_at_once = task, cancel_at_once
        try:
            return await task
        except asyncio.CancelledError:
            raise self.stop_reason() or Interrupted("cancelled", signal.SIGINT) from None
        finally:
            self._task = None

    async def read(self, files: Sequence[DevicesFile]) -> tuple[DeviceSet, Snapshot]:
        """Read the exports and the inventories at the same time.

        The inventories' pages are made by the service while the exports are parsed
        here; an export that cannot be read still stops the run before any write (the
        reads in flight are cancelled), and is reported before any inventory error.
        """
        strategy = self.options.query_strategy
        rows = {  # only auto needs the bound
            c_code: rows_at_most(f for f in files if self.config.accounts.get(f.account) == c_code)
            if strategy == "auto"
            else 0
            for c_code in c_codes_in_play(self.config, files)
        }
        parsed: asyncio.Future[DeviceSet] = asyncio.get_running_loop().create_future()
        progress = self.options.progress
        reading = asyncio.ensure_future(_snapshot(self.inventory, rows, parsed, strategy, progress))
        try:
            bound = sum(rows.values()) if strategy == "auto" else None
            device_set = await _read_devices_stepwise(files, self.config, progress, bound)
        except BaseException:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            raise
        parsed.set_result(device_set)
        return device_set, await reading

    async def plan(self, files: Sequence[DevicesFile]) -> tuple[Plan, safety.Verdict]:
        device_set, snapshot = await self.interruptible(lambda: self.read(files), cancel_at_once=True)
        machines = len(device_set.devices)
        self.options.progress(PLANNING, 0, machines)
        plan = build_plan(
            device_set,
            snapshot.records,
            self.config,
            self.options.now,
            snapshot.known,
            totals=snapshot.totals,
            partial=frozenset(snapshot.partial),
        )
        self.options.progress(PLANNING, machines, machines)
        if self.options.review is not None:
            plan = self.options.review(plan)
        log.info(
            "plan: %d change(s), %d in step, %d problem(s)",
            len(plan.changes),
            plan.in_step,
            len(plan.problems),
        )
        verdict = safety.check(
            plan,
            device_set,
            self.config.safety,
            force=self.options.force,
            overrides=self.options.overrides,
            reason=self.options.reason,
        )
        return plan, verdict

    async def apply(self, plan: Plan) -> ApplyResult:
        return await self.interruptible(
            lambda: apply_changes(
                plan.changes,
                self.inventory.update,
                concurrency=self.options.concurrency,
                stop=self.stop_reason,
                progress=self.options.progress,
                record=self.options.record,
            ),
            cancel_at_once=False,
        )

    async def recheck(self, changes: Sequence[Change]) -> tuple[set[int], set[int], dict[str, int]]:
        """Re-read the records of ``changes`` host by host: the indices of the stale changes (the
        record no longer holds their ``before``, or is gone), of those whose record holds their
        ``after`` already (done: an undo done twice, a plan applied again), and each inventory's size."""
        hosts = {
            c_code: sorted({c.hostname for c in changes if c.c_code == c_code})
            for c_code in {c.c_code for c in changes}
        }
        c_codes = sorted(hosts)

        async def read() -> tuple[list[list[ServerRecord]], list[int]]:
            inventory = self.inventory
            found = await gather_or_cancel(*(inventory.records_of(c, hosts[c]) for c in c_codes))
            sizes = await gather_or_cancel(*(inventory.size(c) for c in c_codes))
            return found, sizes

        found, sizes = await self.interruptible(read, cancel_at_once=True)
        by_unid = {(r.c_code, r.unid): r for records in found for r in records}
        stale, done = set(), set()
        for index, change in enumerate(changes):
            record = by_unid.get((change.c_code, change.unid))
            if record is not None and all(record.field(n) == v for n, v in change.after.items()):
                done.add(index)
            elif record is None or any(record.field(n) != v for n, v in change.before.items()):
                stale.add(index)
        return stale, done, dict(zip(c_codes, sizes, strict=True))


async def _check_known(inventory: Inventory, changes: Sequence[Change]) -> None:
    """PlanFileError naming the applications and environments of ``changes`` their C_Code's
    inventory does not know (it would refuse them one by one, after the others were written)."""
    c_codes = sorted({c.c_code for c in changes})
    names = dict(zip(c_codes, await gather_or_cancel(*(inventory.known(c) for c in c_codes)), strict=True))
    unknown = sorted(
        {
            (change.c_code, name, value)
            for change in changes
            for name, value in change.after.items()
            if name in ("application", "environment") and value not in names[change.c_code].of(name)
        }
    )
    if unknown:
        listed = ", ".join(
            f"{c_code} {name} {untrusted(value, 60)!r}" for c_code, name, value in unknown[:10]
        )
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise PlanFileError(
            f"{len(unknown)} value(s) to write that the inventory does not know: {listed}{more}",
            action="Nothing was written. Make and review a new plan (`sos-inventory plan --out PLAN.json`); "
            "if the inventory should know the value, ask in #sos-api.",
        )


def _stale_problem(changes: Sequence[Change], why: str, action: str | None) -> Problem:
    listed = ", ".join(f"{c.c_code}/{c.hostname} ({c.unid})" for c in changes[:20])
    more = f" and {len(changes) - 20} more" if len(changes) > 20 else ""
    return Problem(
        Category.STALE_PLAN,
        f"{len(changes)} change(s) not applied: {why}: {listed}{more}",
        facts={"count": str(len(changes))},
        action_text=action,
    )


def run_reviewed(
    config: Config,
    credentials: Credentials,
    options: RunOptions,
    changes: Sequence[Change],
    *,
    write: bool,
    check_values: bool = False,
    stale_because: str = "the record changed since the plan was made",
    stale_action: str | None = None,
    interrupts: Interrupts | None = None,
    inventory: Inventory | None = None,
) -> RunResult:
    """Apply exactly ``changes`` (a reviewed plan, an undo) where each record still holds their ``before``.

    The others get the outcome ``stale``. The safety guards see the changes to make
    (no export is read, so its ratio is not checked): the limit on their number before any
    record is re-read, the ratios after. With ``check_values``, every value to write must be
    one its C_Code's inventory knows (PlanFileError before any write). Errors reading the
    records are the result's ``error``, as for make_plan.
    """
    limits = replace(config.safety, min_export_ratio=0.0)  # no export is read: no ratio to check

    def guards(plan: Plan) -> safety.Verdict:
        return safety.check(
            plan, DeviceSet(), limits, force=options.force, overrides=options.overrides, reason=options.reason
        )

    async def body(job: _Run, result: RunResult) -> None:
        # The limit on the number of changes needs no read: a plan over it costs no request.
        early = guards(Plan(changes=tuple(changes)))
        if early.refused:
            result.plan, result.verdict = Plan(changes=tuple(changes)), early
            result.applied = ApplyResult(outcomes=[Outcome(c, "planned") for c in changes])
            return
        if check_values:
            await job.interruptible(lambda: _check_known(job.inventory, changes), cancel_at_once=True)
        stale, done, totals = await job.recheck(changes)
        # A record that holds the values to write already is in step: nothing to do, nothing wrong
        # (an undo done twice, a plan applied again, a hand edit that did the same).
        kept = [i for i in range(len(changes)) if i not in done]
        left = [changes[i] for i in kept]
        stale = {position for position, i in enumerate(kept) if i in stale}
        old = [c for i, c in enumerate(left) if i in stale]
        fresh = tuple(c for i, c in enumerate(left) if i not in stale)
        problems = (_stale_problem(old, stale_because, stale_action),) if old else ()
        result.plan = Plan(changes=tuple(left), problems=problems, records=totals, in_step=len(done))
        if done:
            result.warnings.append(
                f"{len(done)} record(s) already hold the values to write: nothing to do for them "
                "(counted in step)"
            )
        result.verdict = guards(replace(result.plan, changes=fresh))
        applied = ApplyResult()
        if write and not result.verdict.refused:
            applied = await job.apply(replace(result.plan, changes=fresh))
        made = iter(applied.outcomes or [Outcome(c, "planned") for c in fresh])
        applied.outcomes = [Outcome(c, "stale") if i in stale else next(made) for i, c in enumerate(left)]
        result.applied = applied

    return _execute(config, credentials, options, body, interrupts=interrupts, inventory=inventory)


def _execute(
    config: Config,
    credentials: Credentials,
    options: RunOptions,
    body: Callable[[_Run, RunResult], Awaitable[None]],
    *,
    interrupts: Interrupts | None,
    inventory: Inventory | None,
) -> RunResult:
    """Run ``body`` with the inventory (the config's, unless one is given), the signal handling and
    the counts; this package's errors become the result's ``error``."""
    result = RunResult()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        job = _Run(config, credentials, options, inventory)

        def on_signal(number: int) -> None:  # in the signal handler: hand over to the loop
            loop.call_soon_threadsafe(job.on_signal, number)

        with interrupts.delegate(on_signal) if interrupts is not None else nullcontext():
            try:
                async with job.inventory:
                    await body(job, result)
            finally:
                counts = job.inventory.counts()
                result.attempts, result.retries = counts.attempts, counts.retries
                result.attempts_by_kind = dict(counts.by_kind)

    try:
        with gc_paused():
            asyncio.run(run())
    except SosInventoryError as exc:
        result.error = exc
    return result


def _plan_and_apply(
    files: Sequence[DevicesFile], *, write: bool
) -> Callable[[_Run, RunResult], Awaitable[None]]:
    async def body(job: _Run, result: RunResult) -> None:
        result.plan, result.verdict = await job.plan(files)
        if write and not result.verdict.refused:
            result.applied = await job.apply(result.plan)

    return body


def make_plan(
    config: Config,
    files: Sequence[DevicesFile],
    credentials: Credentials,
    options: RunOptions,
    *,
    interrupts: Interrupts | None = None,
    inventory: Inventory | None = None,
) -> RunResult:
    """Read the exports and the inventories, compute the plan and the safety verdict; writes nothing.

    Never raises this package's errors: an export that cannot be read (InputError), a rule
    value the inventory does not know (ConfigError), an inventory that cannot be read
    (SosError) or a stop (RunStopped) is the result's ``error``. With ``interrupts``, the
    run handles SIGINT/SIGTERM (see :mod:`sos_inventory.interrupts`).
    """
    return _execute(
        config,
        credentials,
        options,
        _plan_and_apply(files, write=False),
        interrupts=interrupts,
        inventory=inventory,
    )


def run_update(
    config: Config,
    files: Sequence[DevicesFile],
    credentials: Credentials,
    options: RunOptions,
    *,
    interrupts: Interrupts | None = None,
    inventory: Inventory | None = None,
) -> RunResult:
    """Plan; unless the safety guards refuse, apply every change over the same connections.

    Errors before the writes are the result's ``error``, as for make_plan; errors while
    applying are recorded in ``applied`` instead.
    """
    return _execute(
        config,
        credentials,
        options,
        _plan_and_apply(files, write=True),
        interrupts=interrupts,
        inventory=inventory,
    )

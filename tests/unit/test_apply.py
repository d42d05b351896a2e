"""apply_changes with a scripted updater: outcomes, stops and the second chance."""

from __future__ import annotations

import asyncio

from sos_inventory.errors import (
    CircuitOpen,
    Interrupted,
    RunStopped,
    SosAuthError,
    SosConnectError,
    SosRejected,
    StateError,
)
from sos_inventory.model import Change, ServerRecord
from sos_inventory.sync.apply import ApplyResult, apply_changes
from tests.builders import record


def changes(n: int) -> list[Change]:
    return [
        Change("ALC", f"h{i:02d}", f"U{i:02d}", {"status": "Build"}, {"status": "Live"}) for i in range(n)
    ]


def updater(failures: dict[str, list[Exception]], calls: list[str]):  # type: ignore[no-untyped-def]
    async def update(change: Change) -> ServerRecord:
        calls.append(change.unid)
        await asyncio.sleep(0)
        errors = failures.get(change.unid)
        if errors:
            raise errors.pop(0)
        return record(change.hostname, change.unid)._replace(**dict(change.after))

    return update


def apply(todo: list[Change], update, **kw: object) -> ApplyResult:  # type: ignore[no-untyped-def]
    return asyncio.run(apply_changes(todo, update, **kw))  # type: ignore[arg-type]


def dropped(unid: str) -> SosConnectError:
    return SosConnectError("dropped", operation="update", c_code="ALC", unid=unid)


def test_every_change_gets_one_outcome_in_plan_order() -> None:
    calls: list[str] = []
    todo = changes(20)
    rejected = SosRejected("HTTP 422", status=422, operation="update", c_code="ALC")
    result = apply(todo, updater({"U03": [rejected]}, calls), concurrency=4)
    assert [o.change for o in result.outcomes] == todo
    assert result.count("applied") == 19
    assert [o.change.unid for o in result.outcomes if o.outcome == "failed"] == ["U03"]
    assert result.second_chance == 0  # a 422 is not transient: no second chance
    assert sorted(calls) == [c.unid for c in todo]


def test_transient_failures_get_one_second_chance_at_the_end() -> None:
    calls: list[str] = []
    failures: dict[str, list[Exception]] = {"U01": [dropped("U01")], "U05": [dropped("U05"), dropped("U05")]}
    result = apply(changes(8), updater(failures, calls), concurrency=3)
    assert result.second_chance == 2
    assert result.recovered == 1
    assert {o.change.unid: o.outcome for o in result.outcomes}["U01"] == "applied"
    assert {o.change.unid: o.outcome for o in result.outcomes}["U05"] == "failed"
    assert calls.count("U05") == 2  # exactly one second chance
    assert sorted(calls[-2:]) == ["U01", "U05"]  # the second chances come last


def test_recovered_counts_the_second_chances_that_were_applied() -> None:
    calls: list[str] = []
    failures: dict[str, list[Exception]] = {
        "U01": [dropped("U01")],
        "U02": [dropped("U02")],
        "U05": [dropped("U05"), dropped("U05")],
    }
    result = apply(changes(8), updater(failures, calls), concurrency=2)
    assert (result.second_chance, result.recovered) == (3, 2)


def test_no_second_chance_when_switched_off() -> None:
    calls: list[str] = []
    result = apply(changes(4), updater({"U01": [dropped("U01")]}, calls), concurrency=1, second_chance=False)
    assert calls.count("U01") == 1
    assert result.second_chance == 0
    assert result.count("failed") == 1


def test_no_second_chance_after_the_run_stopped() -> None:
    calls: list[str] = []
    denied = SosAuthError("HTTP 403", status=403, operation="update", c_code="ALC")
    result = apply(changes(6), updater({"U00": [dropped("U00")], "U02": [denied]}, calls), concurrency=1)
    assert isinstance(result.stopped_by, SosAuthError)
    assert calls.count("U00") == 1  # the transient failure before the stop is not tried again
    assert result.second_chance == 0


def test_an_answer_that_does_not_show_the_written_values_is_a_failure() -> None:
    async def liar(change: Change) -> ServerRecord:
        return record(change.hostname, change.unid, status="Build")

    result = apply(changes(1), liar)
    assert result.outcomes[0].outcome == "failed"
    assert "record shows" in str(result.outcomes[0].error)


def test_auth_error_stops_the_run_and_the_rest_is_not_attempted() -> None:
    calls: list[str] = []
    denied = SosAuthError("HTTP 403", status=403, operation="update", c_code="ALC")
    result = apply(changes(10), updater({"U02": [denied]}, calls), concurrency=1)
    assert isinstance(result.stopped_by, SosAuthError)
    assert [o.outcome for o in result.outcomes] == ["applied", "applied", "failed"] + ["not_attempted"] * 7


def test_run_stopped_errors_stop_without_marking_the_change_failed() -> None:
    calls: list[str] = []
    opened = CircuitOpen("5 requests in a row failed", dropped("U04"))
    result = apply(changes(10), updater({"U04": [opened]}, calls), concurrency=1)
    assert result.stopped_by is opened
    assert [o.outcome for o in result.outcomes][:4] == ["applied"] * 4
    assert {o.outcome for o in result.outcomes[4:]} == {"not_attempted"}


def test_stop_check_is_polled_before_each_change() -> None:
    calls: list[str] = []
    stop_after = 3

    def stop() -> RunStopped | None:
        return Interrupted("stopped by SIGTERM", 15) if len(calls) >= stop_after else None

    result = apply(changes(10), updater({}, calls), concurrency=1, stop=stop)
    assert isinstance(result.stopped_by, Interrupted)
    assert result.count("applied") == 3
    assert result.count("not_attempted") == 7


def test_progress_counts_every_change_once_from_zero_to_all() -> None:
    seen: list[tuple[int, int]] = []
    result = apply(
        changes(3),
        updater({}, []),
        concurrency=2,
        progress=lambda phase, done, total: seen.append((done, total)),
    )
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert (result.second_chance, result.recovered) == (0, 0)  # nothing failed: nothing tried again


def test_eight_requests_are_in_flight_unless_told_otherwise() -> None:
    in_flight, most = 0, 0

    async def update(change: Change) -> ServerRecord:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return record(change.hostname, change.unid)._replace(**dict(change.after))

    apply(changes(20), update)
    assert most == 8  # the README's default for --concurrency


class RefusingLedger:
    """A recorder whose ledger refuses the ``refuse_at``-th pending row (a full disk)."""

    def __init__(self, refuse_at: int) -> None:
        self.refuse_at = refuse_at
        self.pending_rows: list[str] = []
        self.answers: dict[int, str] = {}

    def pending(self, change: Change) -> int:
        if len(self.pending_rows) + 1 == self.refuse_at:
            raise StateError("the ledger cannot be written: database or disk is full")
        self.pending_rows.append(change.unid)
        return len(self.pending_rows)

    def settled(self, token: int, change: Change, outcome: str, error: str | None = None) -> None:
        self.answers[token] = outcome


def test_a_ledger_that_refuses_a_row_stops_the_run_and_keeps_every_answer() -> None:
    calls: list[str] = []
    ledger = RefusingLedger(refuse_at=6)
    result = apply(changes(30), updater({}, calls), concurrency=4, record=ledger)
    assert isinstance(result.stopped_by, StateError)
    # No request without its row, none after the refusal; every answer is in the outcomes.
    assert calls == ledger.pending_rows and len(calls) == 5
    assert {o.change.unid for o in result.outcomes if o.outcome == "applied"} == set(calls)
    assert result.count("not_attempted") == 25 and result.count("unknown") == 0


def test_writes_cancelled_in_flight_are_unknown_not_unattempted() -> None:
    started = asyncio.Event()

    async def hang(change: Change) -> ServerRecord:
        started.set()
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    async def cancelled() -> ApplyResult:
        task = asyncio.ensure_future(apply_changes(changes(10), hang, concurrency=3))
        await started.wait()
        await asyncio.sleep(0)  # the other workers reach their requests too
        task.cancel()
        return await task

    result = asyncio.run(cancelled())
    assert isinstance(result.stopped_by, RunStopped)
    assert result.count("unknown") == 3 and result.count("not_attempted") == 7

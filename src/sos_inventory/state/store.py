"""The seam between a run and what outlives it: the StateStore protocol and the values it gives.

A state store holds the run lock, the ledger (every run and every attempted field change,
hash-chained: the evidence), and the alert state. The embedded store is SQLite in the state
directory (state/sqlite/); run.py, the evidence commands, the metrics and the alerts know this
protocol only, so another store (one database for several agents) is another implementation.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sos_inventory.model import Change


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run as ``runs`` lists it."""

    run_id: str
    command: str
    started_at: str
    finished_at: str | None  # None: no finish row yet (running, or killed and not yet closed)
    exit_code: int | None
    counts: Mapping[str, int] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)  # the run and finish rows' data

    @property
    def state(self) -> str:
        if self.finished_at is None:
            return "unfinished"
        return "stopped" if self.details.get("ended") else "finished"

    @property
    def duration(self) -> float | None:
        """Seconds from its start to its finish row; for a run that stopped before it, to its last
        row (None when it has neither: running, or an older ledger's closed run)."""
        if self.finished_at is None:
            return None
        end = self.details.get("last_row_at") if self.details.get("ended") else self.finished_at
        if not isinstance(end, str):
            return None
        return (_parse_time(end) - _parse_time(self.started_at)).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "command": self.command,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "state": self.state,
            "exit_code": self.exit_code,
            "duration_seconds": self.duration,
            "counts": dict(self.counts),
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field change of one record, with what became of its request."""

    seq: int
    run_id: str
    time: str
    c_code: str
    hostname: str
    unid: str
    field: str
    before: str | None
    after: str
    outcome: str  # pending (never settled), applied, failed, not_attempted
    rule: str | None
    error: str | None = None
    settled_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "run_id": self.run_id,
            "time": self.time,
            "c_code": self.c_code,
            "hostname": self.hostname,
            "unid": self.unid,
            "field": self.field,
            "before": self.before,
            "after": self.after,
            "outcome": self.outcome,
            "rule": self.rule,
            "error": self.error,
            "settled_at": self.settled_at,
        }


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``audit verify`` found."""

    rows: int
    head: str
    bad_seq: int | None = None  # the first row that does not match
    reason: str = ""  # why it does not (a reason without a row: the table itself is not the ledger's)

    @property
    def intact(self) -> bool:
        return self.bad_seq is None and not self.reason


#: (c_code, unid, field): the key of the writes drift.review reads.
WriteKey = tuple[str, str, str]
#: The open alerts: failure key -> {"since": ..., "last_sent": ...}.
AlertState = dict[str, dict[str, str]]


class LedgerWriter(Protocol):
    """The ledger as one run writes it, under the lock: rows appended, never changed."""

    @property
    def head(self) -> str:
        """The hash of the last row: quoting it elsewhere anchors the whole chain."""
        ...

    def close_unfinished(self, run_id: str) -> list[str]:
        """Close the runs killed before their finish row (naming ``run_id`` as the closer); their ids."""
        ...

    def start_run(self, run_id: str, data: Mapping[str, Any]) -> None:
        """The run row, written (durably) before any request."""
        ...

    def pending(self, run_id: str, change: Change) -> int:
        """One change about to be sent, recorded before it is; the request's number."""
        ...

    def settle(
        self, run_id: str, request: int, change: Change, outcome: str, error: str | None = None
    ) -> None:
        """What became of a request: applied, failed (with the error) or not_attempted."""
        ...

    def finish_run(self, run_id: str, data: Mapping[str, Any]) -> None:
        """The finish row (exit code, counts...), durable before the run reports anything."""
        ...


class LedgerRecorder:
    """The recorder the apply loop calls around each request (sync/apply.Recorder), bound to one
    run of a ledger writer: every write is recorded before it is sent, and settled after."""

    def __init__(self, ledger: LedgerWriter, run_id: str) -> None:
        self.ledger = ledger
        self.run_id = run_id

    def pending(self, change: Change) -> int:
        return self.ledger.pending(self.run_id, change)

    def settled(self, token: int, change: Change, outcome: str, error: str | None = None) -> None:
        self.ledger.settle(self.run_id, token, change, outcome, error)


class LedgerReader(Protocol):
    """The ledger read: by the evidence commands, the drift review, undo and the metrics."""

    def runs(self, limit: int | None = None) -> list[RunSummary]: ...

    def history(self, hostname: str) -> list[FieldChange]: ...

    def run_changes(self, run_id: str) -> list[FieldChange]: ...

    def applied_writes(self, hostnames: Sequence[str], inventory: str) -> dict[WriteKey, list[FieldChange]]:
        """The applied writes of these machines by the runs on ``inventory`` (its URL)."""
        ...

    def last_success(self, codes: Collection[int]) -> datetime | None: ...

    def verify(self) -> Verification: ...

    def export_rows(self, since: datetime | None = None) -> Iterator[dict[str, Any]]: ...


class StateStore(Protocol):
    """Everything the job keeps between runs, in one place."""

    @property
    def location(self) -> str:
        """Where it is, for messages (a folder, or a URL without its password)."""
        ...

    def lock(self, c_codes: Collection[str], *, wait: float) -> AbstractContextManager[object]:
        """Hold the run lock for the block (StateLocked: another run holds it after ``wait`` s)."""
        ...

    def writer(self) -> AbstractContextManager[LedgerWriter]:
        """The ledger, to write (StateError: it cannot be written)."""
        ...

    def reader(self) -> AbstractContextManager[LedgerReader]:
        """The ledger, to read (StateError: there is none, or it cannot be read)."""
        ...

    def alert_state(self) -> AlertState:
        """The open alerts (none when they cannot be read: alerts are then sent again, not lost)."""
        ...

    def save_alert_state(self, state: Mapping[str, Mapping[str, str]]) -> None:
        """Replace the open alerts; a failure is logged and never changes the run's outcome."""
        ...


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))

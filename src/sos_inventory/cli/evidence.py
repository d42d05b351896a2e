"""``runs``, ``history``, ``audit verify`` and ``audit export``: the ledger read offline (README, Evidence)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sos_inventory.cli.common import add_state_dir, whole_number
from sos_inventory.errors import StateError
from sos_inventory.model import ExitCode, host_key
from sos_inventory.redact import untrusted
from sos_inventory.report.escape import console, csv_cell
from sos_inventory.state import open_store
from sos_inventory.state.sqlite.schema import COLUMNS
from sos_inventory.state.store import FieldChange, LedgerReader
from sos_inventory.sync.devices import parse_timestamp

_RAW = argparse.RawDescriptionHelpFormatter
#: The most runs ``runs --limit`` lists.
MAX_RUNS = 1_000_000_000


def _with_ledger(
    command: Callable[[LedgerReader, argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """Open the state's ledger read-only for ``command``; exit 2 when there is none."""

    def run(args: argparse.Namespace) -> int:
        try:
            with open_store(args.state_dir).reader() as book:
                return command(book, args)
        except StateError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return ExitCode.USAGE

    return run


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows
    )


def _runs(book: LedgerReader, args: argparse.Namespace) -> int:
    found = book.runs(args.limit)
    if args.json:
        json.dump([run.to_dict() for run in found], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return ExitCode.OK
    if not found:
        print("no run in the ledger yet")
        return ExitCode.OK
    rows = [["RUN", "STARTED", "COMMAND", "EXIT", "DURATION", "CHANGES", "APPLIED", "FAILED", "STATE"]]
    for run in found:
        counts = run.counts
        rows.append(
            [
                run.run_id,
                run.started_at,
                run.command,
                "-" if run.exit_code is None else str(run.exit_code),
                "-" if run.duration is None else f"{run.duration:.1f}s",
                str(counts.get("changes", "-")),
                str(counts.get("applied", "-")),
                str(counts.get("failed", "-")),
                run.state,
            ]
        )
    sys.stdout.write(console(_table(rows)))
    return ExitCode.OK


def _outcome_text(change: FieldChange) -> str:
    if change.outcome == "pending":
        return "pending (never settled: the run ended before the answer; the next run re-read the record)"
    return change.outcome + (f": {change.error}" if change.error else "")


def _history(book: LedgerReader, args: argparse.Namespace) -> int:
    if host_key(args.hostname) is None:
        print(f"error: {untrusted(repr(args.hostname), 300)} is not an ASCII host name", file=sys.stderr)
        return ExitCode.USAGE
    changes = book.history(args.hostname)
    if args.json:
        json.dump([change.to_dict() for change in changes], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return ExitCode.OK
    if not changes:
        print(console(f"no change of {args.hostname!r} in the ledger"))
        return ExitCode.OK
    for change in changes:
        print(
            console(
                f"{change.time}  run {change.run_id}  {change.c_code} {change.hostname} ({change.unid})  "
                f"{change.field}: {change.before!r} -> {change.after!r}  [{change.rule or '-'}]  "
                f"{_outcome_text(change)}"
            )
        )
    return ExitCode.OK


def _verify(book: LedgerReader, args: argparse.Namespace) -> int:
    result = book.verify()
    if result.intact:
        print(f"ledger intact: {result.rows} rows, chain head {result.head}")
        return ExitCode.OK
    if result.bad_seq is None:
        print(f"ledger NOT intact: {result.reason}")
    else:
        print(
            f"ledger NOT intact: row {result.bad_seq} does not match: {result.reason} "
            f"({result.rows} rows before it verified)",
        )
    return ExitCode.PROBLEMS


def _export(book: LedgerReader, args: argparse.Namespace) -> int:
    since: datetime | None = None
    if args.since:
        try:
            since = parse_timestamp(args.since).astimezone(UTC)  # in UTC, as the ledger's times
        except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+14:00 is before year 1 in UTC
            print(
                f"error: --since {untrusted(repr(args.since), 80)} is not a date or date-time between years 1 "
                "and 9999 in UTC (e.g. 2026-11-01)",
                file=sys.stderr,
            )
            return ExitCode.USAGE
    rows = book.export_rows(since)
    out = sys.stdout
    if args.format == "jsonl":
        for row in rows:
            out.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        # RFC 4180's CRLF: a cell holding a CR or a line break is then quoted, read back whole.
        writer = csv.DictWriter(out, fieldnames=[*COLUMNS, "hash"], lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
    return ExitCode.OK


def register_runs(commands: Any) -> None:
    """Add ``runs`` to the main parser's sub-commands."""
    runs = commands.add_parser(
        "runs",
        help="the latest runs recorded in the ledger",
        description="List the latest runs, newest first: id, time, command, exit code, counts, duration. "
        "No network.",
        epilog="example:\n  sos-inventory runs --limit 10 --state-dir .sos-inventory",
        formatter_class=_RAW,
    )
    runs.add_argument(
        "--limit", type=whole_number(1, MAX_RUNS), default=20, metavar="N", help="at most N runs (default 20)"
    )
    runs.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    add_state_dir(runs)
    runs.set_defaults(func=_with_ledger(_runs))


def register_history(commands: Any) -> None:
    """Add ``history`` to the main parser's sub-commands."""

    history = commands.add_parser(
        "history",
        help="every change the job made to one machine",
        description="Every field change of one machine, newest first: run, before -> after, outcome, rule. "
        "No network.",
        epilog="example:\n  sos-inventory history prod-dal10-carrier2-worker-1030",
        formatter_class=_RAW,
    )
    history.add_argument("hostname", help="short hostname or FQDN, any case")
    history.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    add_state_dir(history)
    history.set_defaults(func=_with_ledger(_history))


def register_audit(commands: Any) -> None:
    """Add ``audit verify`` and ``audit export`` to the main parser's sub-commands."""

    audit = commands.add_parser(
        "audit",
        help="verify the ledger's hash chain, or export its rows",
        description="Evidence for an auditor: check that no row of the ledger was edited, or export the rows.",
        epilog="examples:\n  sos-inventory audit verify\n"
        "  sos-inventory audit export --since 2026-11-01 --format csv > ledger.csv\n\n"
        "exit codes (verify): 0 the chain is intact, 1 a row does not match (named), 2 no ledger",
        formatter_class=_RAW,
    )
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = actions.add_parser("verify", help="recompute the hash chain; exit 1 naming the first bad row")
    add_state_dir(verify)
    verify.set_defaults(func=_with_ledger(_verify))
    export = actions.add_parser("export", help="every row with its hash, as JSON lines or CSV, on stdout")
    export.add_argument("--since", metavar="DATE", help="only rows from this date or date-time (UTC)")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="default jsonl")
    add_state_dir(export)
    export.set_defaults(func=_with_ledger(_export))

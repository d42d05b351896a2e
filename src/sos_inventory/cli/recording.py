"""The ledger around a writing run (``update``, ``undo --apply``): evidence before any write."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sos_inventory import __version__, drift, ledger
from sos_inventory.cli.common import log
from sos_inventory.config import Config, Credentials
from sos_inventory.errors import LedgerError
from sos_inventory.ledger import Ledger, LedgerRecorder
from sos_inventory.plan import Plan
from sos_inventory.report import RunReport
from sos_inventory.report.run import iso


def _sha256(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@contextmanager
def recorded_run(
    state_dir: Path, report: RunReport, config: Config, credentials: Credentials, c_codes: list[str]
) -> Iterator[LedgerRecorder]:
    """Open the ledger and record the run's start; on the way out, its finish (fsynced).

    Raises LedgerError before any write when the ledger cannot be written. The run's
    ``exit_code`` must be set in ``report`` by the end of the block.
    """
    with Ledger.open(state_dir) as book:
        run_id = report.run_id or ledger.new_run_id(report.started_at)
        report.run_id = run_id
        for closed in book.close_unfinished(run_id):
            print(
                f"warning: run {closed} ended without finishing (killed?); its unsettled changes are shown "
                "as pending in `sos-inventory history`; this run re-reads and fixes what it left",
                file=sys.stderr,
            )
        book.start_run(
            run_id,
            {
                "command": report.command,
                "version": __version__,
                "config": str(config.path) if config.path else None,
                "config_sha256": _sha256(config.path),
                "inventory_url": config.inventory_url,
                "user": credentials.email,
                "c_codes": c_codes,
                "now": iso(report.now),
                "build_url": report.build_url,
            },
        )
        try:
            yield LedgerRecorder(book, run_id)
        finally:
            data = {
                "exit_code": report.exit_code,
                "counts": report.counts(),
                "stopped": report.stopped,
                "finished_at": iso(datetime.now(UTC)),
            }
            try:
                book.finish_run(run_id, data)
            except LedgerError as exc:
                # The writes are recorded change by change; only the closing row is missing.
                print(f"error: {exc}; the next run will close this one as unfinished", file=sys.stderr)
                if report.exit_code == 0:
                    report.exit_code = 1


def drift_review(state_dir: Path, config: Config) -> Callable[[Plan], Plan]:
    """The plan's last look before the guards: manual edits and fights, from the ledger."""

    def review(plan: Plan) -> Plan:
        if not plan.changes:
            return plan
        try:
            db = ledger.open_reader(state_dir)
        except LedgerError:
            return plan  # no ledger yet: the job has written nothing, so nothing was edited since
        try:
            hostnames = sorted({change.hostname for change in plan.changes})
            writes = ledger.applied_writes(db, hostnames)
            # Finished runs only: the running one (no finish row yet) has written nothing so far.
            recent = [r.run_id for r in ledger.runs(db) if r.command == "update" and r.finished_at]
        finally:
            db.close()
        reviewed = drift.review(plan, writes, recent, respect=config.manual_edits == "respect")
        if len(reviewed.problems) != len(plan.problems):
            log.info("drift: %d problem(s) from the ledger", len(reviewed.problems) - len(plan.problems))
        return reviewed

    return review

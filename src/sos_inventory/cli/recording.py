"""What a run reads and writes beside the inventory: the ledger (evidence before any write),
the manual-edit review, saved plans (``plan --out``, ``update --plan``) and undo plans."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sos_inventory.cli.common import log
from sos_inventory.config import Config, parse_duration
from sos_inventory.errors import ConfigError, LedgerError, PlanFileError
from sos_inventory.model import Category, Change, Problem
from sos_inventory.redact import untrusted
from sos_inventory.report import RunReport
from sos_inventory.report.run import iso
from sos_inventory.state import sqlite as ledger
from sos_inventory.state.sqlite import Ledger, LedgerRecorder
from sos_inventory.sync import drift
from sos_inventory.sync.plan import Plan
from sos_inventory.sync.reviewed import load_plan, plan_document, undo_changes


@contextmanager
def recorded_run(state_dir: Path, report: RunReport) -> Iterator[LedgerRecorder]:
    """Open the ledger and record the run's start (as ``report`` names it); on the way out,
    its finish (fsynced).

    Raises LedgerError before any write when the ledger cannot be written. The run's
    ``exit_code`` must be set in ``report`` by the end of the block; a block left by an
    exception is recorded as ended by it.
    """
    with Ledger.open(state_dir) as book:
        run_id = report.run_id
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
                "version": report.version,
                "config": report.config_path,
                "config_sha256": report.config_sha256,
                "inventory_url": report.inventory_url,
                "user": report.api_user,
                "c_codes": report.c_codes,
                "now": iso(report.now),
                "build_url": report.build_url,
                "inputs": report.inputs,
            },
        )
        ended: BaseException | None = None
        try:
            yield LedgerRecorder(book, run_id)
        except BaseException as exc:
            ended = exc
            raise
        finally:
            report.finished_at = datetime.now(UTC)  # the reports and the metrics say the same instant
            data: dict[str, object] = {
                "exit_code": None if ended else report.exit_code,
                "counts": report.counts(),
                "stopped": report.stopped,
                "safety": report.verdict.to_dict() if report.verdict else None,
                "finished_at": report.finished_at.isoformat(),
            }
            if ended is not None:
                data["ended"] = f"stopped by {type(ended).__name__}: {ended}"
            try:
                book.finish_run(run_id, data)
                # In the console log too (kept apart from the ledger): it anchors every row before it.
                log.info("ledger: run %s recorded, chain head %s", run_id, book.head)
            except LedgerError as exc:
                # The writes are recorded change by change; only the closing row is missing.
                report.failures.append(
                    Problem(
                        Category.STATE_ERROR,
                        f"{exc}: every change of this run is recorded, but not how the run ended; "
                        "the next run closes it as unfinished",
                        action_text=exc.action,
                    )
                )
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


def undo_plan(state_dir: Path, run_id: str) -> list[Change]:
    """The changes that restore what run ``run_id`` wrote (ConfigError: no such run)."""
    shown = untrusted(run_id, 60)
    action = (
        f"Give the id of a run recorded in {state_dir}: `sos-inventory runs --state-dir {state_dir}` lists them "
        "(or point --state-dir at the state directory of the job that ran it)."
    )
    try:
        db = ledger.open_reader(state_dir)
    except LedgerError as exc:
        raise ConfigError(f"run {shown}: {exc}", action=action) from None
    try:
        if run_id not in {run.run_id for run in ledger.runs(db)}:
            raise ConfigError(f"run {shown} is not in the ledger of {state_dir}", action=action)
        return undo_changes(run_id, ledger.run_changes(db, run_id))
    finally:
        db.close()


def reviewed_plan(args: argparse.Namespace, config: Config) -> list[Change]:
    """The changes of ``--plan FILE``: refused if too old or made against another inventory."""
    try:
        max_age = parse_duration(args.max_plan_age)
    except ValueError as exc:
        raise ConfigError(
            f"--max-plan-age: {exc}", action="Give --max-plan-age as a duration, e.g. 24h or 2d."
        ) from None
    saved = load_plan(args.plan, max_age=max_age, clock=datetime.now(UTC))
    if saved.inventory_url != config.inventory_url:
        raise PlanFileError(
            f"{args.plan}: the plan was made against {saved.inventory_url}, not {config.inventory_url}",
            action=f"Apply the plan to the inventory it was made against (--inventory-url {saved.inventory_url}), "
            "or make and review a new plan against this one.",
        )
    log.info("reviewed plan %s: %d change(s), made %s", args.plan, len(saved.changes), iso(saved.created_at))
    return list(saved.changes)


def save_plan(path: Path, report: RunReport, inputs: list[Path]) -> None:
    """Write ``plan --out``: the changes with their before values, the inputs' SHA-256, the time."""
    if report.plan is None:
        return
    document = plan_document(
        report.plan.changes,
        created_at=report.started_at,
        now=report.now,
        inventory_url=report.inventory_url or "",
        c_codes=report.c_codes,
        inputs=inputs,
    )
    try:
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {path}: cannot write the plan: {exc.strerror or exc}") from None
    log.info("plan saved to %s: %d change(s)", path, len(report.plan.changes))

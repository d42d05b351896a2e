"""Reports of a run: one value (:class:`RunReport`), one renderer per format.

``report.json`` (README, Reports), ``junit.xml`` for Jenkins' JUnit publisher,
``summary.md`` and ``summary.html`` are written atomically: a reader never sees half a report.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

from sos_inventory.errors import FileProblem, InputError
from sos_inventory.private import private_folder, private_temp_folder, write_private
from sos_inventory.redact import redact
from sos_inventory.report import html, json_report, junit, markdown
from sos_inventory.report.run import RunReport, iso

__all__ = ["RunReport", "check_report_dir", "iso", "save_traceback", "write_reports"]

RENDERERS: dict[str, Callable[[RunReport], str]] = {
    "report.json": json_report.render,
    "junit.xml": junit.render,
    "summary.md": markdown.render,
    "summary.html": html.render,
}


def save_traceback(error: BaseException, run_id: str, folder: Path | None) -> Path:
    """Save an internal error's traceback (mode 0600) beside the report, or else in a new private
    folder of the temp folder (``mkdtemp``: a name no other user can guess or take first); its path."""
    text = redact("".join(traceback.format_exception(error)))  # a local variable may hold a secret
    name = f"traceback-{run_id}.txt"
    for where in (folder, None):
        try:
            place = private_folder(where) if where is not None else private_temp_folder()
            return write_private(place / name, text)
        except OSError:
            continue
    return Path("(the traceback could not be saved)")


def check_report_dir(folder: Path) -> None:
    """Make sure the reports can be written into ``folder`` before the run writes anything else.

    Raises InputError (the run is refused, exit 3): a run whose changes were applied but
    whose reports were lost would leave no evidence of what it did.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        through = next(
            (part for part in [folder, *folder.parents] if part.exists() and not part.is_dir()), None
        )
        if through is not None:
            reason = (
                "it is a file, not a folder" if through == folder else f"{through} is a file, not a folder"
            )
            action = (
                "Point --report-dir at a folder (or a path where one can be made), not at a file; then rerun."
            )
        else:
            reason = f"cannot write there: {exc.strerror or exc}"
            action = "Make the --report-dir folder writable (or choose another one), then rerun."
        raise InputError(
            [FileProblem(str(folder), reason)], headline="the report folder cannot be written", action=action
        ) from None


def write_reports(report: RunReport, folder: Path) -> list[Path]:
    """Write report.json, junit.xml, summary.md and summary.html into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, render in RENDERERS.items():
        path = folder / name
        write_private(path, redact(render(report)))
        written.append(path)
    return written

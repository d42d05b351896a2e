"""The observability options of the command line: log form, progress, metrics sinks.

Kept apart from the commands: they add options here, call :func:`setup` once, and
:func:`finish` when the run's report is final.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

# Only what --help needs is imported with this module; the rest when a command runs.
if TYPE_CHECKING:
    from sos_inventory.model import Progress
    from sos_inventory.observe.logs import LogFormat
    from sos_inventory.outbound import Deadline
    from sos_inventory.report.run import RunReport

log = logging.getLogger("sos_inventory")


def add_options(parser: argparse.ArgumentParser, *, network: bool) -> None:
    """``--log-format``; with ``network`` (plan, update), the metrics sinks too."""
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="stderr as text lines, or one JSON object per line (time, level, event, run_id, ...)",
    )
    if network:
        sinks = parser.add_argument_group("metrics (a sink that fails is logged; the exit code stays)")
        sinks.add_argument(
            "--metrics-file",
            type=Path,
            metavar="PATH",
            help="write the run's metrics here, for node_exporter's textfile collector (name it *.prom)",
        )
        sinks.add_argument(
            "--pushgateway",
            metavar="URL",
            default=os.environ.get("SOS_PUSHGATEWAY_URL") or None,
            help="push the run's metrics to this Prometheus Pushgateway (job sos_inventory, this host's "
            "instance; default: $SOS_PUSHGATEWAY_URL)",
        )


def start(argv: Sequence[str]) -> str:
    """Name the run before the options are parsed; with ``--log-format json``, make even a usage
    error's lines JSON. The run's id."""
    from sos_inventory.model import new_run_id

    run_id = new_run_id(datetime.now(UTC))
    json_asked = any(
        word == "--log-format=json" or (word == "--log-format" and argv[i + 1 : i + 2] == ["json"])
        for i, word in enumerate(argv)
    )
    if json_asked:
        from sos_inventory.observe.logs import configure

        configure(logging.WARNING, "json", run_id)
    return run_id


def setup(args: argparse.Namespace, run_id: str) -> None:
    """Configure the log lines and choose the progress display (set on ``args``, with ``run_id``)."""
    from sos_inventory.model import no_progress
    from sos_inventory.observe.logs import configure, secret_values
    from sos_inventory.observe.progress import Bar, Lines

    verbose = getattr(args, "verbose", 0)
    quiet = getattr(args, "quiet", False)
    job = args.command in ("plan", "update", "undo")
    # Progress lines help on long network work; the offline commands stay terse unless -v.
    level = logging.WARNING if quiet or not (job or verbose) else logging.INFO
    if verbose >= 2:
        level = logging.DEBUG
    log_format: LogFormat = "json" if getattr(args, "log_format", "text") == "json" else "text"
    args.run_id = run_id  # the report's too: one name in every line
    progress: Progress = no_progress
    bar = None
    if job and not quiet:
        if log_format == "text" and sys.stderr.isatty():
            bar = Bar(sys.stderr)
            progress = bar
        else:
            progress = Lines(log)
    args.progress = progress
    secrets = secret_values(
        os.environ.get("SOS_API_EMAIL", "").strip(), os.environ.get("SOS_API_TOKEN", "").strip()
    )
    configure(level, log_format, args.run_id, secret_texts=secrets, bar=bar)


def finish(report: RunReport, args: argparse.Namespace, sends: Deadline | None = None) -> None:
    """End the progress display; write and push the run's metrics, as asked (failures are logged)."""
    from sos_inventory.observe.progress import Bar

    if isinstance(args.progress, Bar):
        args.progress.clear()
    metrics_file: Path | None = getattr(args, "metrics_file", None)
    gateway: str | None = getattr(args, "pushgateway", None)
    if metrics_file is None and not gateway:
        return
    from sos_inventory.observe import metrics  # ~0.1 s of imports: only when asked for

    success = metrics.last_success(report, metrics_file, getattr(args, "state_dir", None))
    registry = metrics.registry_of(report, success)
    if metrics_file is not None:
        metrics.write_file(registry, metrics_file)
    if gateway:
        metrics.push(registry, gateway, deadline=sends)

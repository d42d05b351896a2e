"""The run's metrics in the Prometheus text format: a textfile for node_exporter, a pushgateway.

Built on the official client library (``prometheus_client``, imported with this module:
~0.1 s, so the command line imports it only when a sink is asked for). A sink that fails
is logged and never changes the run's exit code; a push is sent under the one outbound
policy (outbound.py) and gives up after a few seconds.
"""

from __future__ import annotations

import logging
import socket
import stat
from collections import Counter as Tally
from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.exposition import generate_latest, pushadd_to_gateway
from prometheus_client.parser import text_string_to_metric_families

from sos_inventory.config.files import METRICS, read_text
from sos_inventory.errors import OutboundError, StateError, UnreadableFile
from sos_inventory.model import Category
from sos_inventory.outbound import SEND_TIMEOUT, Deadline, send, shown
from sos_inventory.private import write_private
from sos_inventory.report.run import RunReport

log = logging.getLogger(__name__)

JOB = "sos_inventory"
LAST_SUCCESS = "sos_inventory_last_success_timestamp_seconds"

#: Exit codes of a run that did its job (1: some machines need a human, the rest is in step).
SUCCESS_CODES = frozenset({0, 1})

# Counters are per run: their creation time says nothing a scrape needs.
disable_created_metrics()  # type: ignore[no-untyped-call]


def previous_last_success(metrics_file: Path | None) -> float | None:
    """The last success recorded by the previous run's metrics file, if it can be read."""
    if metrics_file is None:
        return None
    try:
        text = read_text(metrics_file, METRICS)
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == LAST_SUCCESS:
                    return float(sample.value)
    except UnreadableFile as exc:
        log.warning("metrics: cannot read the last success: %s", exc)
    except ValueError as exc:
        log.warning("metrics: cannot read the last success from %s: %s", metrics_file, exc)
    return None


def last_success(report: RunReport, metrics_file: Path | None, state_dir: Path | None = None) -> float | None:
    """When the job last succeeded: this run if it did, else the last one recorded.

    The one place that knows where past runs are recorded: the ledger of ``state_dir``
    (every update, whatever wrote the metrics), else the previous metrics file.
    """
    if report.exit_code in SUCCESS_CODES and report.finished_at is not None:
        return report.finished_at.timestamp()
    if state_dir is not None:
        from sos_inventory.state import open_store  # sqlite3: only when metrics are asked for

        try:
            with open_store(state_dir).reader() as book:
                recorded = book.last_success(SUCCESS_CODES)
        except StateError:
            recorded = None  # no ledger yet: the previous metrics file may know
        if recorded is not None:
            return recorded.timestamp()
    return previous_last_success(metrics_file)


def registry_of(report: RunReport, success_at: float | None) -> CollectorRegistry:
    """A registry holding the run's metrics (docs/observability.md)."""
    registry = CollectorRegistry(auto_describe=True)
    finished = report.finished_at or report.started_at
    Gauge(
        "sos_inventory_last_run_timestamp_seconds",
        "When the last run ended (Unix time).",
        registry=registry,
    ).set(finished.timestamp())
    if success_at is not None:
        # Left out when unknown: a push then keeps the value the gateway already holds.
        Gauge(
            LAST_SUCCESS,
            "When a run last ended with exit code 0 or 1, the inventory brought in step (Unix time).",
            registry=registry,
        ).set(success_at)
    Gauge("sos_inventory_run_duration_seconds", "How long the last run took.", registry=registry).set(
        (finished - report.started_at).total_seconds()
    )
    Gauge(
        "sos_inventory_exit_code",
        "The last run's exit code (0 in step, 1 some machines need a human, 2+ failed).",
        registry=registry,
    ).set(report.exit_code)
    devices = Gauge(
        "sos_inventory_devices",
        "Machines in the exports of the last run, per C_Code.",
        ["c_code"],
        registry=registry,
    )
    plan = report.plan
    for c_code, count in sorted((plan.machines if plan else {}).items()):
        devices.labels(c_code=c_code).set(count)
    changes = Gauge(
        "sos_inventory_changes",
        "Field changes of the last run, per C_Code, field and outcome (planned, applied, failed).",
        ["c_code", "field", "outcome"],
        registry=registry,
    )
    for (c_code, name, outcome), count in sorted(_changes(report).items()):
        changes.labels(c_code=c_code, field=name, outcome=outcome).set(count)
    problems = Gauge(
        "sos_inventory_problems",
        "Problems of the last run, per runbook category (0 for the categories it did not have).",
        ["category"],
        registry=registry,
    )
    found = Tally(p.category.value for p in report.problems())
    for category in Category:
        problems.labels(category=category.value).set(found[category.value])
    requests = Counter(
        "sos_inventory_requests",
        "HTTP requests the last run sent to the inventory, retries included, per kind (query, update).",
        ["kind"],
        registry=registry,
    )
    for kind, count in sorted(report.attempts_by_kind.items()):
        requests.labels(kind=kind).inc(count)
    Counter("sos_inventory_retries", "Requests the last run retried.", registry=registry).inc(report.retries)
    return registry


def _changes(report: RunReport) -> Mapping[tuple[str, str, str], int]:
    counts: Tally[tuple[str, str, str]] = Tally()
    for outcome in report.outcomes:
        for name in outcome.change.after:
            counts[outcome.change.c_code, name, outcome.outcome] += 1
    return counts


def write_file(registry: CollectorRegistry, path: Path) -> bool:
    """Write the textfile atomically (a scrape never reads half of it); False, logged, on failure.

    A new file is 0600, like everything the job keeps. A file already there keeps its mode: an
    operator whose node_exporter reads as another user makes it readable once
    (``install -m 0644 /dev/null PATH``) and the job keeps it so."""
    if not path.parent.is_dir():
        log.warning("metrics: could not write %s: its folder %s does not exist", path, path.parent)
        return False
    try:
        chosen = stat.S_IMODE(path.stat().st_mode) if path.is_file() else None
        write_private(path, generate_latest(registry))
        if chosen is not None:
            path.chmod(chosen)
    except OSError as exc:
        log.warning("metrics: could not write %s: %s", path, exc.strerror or exc)
        return False
    log.info("metrics written to %s", path)
    return True


def push(
    registry: CollectorRegistry,
    gateway: str,
    instance: str | None = None,
    timeout: float = SEND_TIMEOUT,
    deadline: Deadline | None = None,
) -> bool:
    """Push to a pushgateway (job ``sos_inventory``, grouped by instance); False, logged, on failure.

    The push replaces the metrics it carries and keeps the others of the group (a POST),
    so a last success this run does not know stays as the gateway holds it. It is sent under
    the one outbound policy (outbound.py: no redirect, TLS verified, a user:password of the
    URL never in clear off loopback), within what is left of ``deadline`` (the run's one for
    all its sends; else ``timeout`` seconds): a name that does not resolve or a gateway that
    does not answer cannot hold the job's exit.
    """
    where = shown(gateway)
    grouping = {"instance": instance or socket.gethostname()}
    budget = deadline or Deadline.after(timeout)

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        del timeout  # the deadline bounds the send, not the library's timeout

        def deliver() -> None:
            send(method, url, deadline=budget, body=data, headers=dict(headers))

        return deliver

    try:
        pushadd_to_gateway(gateway, JOB, registry, grouping_key=grouping, handler=handler)
    except OutboundError as exc:
        log.warning("metrics: could not push to %s: the pushgateway %s", where, exc)
        return False
    except Exception as exc:  # any other failure of a sink is only logged (a grouping it refuses, say)
        log.warning("metrics: could not push to %s: %s", where, shown(str(exc)))
        return False
    log.info("metrics pushed to %s (job %s, instance %s)", where, JOB, grouping["instance"])
    return True

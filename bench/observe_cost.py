"""What observability costs: imports, --help, metrics, summary.html, progress, and whole runs.

    python bench/observe_cost.py                          # micro figures + update of 20,000 devices
    python bench/observe_cost.py --devices 0              # micro figures only
    python bench/observe_cost.py --baseline-src /tmp/main/src   # whole runs of another tree too

Micro figures: medians of ``--repeat`` runs, each in a fresh interpreter where an
import is measured (``python -X importtime``). Whole runs (bench/run.py's
``measure_job``, latency 0 so the client's own work shows) alternate the variants
run by run: no sinks; ``--metrics-file`` and ``--log-format json``; and, with
``--baseline-src``, the same job from another source tree (e.g. main's).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from fleet_data import prepare_fleet
from run import Params, measure_job

from sos_inventory.model import Change, ServerRecord
from sos_inventory.report import html
from sos_inventory.report.run import RunReport
from sos_inventory.sync.apply import Outcome
from sos_inventory.sync.plan import Plan

PYTHON = sys.executable
SRC = str(Path(__file__).resolve().parents[1] / "src")


def import_ms(module: str, src: str = SRC, after: str | None = None) -> float:
    """Cumulative import time of ``module`` in a fresh interpreter (ms), ``after`` importing another."""
    code = f"import {after}; import {module}" if after else f"import {module}"
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", code],
        env={**os.environ, "PYTHONPATH": src},
        capture_output=True,
        text=True,
        check=True,
    )
    line = [row for row in done.stderr.splitlines() if row.rstrip().endswith(f" {module}")][-1]
    return int(line.split("|")[1]) / 1000


def help_ms(src: str = SRC) -> float:
    started = time.perf_counter()
    subprocess.run(
        [PYTHON, "-m", "sos_inventory", "update", "--help"],
        env={**os.environ, "PYTHONPATH": src},
        capture_output=True,
        check=True,
    )
    return (time.perf_counter() - started) * 1000


def big_report(changes: int) -> RunReport:
    """An update that changed ``changes`` records (a third of them two fields)."""
    moment = datetime(2026, 11, 27, 12, tzinfo=UTC)
    made = []
    for index in range(changes):
        after = {"status": "Live"} if index % 3 else {"status": "Live", "environment": "PROD-US-SOUTH"}
        before = {"status": "Build", "environment": "STAGE"} if not index % 3 else {"status": "Build"}
        made.append(Change(f"C{index % 4}", f"host-{index:07d}", f"U{index:07d}", before, after))
    plan = Plan(
        changes=tuple(made),
        problems=(),
        in_step=changes * 9,
        not_in_inventory=(),
        orphans=(),
        unowned=(),
        rows=changes * 10,
        excluded=0,
        invalid=0,
        ambiguous=(),
        machines={f"C{i}": changes * 10 // 4 for i in range(4)},
        statuses={f"C{i}": {"Build": changes // 4, "Live": changes * 9 // 4} for i in range(4)},
    )
    report = RunReport(
        command="update", started_at=moment, now=moment, finished_at=moment + timedelta(seconds=60)
    )
    report.set_plan(plan)
    report.outcomes = [Outcome(change, "applied") for change in made]
    report.attempts_by_kind = {"query": 1000, "update": changes}
    return report


def timed(work: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``work`` (ms)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return median(times)


def micro(repeat: int, baseline_src: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    modules = ["sos_inventory.cli", "prometheus_client", "sos_inventory.observe.metrics", "rich.progress"]
    for module in modules:
        try:
            out[f"import {module} ms"] = round(median(import_ms(module) for _ in range(repeat)), 1)
        except subprocess.CalledProcessError:
            out[f"import {module} ms"] = None  # not installed
    # What a run with a metrics sink adds: the job's modules are loaded by then.
    out["import sos_inventory.observe.metrics after the job's modules ms"] = round(
        median(
            import_ms("sos_inventory.observe.metrics", after="sos_inventory.cli.run") for _ in range(repeat)
        ),
        1,
    )
    trees = {"this tree": SRC, **({"baseline": baseline_src} if baseline_src else {})}
    samples: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(repeat):  # alternated, so both see the same load
        for name, src in trees.items():
            samples[name].append(help_ms(src))
    for name, values in samples.items():
        out[f"update --help ms ({name})"] = round(median(values), 1)

    from sos_inventory.observe import metrics  # after the subprocess figures: this process pays it

    report = big_report(100_000)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sos.prom"
        out["metrics registry+file, 100,000 changes, ms"] = round(
            timed(lambda: metrics.write_file(metrics.registry_of(report, None), path), repeat), 1
        )
        out["metrics file bytes"] = path.stat().st_size
    page = html.render(report)
    out["summary.html render, 100,000 changes, ms"] = round(timed(lambda: html.render(report), repeat), 1)
    out["summary.html bytes (2,000 rows shown)"] = len(page.encode())

    import logging

    from sos_inventory.model import no_progress
    from sos_inventory.observe.progress import Bar, Lines

    calls = 100_000
    for name, progress in (
        ("none", no_progress),
        ("lines", Lines(logging.getLogger("bench.quiet"))),
        ("bar", Bar(io.StringIO())),
    ):
        ms = timed(lambda p=progress: [p("applying", i, calls) for i in range(calls)], repeat)
        out[f"progress {name}: ns per call"] = round(ms * 1e6 / calls)

    records = [
        ServerRecord(f"U{i}", "ALC", f"h{i}", "", "", "", "", "a", "e", "Live" if i % 3 else "Build", "")
        for i in range(1_000_000)
    ]
    from collections import Counter
    from operator import itemgetter

    status = itemgetter(ServerRecord._fields.index("status"))
    out["plan's Status counts, 1,000,000 records, ms"] = round(
        timed(lambda: dict(Counter(map(status, records))), repeat), 1
    )
    return out


def whole_runs(devices: int, repeat: int, baseline_src: str | None, cache: Path) -> dict[str, Any]:
    data = prepare_fleet(devices, cache=cache)
    variants: dict[str, tuple[str | None, tuple[str, ...]]] = {"no sinks": (None, ())}
    with tempfile.TemporaryDirectory() as folder:
        variants["--metrics-file, --log-format json"] = (
            None,
            ("--metrics-file", str(Path(folder) / "sos.prom"), "--log-format", "json"),
        )
        if baseline_src:
            variants["baseline tree, no sinks"] = (baseline_src, ())
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for attempt in range(repeat):
            for name, (src, extra) in variants.items():
                saved = os.environ.get("PYTHONPATH")
                os.environ["PYTHONPATH"] = src or SRC
                try:
                    params = Params(
                        devices=devices, latency_ms=0, concurrency=16, extra_args=extra, cache=cache
                    )
                    runs[name].append(
                        measure_job(data, params, Path(folder) / f"{attempt}-{len(runs[name])}")
                    )
                finally:
                    if saved is None:
                        os.environ.pop("PYTHONPATH", None)
                    else:
                        os.environ["PYTHONPATH"] = saved
    out: dict[str, Any] = {"devices": devices, "repeat": repeat}
    for name, results in runs.items():
        out[name] = {
            "wall_s": median(r["wall_s"] for r in results),
            "cpu_s": median(r["cpu_user_s"] + r["cpu_system_s"] for r in results),
            "peak_rss_mib": median(r["peak_rss_mib"] for r in results),
            "exit_codes": sorted({r["exit_code"] for r in results}),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7, help="runs per micro figure (medians)")
    parser.add_argument("--devices", type=int, default=20_000, help="fleet of the whole runs (0: none)")
    parser.add_argument("--run-repeat", type=int, default=3, help="whole runs per variant")
    parser.add_argument("--baseline-src", metavar="DIR", help="another tree's src/ to compare with")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "sos-bench")
    args = parser.parse_args()
    result: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds")}
    result["micro"] = micro(args.repeat, args.baseline_src)
    if args.devices:
        result["whole runs"] = whole_runs(args.devices, args.run_repeat, args.baseline_src, args.cache_dir)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time parsing and planning alone, with no network: the job's CPU floor.

    python bench/parse_plan.py --devices 1000000                # 3 runs, medians
    python bench/parse_plan.py --devices 1000000 --repeat 1 --profile /tmp/parse_plan.prof

Each run is a fresh process (so its peak RSS is its own). It loads the fleet's
inventory from the seeded database as the client would hold it
(``ServerRecord`` values made by ``sos.client.record_from_item``; not timed),
then times ``devices.read_devices`` (parse every devices.csv) and
``plan.build_plan`` (match, desired state, compare) for N devices.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import json
import pstats
import sqlite3
import sys
import time
import tracemalloc
from contextlib import closing
from pathlib import Path
from typing import Any

from benchlib import CACHE, current_rss_mib, machine_info, median, now_iso, peak_rss_mib, run_measured
from fleet_data import DEFAULT_CHANGE_SHARE, NOW, prepare_fleet

from sos_inventory.config import load_config
from sos_inventory.inventory.sos.client import record_from_item
from sos_inventory.model import KnownNames, ServerRecord
from sos_inventory.server.store import RECORD_KEYS
from sos_inventory.sync.devices import gc_paused, read_devices
from sos_inventory.sync.plan import build_plan


def load_inventories(db: Path) -> tuple[dict[str, list[ServerRecord]], dict[str, KnownNames]]:
    """Every record of the seeded database, by C_Code, as the client builds them; and the known names."""
    inventories: dict[str, list[ServerRecord]] = {}
    names: dict[str, dict[str, frozenset[str]]] = {}
    with closing(sqlite3.connect(db)) as connection:
        rows = connection.execute(f"SELECT {', '.join(RECORD_KEYS)} FROM servers ORDER BY c_code, unid")
        for row in rows:
            item = dict(zip(RECORD_KEYS, row, strict=True))
            inventories.setdefault(item["c_code"], []).append(record_from_item(item, item["c_code"]))
        for table in ("applications", "environments"):
            for c_code, name in connection.execute(f"SELECT c_code, name FROM {table}"):
                names.setdefault(c_code, {}).setdefault(table, frozenset())
                names[c_code][table] |= {name}
    known = {
        c_code: KnownNames(lists.get("applications", frozenset()), lists.get("environments", frozenset()))
        for c_code, lists in names.items()
    }
    return inventories, known


class GcClock:
    """Time spent in the cyclic garbage collector, by generation (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "seconds": round(sum(self.seconds), 3),
            "by_generation_s": [round(s, 3) for s in self.seconds],
            "collections": self.collections,
        }


def _top_allocations(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int = 12) -> list[str]:
    stats = after.compare_to(before, "lineno")
    return [
        f"{stat.size_diff / 2**20:8.1f} MiB {stat.count_diff:>10,} blocks  {stat.traceback}"
        for stat in stats[:top]
    ]


def once(
    root: Path, profile: Path | None, gc_mode: str = "default", trace_memory: bool = False
) -> dict[str, Any]:
    """One measurement in this process; ``gc_mode`` off or freeze shows what the collector costs.

    ``trace_memory`` reports the lines that allocated what each step keeps (tracemalloc;
    slow: use it on a smaller fleet and scale)."""
    config = load_config(root / "sos-inventory.yaml")
    if trace_memory:
        tracemalloc.start()
        snapshots = [tracemalloc.take_snapshot()]
    started = time.perf_counter()
    inventories, known = load_inventories(root / "seed.db")
    loaded = time.perf_counter()
    if trace_memory:
        snapshots.append(tracemalloc.take_snapshot())
    rss_loaded, peak_loaded = current_rss_mib(), peak_rss_mib()
    if gc_mode == "off":
        gc.disable()
    elif gc_mode == "freeze":
        gc.freeze()  # the loaded records: never scanned again
    clock = GcClock()
    gc.callbacks.append(clock)
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    parse_started = time.perf_counter()
    device_set = read_devices(config)
    parsed = time.perf_counter()
    if trace_memory:
        snapshots.append(tracemalloc.take_snapshot())
    with gc_paused():  # as the CLI plans (job._execute)
        plan = build_plan(device_set, inventories, config, NOW, known)
    planned = time.perf_counter()
    gc.callbacks.remove(clock)
    if trace_memory:
        snapshots.append(tracemalloc.take_snapshot())
        for step, (before, after) in zip(
            ("load", "parse", "plan"), itertools.pairwise(snapshots), strict=True
        ):
            total = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
            sys.stderr.write(f"\n{step}: {total / 2**20:.1f} MiB more, by line:\n")
            sys.stderr.write("\n".join(_top_allocations(before, after)) + "\n")
        tracemalloc.stop()
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        sys.stderr.write(text.getvalue())
    return {
        "load_s": round(loaded - started, 3),
        "parse_s": round(parsed - parse_started, 3),
        "plan_s": round(planned - parsed, 3),
        "parse_plan_s": round(planned - parse_started, 3),
        "rss_after_load_mib": round(rss_loaded, 1),
        "peak_rss_after_load_mib": round(peak_loaded, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "rss_end_mib": round(current_rss_mib(), 1),
        "records": sum(len(records) for records in inventories.values()),
        "gc_mode": gc_mode,
        "gc": clock.as_json(),
        "counts": plan.counts(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=1_000_000, metavar="N")
    parser.add_argument("--change-share", type=float, default=DEFAULT_CHANGE_SHARE)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, metavar="K", help="runs (fresh processes); medians")
    parser.add_argument(
        "--profile", type=Path, metavar="FILE", help="cProfile parse+plan into FILE (one run)"
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE)
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help="the JSON result (default: under --cache-dir)"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON result on stdout")
    parser.add_argument(
        "--gc",
        choices=["default", "freeze", "off"],
        default="default",
        help="the cyclic collector during parse+plan: as the CLI has it, frozen after loading, or off",
    )
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="tracemalloc: what each step allocates, by line (slow; one run)",
    )
    parser.add_argument("--once", type=Path, metavar="FLEET_ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.once is not None:
        json.dump(once(args.once, args.profile, args.gc, args.trace_memory), sys.stdout)
        sys.stdout.write("\n")
        return 0
    data = prepare_fleet(args.devices, change_share=args.change_share, seed=args.seed, cache=args.cache_dir)
    runs = []
    for index in range(1 if args.profile or args.trace_memory else args.repeat):
        out = args.cache_dir / "work" / f"parse_plan-{args.devices}-{index}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(Path(__file__).resolve()), "--once", str(data.root), "--gc", args.gc]
        if args.profile:
            command += ["--profile", str(args.profile)]
        if args.trace_memory:
            command += ["--trace-memory"]
        errors = out.with_suffix(".err")
        measured = run_measured(command, stdout=out, stderr=errors)
        messages = errors.read_text(encoding="utf-8", errors="replace")
        if measured.exit_code != 0:
            raise RuntimeError(
                f"parse_plan run failed with exit code {measured.exit_code}:\n{messages[-3000:]}"
            )
        if args.profile or args.trace_memory:
            sys.stderr.write(messages)
        run = json.loads(out.read_text(encoding="utf-8"))
        run["process"] = measured.as_json()
        out.unlink()
        errors.unlink()
        runs.append(run)
        print(
            f"run {index + 1}: parse {run['parse_s']:.2f} s + plan {run['plan_s']:.2f} s"
            f" = {run['parse_plan_s']:.2f} s; peak RSS {run['peak_rss_mib']:.0f} MiB"
            f" ({run['peak_rss_after_load_mib']:.0f} MiB after loading {run['records']:,} records);"
            f" cyclic GC {run['gc']['seconds']:.2f} s",
            file=sys.stderr,
            flush=True,
        )
    result = {
        "benchmark": "sos-inventory parse+plan (no network)",
        "date": now_iso(),
        "machine": machine_info(),
        "devices": args.devices,
        "fleet": str(data.root),
        "median": {
            key: median([run[key] for run in runs])
            for key in (
                "load_s",
                "parse_s",
                "plan_s",
                "parse_plan_s",
                "peak_rss_after_load_mib",
                "peak_rss_mib",
            )
        },
        "runs": runs,
    }
    output = (
        args.output
        or args.cache_dir / "results" / f"parse_plan-{args.devices}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    med = result["median"]
    print(
        f"parse+plan of {args.devices:,} devices (median of {len(runs)}): {med['parse_plan_s']:.2f} s"
        f" (parse {med['parse_s']:.2f} s, plan {med['plan_s']:.2f} s); peak RSS {med['peak_rss_mib']:.0f} MiB,"
        f" of which {med['peak_rss_after_load_mib']:.0f} MiB before parsing (the loaded records)\nJSON: {output}",
        file=sys.stderr if args.json else sys.stdout,
    )
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How the job scales with the fleet: ``plan`` with no latency, ``update`` at 20 ms, parse+plan alone.

    python bench/scaling.py                      # 10k, 100k, 1M devices; ~15 min the first time
    python bench/scaling.py --plan-sizes 10000 100000 --update-sizes 10000 --repeat 1

Writes ``docs/performance-scaling.json`` (every figure, with the machine and
the commit) and ``docs/performance-scaling.png`` (needs matplotlib: the
``bench`` extra). Fleets are made on first use and cached (bench/fleet_data.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchlib import CACHE, ROOT, machine_info, now_iso, run_measured
from run import Params, run_benchmark

DOCS = ROOT / "docs"
PLAN_SIZES = (10_000, 100_000, 1_000_000)
UPDATE_SIZES = (10_000, 100_000)


def _job_point(result: dict[str, Any]) -> dict[str, Any]:
    med = result["median"]
    return {
        "devices": result["fleet"]["devices"],
        "machines": result["fleet"]["machines"],
        "records": sum(result["fleet"]["records"].values()),
        "changes": result["changes"],
        "wall_s": med["wall_s"],
        "peak_rss_mib": med["peak_rss_mib"],
        "cpu_s": med["cpu_s"],
        "requests": med["requests"],
        "requests_per_s": med["requests_per_s"],
        "server_cpu_s": med["server_cpu_s"],
        "ideal_s": result["ideal"]["wall_s"],
        "old_lower_bound_s": result["old"]["lower_bound_s"],
        "old_extrapolated_s": result["old"]["extrapolated_s"],
        "ratio_to_ideal": result["ratios"]["to_ideal"],
        "speedup_vs_old_lower_bound": result["ratios"]["speedup_vs_old_lower_bound"],
        "speedup_vs_old_extrapolated": result["ratios"]["speedup_vs_old_extrapolated"],
        "runs": len(result["runs"]),
    }


def _parse_plan_point(devices: int, repeat: int, cache: Path) -> dict[str, Any]:
    output = cache / "work" / f"scaling-parse_plan-{devices}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    script = Path(__file__).resolve().with_name("parse_plan.py")
    command = [sys.executable, str(script), "--devices", str(devices), "--repeat", str(repeat)]
    command += ["--cache-dir", str(cache), "--output", str(output)]
    measured = run_measured(command, timeout=3600)
    if measured.exit_code != 0:
        raise RuntimeError(f"parse_plan.py failed for {devices} devices")
    med = json.loads(output.read_text(encoding="utf-8"))["median"]
    return {"devices": devices, **med}


def plot(data: dict[str, Any], path: Path) -> None:
    """Wall time and peak RSS against the number of devices, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    figure, (times, memory) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = data["series"]

    def line(axis: Any, points: list[dict[str, Any]], key: str, label: str, style: str) -> None:
        chosen = [p for p in points if p.get(key)]
        if chosen:
            axis.plot([p["devices"] for p in chosen], [p[key] for p in chosen], style, label=label)

    line(times, series["plan"], "wall_s", "plan, no latency", "o-")
    line(times, series["parse_plan"], "parse_plan_s", "parse + plan alone (no network)", "s--")
    line(times, series["update"], "wall_s", f"update, {data['update_latency_ms']} ms latency", "o-")
    line(times, series["update"], "ideal_s", "update, ideal", "k:")
    line(times, series["update"], "old_lower_bound_s", "old algorithm, lower bound", "r:")
    line(times, series["update"], "old_extrapolated_s", "old algorithm, extrapolated", "rx--")
    times.set(xscale="log", yscale="log", xlabel="devices", ylabel="wall time (s)", title="Wall time")
    times.grid(True, which="both", alpha=0.3)
    times.legend(fontsize="small")

    line(memory, series["plan"], "peak_rss_mib", "plan", "o-")
    line(memory, series["update"], "peak_rss_mib", "update", "o-")
    line(memory, series["parse_plan"], "peak_rss_mib", "parse + plan alone", "s--")
    memory.set(xscale="log", yscale="log", xlabel="devices", ylabel="peak RSS (MiB)", title="Peak memory")
    for axis in (times, memory):
        axis.yaxis.set_major_formatter(ScalarFormatter())
    memory.grid(True, which="both", alpha=0.3)
    memory.legend(fontsize="small")

    machine = data["machine"]
    figure.suptitle(
        f"sos-inventory scaling, {data['date'][:10]}: {machine['nproc']} cores, {machine['cpu']},"
        f" Python {machine['python']}, commit {(machine['commit'] or '?')[:10]}",
        fontsize="medium",
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plan-sizes", type=int, nargs="*", default=list(PLAN_SIZES), metavar="N")
    parser.add_argument("--update-sizes", type=int, nargs="*", default=list(UPDATE_SIZES), metavar="N")
    parser.add_argument("--latency-ms", type=int, default=20, help="the update runs' latency")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, metavar="K", help="runs per point (medians)")
    parser.add_argument("--old-sample", type=int, default=300, metavar="M")
    parser.add_argument("--no-parse-plan", action="store_true", help="skip the parse+plan-alone series")
    parser.add_argument("--cache-dir", type=Path, default=CACHE)
    parser.add_argument("--output", type=Path, default=DOCS / "performance-scaling.json", metavar="FILE")
    parser.add_argument("--plot", type=Path, default=DOCS / "performance-scaling.png", metavar="FILE")
    args = parser.parse_args(argv)

    series: dict[str, list[dict[str, Any]]] = {"plan": [], "update": [], "parse_plan": []}
    for devices in args.plan_sizes:
        params = Params(
            devices=devices,
            latency_ms=0,
            concurrency=args.concurrency,
            repeat=args.repeat,
            command="plan",
            old_sample=0,
            cache=args.cache_dir,
        )
        series["plan"].append(_job_point(run_benchmark(params)))
        print(f"plan {devices}: {series['plan'][-1]['wall_s']} s", file=sys.stderr, flush=True)
        if not args.no_parse_plan:
            series["parse_plan"].append(_parse_plan_point(devices, args.repeat, args.cache_dir))
    for devices in args.update_sizes:
        params = Params(
            devices=devices,
            latency_ms=args.latency_ms,
            concurrency=args.concurrency,
            repeat=args.repeat,
            command="update",
            old_sample=args.old_sample,
            cache=args.cache_dir,
        )
        series["update"].append(_job_point(run_benchmark(params)))
        print(f"update {devices}: {series['update'][-1]['wall_s']} s", file=sys.stderr, flush=True)
    data = {
        "benchmark": "sos-inventory scaling",
        "date": now_iso(),
        "machine": machine_info(),
        "concurrency": args.concurrency,
        "update_latency_ms": args.latency_ms,
        "repeat": args.repeat,
        "series": series,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    try:
        plot(data, args.plot)
    except ImportError:
        print("matplotlib is missing (pip install -e '.[bench]'): no plot", file=sys.stderr)
    else:
        print(f"wrote {args.output} and {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

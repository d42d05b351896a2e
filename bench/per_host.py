"""A run on a few machines of a big inventory: does ``auto`` pick per-host queries, and pay off?

    python bench/per_host.py                         # 10 rows against the 1M fleet's ALC inventory
    python bench/per_host.py --devices 100000 --rows 50 --repeat 1

Takes the first ROWS data rows of the fleet's first ALC export, then runs
``plan --query-strategy auto`` and ``--query-strategy bulk`` on them, alternately,
against the reference server (no latency) on the fleet's database, and prints
the median wall time, peak RSS and requests of each. ``--min-export-ratio 0``:
so few rows of such an inventory look like a truncated export (README "Decisions").
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import (
    CACHE,
    clean_env,
    copy_db,
    machine_info,
    median,
    now_iso,
    python_command,
    run_measured,
    running_server,
)
from fleet_data import NOW_TEXT, prepare_fleet

from sos_inventory.server.auth import DEMO_EMAIL, DEMO_TOKEN

STRATEGIES = ("auto", "bulk")


def _export(source: Path, rows: int, target: Path) -> None:
    """The header and the first ``rows`` rows of ``source``, in an Acct folder of the same name."""
    target.parent.mkdir(parents=True)
    with (
        source.open(encoding="utf-8", newline="") as src,
        target.open("w", encoding="utf-8", newline="") as out,
    ):
        writer = csv.writer(out)
        for number, row in enumerate(csv.reader(src)):
            if number > rows:
                break
            writer.writerow(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--devices", type=int, default=1_000_000, metavar="N", help="the fleet (its inventory)"
    )
    parser.add_argument("--rows", type=int, default=10, metavar="M", help="rows of the small export")
    parser.add_argument(
        "--account", default="531277", help="the export to take the rows from (an ALC account)"
    )
    parser.add_argument("--repeat", type=int, default=3, metavar="K", help="runs of each strategy; medians")
    parser.add_argument("--cache-dir", type=Path, default=CACHE)
    parser.add_argument("--json", action="store_true", help="print the JSON result on stdout")
    args = parser.parse_args(argv)

    data = prepare_fleet(args.devices, cache=args.cache_dir)
    runs: dict[str, list[dict[str, Any]]] = {strategy: [] for strategy in STRATEGIES}
    with tempfile.TemporaryDirectory(prefix="sos-per-host-") as work_dir:
        work = Path(work_dir)
        _export(
            data.devices / f"Acct{args.account}" / "devices.csv",
            args.rows,
            work / "few" / f"Acct{args.account}" / "devices.csv",
        )
        copy_db(data.seed_db, work / "inventory.db")
        with running_server(work / "inventory.db", latency_ms=0, log=work / "server.log") as server:
            for _ in range(args.repeat):
                for strategy in STRATEGIES:
                    server.reset_stats()
                    command = python_command(
                        "plan", "--config", str(data.config), "--devices", str(work / "few"),
                        "--inventory-url", server.url, "--query-strategy", strategy,
                        "--min-export-ratio", "0", "--now", NOW_TEXT, "--quiet",
                    )  # fmt: skip
                    measured = run_measured(
                        command, env=clean_env(SOS_API_EMAIL=DEMO_EMAIL, SOS_API_TOKEN=DEMO_TOKEN)
                    )
                    if measured.exit_code != 0:
                        sys.stderr.write(f"plan --query-strategy {strategy} exited {measured.exit_code}\n")
                        return 1
                    by_kind = server.stats()["by_kind"]
                    runs[strategy].append(
                        {
                            "wall_s": round(measured.wall_s, 3),
                            "peak_rss_mib": round(measured.peak_rss_mib, 1),
                            "requests": by_kind,
                        }
                    )
    result = {
        "at": now_iso(),
        "machine": machine_info(),
        "fleet": {"devices": args.devices, "records": data.meta["records"]},
        "rows": args.rows,
        "runs": runs,
        "median": {
            strategy: {
                "wall_s": median([run["wall_s"] for run in runs[strategy]]),
                "peak_rss_mib": median([run["peak_rss_mib"] for run in runs[strategy]]),
            }
            for strategy in STRATEGIES
        },
    }
    for strategy in STRATEGIES:
        requests = runs[strategy][-1]["requests"]
        sys.stderr.write(
            f"{strategy:>5}: {result['median'][strategy]['wall_s']:.2f} s "
            f"(runs {', '.join(str(run['wall_s']) for run in runs[strategy])}), "
            f"{result['median'][strategy]['peak_rss_mib']:.0f} MiB, "
            f"{requests['query']} page(s), {requests['query_hostname']} hostname queries\n"
        )
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

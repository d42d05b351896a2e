"""The ledger at fleet scale: its size, and how fast ``history``, ``audit verify`` and the drift review read it.

    python bench/ledger.py                               # 100 runs x 100,000 machines x 3% changes
    python bench/ledger.py --runs 10 --machines 10000    # a quick look

Writes the ledger through the same calls the apply loop makes (one ``pending``
transaction before each request, one ``settle`` after), so the write figure is
the ledger's cost per change on the update path. Four changes in five touch
one field (Status), the others two. Then, on the finished file: its size, the
median time of ``sos-inventory history HOSTNAME`` (the real CLI, process start
included, and the reader call alone), ``audit verify``, ``runs``, and the lookup
the drift review makes for one run's planned changes; for the CLI calls, their CPU
time too (user + system), which a busy shared machine inflates less than the
wall time. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sos_inventory.model import Change
from sos_inventory.state import sqlite as ledger
from sos_inventory.state.sqlite import Ledger, LedgerRecorder

INVENTORY = "https://sos.example.com"  # the one inventory the bench's runs were made on

FIELDS = {"application": ("containers-kubernetes", "container-registry")}
STATUS = ("Build", "Live", "Available")


def hostname(n: int) -> str:
    return f"prod-dal{10 + n % 13}-carrier{n % 97}-worker-{n:06d}"


def change_of(rng: random.Random, n: int) -> Change:
    before, after = rng.sample(STATUS, 2)
    fields_before, fields_after, rules = {"status": before}, {"status": after}, {"status": "lifecycle"}
    if rng.random() < 0.2:
        old, new = FIELDS["application"]
        fields_before["application"], fields_after["application"] = old, new
        rules["application"] = "ownership.application[2]"
    return Change("ALC", hostname(n), f"U{n:07d}", fields_before, fields_after, rules)


def build(state: Path, runs: int, machines: int, share: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    per_run = round(machines * share)
    started, cpu = time.perf_counter(), time.process_time()
    rows = 0
    changed: list[str] = []
    with Ledger.open(state) as book:
        for number in range(runs):
            run_id = f"2026{1 + number // 28:02d}{1 + number % 28:02d}T060000Z-{number:04x}"
            book.start_run(
                run_id,
                {
                    "command": "update",
                    "version": "bench",
                    "user": "job@example.com",
                    "inventory_url": INVENTORY,
                },
            )
            recorder = LedgerRecorder(book, run_id)
            for n in rng.sample(range(machines), per_run):
                change = change_of(rng, n)
                token = recorder.pending(change)
                recorder.settled(token, change, "applied" if rng.random() > 0.002 else "failed")
                rows += len(change.after) + 1
                changed.append(change.hostname)
            book.finish_run(run_id, {"exit_code": 0, "counts": {"changes": per_run, "applied": per_run}})
            rows += 2
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "changes": runs * per_run,
        "rows": rows,
        "write_seconds": round(seconds, 2),
        "write_us_per_change": round(seconds / (runs * per_run) * 1e6, 1),
        "write_cpu_us_per_change": round(cpu / (runs * per_run) * 1e6, 1),
        "hosts": changed[-per_run:],
    }


def timed(function: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 4)


def cli(*args: str) -> float:
    """Run the real CLI; the CPU seconds it took (user + system), which a busy machine inflates less
    than the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "sos_inventory", *args], check=True, capture_output=True, timeout=600
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def measure(state: Path, changed: list[str], repeat: int) -> dict[str, Any]:
    """Timings on the finished ledger; ``changed``: the machines the last run changed."""
    db = ledger.open_reader(state)
    hosts = random.Random(1).sample(changed, repeat)
    planned = sorted(set(changed))  # as the drift review of a run planning those changes
    try:
        found = len(ledger.history(db, hosts[0]))
        out = {
            "history_changes_of_one_machine": found,
            "history_call_seconds": timed(lambda: ledger.history(db, hosts[0]), repeat),
            "runs_call_seconds": timed(lambda: ledger.runs(db, 20), repeat),
            "drift_lookup_seconds_for_one_run": timed(
                lambda: ledger.applied_writes(db, planned, INVENTORY), 3
            ),
        }
    finally:
        db.close()
    cpu: dict[str, list[float]] = {"history": [], "verify": []}
    out["history_cli_seconds"] = timed(
        lambda: cpu["history"].append(cli("history", hosts[0], "--state-dir", str(state))), repeat
    )
    out["history_cli_cpu_seconds"] = round(statistics.median(cpu["history"]), 3)
    out["audit_verify_cli_seconds"] = timed(
        lambda: cpu["verify"].append(cli("audit", "verify", "--state-dir", str(state))), 1
    )
    out["audit_verify_cli_cpu_seconds"] = round(statistics.median(cpu["verify"]), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--machines", type=int, default=100_000)
    parser.add_argument("--share", type=float, default=0.03, help="share of machines changed per run")
    parser.add_argument("--repeat", type=int, default=5, help="timings are medians of this many")
    parser.add_argument(
        "--keep",
        type=Path,
        help="build the ledger in this folder and keep it (a kept ledger is measured again)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        state = args.keep or Path(temporary)
        result: dict[str, Any] = {"runs": args.runs, "machines": args.machines, "share": args.share}
        if (state / ledger.LEDGER_NAME).exists():  # --keep of an earlier run: measure it again
            db = ledger.open_reader(state)
            last = ledger.runs(db, 1)[0].run_id
            changed = [c.hostname for c in ledger.run_changes(db, last)]
            db.close()
        else:
            built = build(state, args.runs, args.machines, args.share, seed=7)
            changed = built.pop("hosts")
            result.update(built)
        # A checkpoint folds the WAL into the file, as the next open does: the size an archive keeps.
        with Ledger.open(state) as book:
            book.checkpoint()
        size = sum(p.stat().st_size for p in state.glob("ledger.db*"))
        result["size_bytes"] = size
        result["size_mib"] = round(size / 2**20, 1)
        if "changes" in result:
            result["bytes_per_change"] = round(size / result["changes"])
        result.update(measure(state, changed, args.repeat))
        result["cpu_count"] = os.cpu_count()
        result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

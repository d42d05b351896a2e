"""Benchmark the ``update`` (or ``plan``) job against the reference server with injected latency.

    python bench/run.py                                   # 100,000 devices, 20 ms, concurrency 16, 3 runs
    python bench/run.py --devices 1000000 --command plan --latency-ms 0
    python bench/run.py --devices 300 --latency-ms 0 --repeat 1 --json

Each run starts from the same drift: the seeded database (bench/fleet_data.py)
is copied before every run, a reference server is started on it on a free
loopback port with ``--latency-ms``, and ``python -m sos_inventory COMMAND`` runs
as a subprocess. Measured: wall time from its start to its exit, its peak RSS
and CPU time (``wait4``), and the server's ``/_ref/stats`` (requests by kind).

Two references are measured in the same run:

- old algorithm: what the job did before paging, one per-host query per
  machine, then one update per change, one request at a time
  (``SosClient.records_of`` and ``SosClient.update``, concurrency 1). It is
  measured on a sample (default 300 machines with the fleet's change share, on
  a fresh copy of the database) and extrapolated to the fleet; it can never beat
  its lower bound, (queries + updates) x latency.
- ideal: (pages + metadata requests + one update per change) x latency / concurrency.

Medians of ``--repeat`` runs are reported, as a table and as JSON (written to
``--output``, and to stdout with ``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from benchlib import (
    CACHE,
    Server,
    clean_env,
    copy_db,
    machine_info,
    median,
    now_iso,
    python_command,
    run_measured,
    running_server,
)
from fleet_data import DEFAULT_CHANGE_SHARE, NOW, NOW_TEXT, FleetData, parse_drift, prepare_fleet
from profile_summary import render as render_profile

from sos_inventory.config import Credentials, DevicesSpec, load_config
from sos_inventory.inventory.sos.client import SosClient
from sos_inventory.model import Device
from sos_inventory.server.auth import DEMO_EMAIL, DEMO_TOKEN
from sos_inventory.sync.devices import DeviceSet, read_devices
from sos_inventory.sync.plan import build_plan

PAGE_SIZE = 1000  # the config's inventory.page_size (bench/fleet_data.py)
METADATA_KINDS = ("applications", "environments")


@dataclass(frozen=True, slots=True)
class Params:
    """What to measure."""

    devices: int = 100_000
    latency_ms: int = 20
    concurrency: int = 16
    repeat: int = 3
    command: str = "update"
    old_sample: int = 300
    change_share: float = DEFAULT_CHANGE_SHARE
    drift: dict[str, float] | None = None
    seed: int = 7
    timeout_s: float = 3600.0
    keep: bool = False
    cache: Path = CACHE
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    profile: Path | None = None  # py-spy every job run into this folder (timings then include its cost)


def _credentials_env() -> dict[str, str]:
    return clean_env(SOS_API_EMAIL=DEMO_EMAIL, SOS_API_TOKEN=DEMO_TOKEN)


class PhaseClock:
    """Polls the server's counters while the job runs, to time its phases (to ~0.1 s):
    start-up and parsing until the first request, reading the inventory until the last
    page, planning until the first update, applying until the last, then what follows
    the last request (reports and exit; for ``plan``, planning as well)."""

    def __init__(self, server: Server, period: float = 0.1) -> None:
        self.server = server
        self.period = period
        self.started = time.perf_counter()
        self.first_request: float | None = None
        self.last_query: float | None = None
        self.first_update: float | None = None
        self.last_update: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        seen_queries = seen_updates = 0
        while not self._done.wait(self.period):
            try:
                kinds = self.server.stats().get("by_kind", {})
            except OSError:
                continue
            moment = time.perf_counter() - self.started
            queries = sum(kinds.get(kind, 0) for kind in ("query", "query_hostname", *METADATA_KINDS))
            updates = kinds.get("update", 0)
            if queries + updates and self.first_request is None:
                self.first_request = moment
            if queries > seen_queries:
                self.last_query, seen_queries = moment, queries
            if updates and self.first_update is None:
                self.first_update = moment
            if updates > seen_updates:
                self.last_update, seen_updates = moment, updates

    def phases(self, wall: float) -> dict[str, float | None]:
        self._done.set()
        self._thread.join(timeout=5)

        def span(start: float | None, end: float | None) -> float | None:
            return None if start is None or end is None else round(max(0.0, end - start), 2)

        last = self.last_update if self.last_update is not None else self.last_query
        return {
            "start_and_parse_s": span(0.0, self.first_request),
            "read_inventory_s": span(self.first_request, self.last_query),
            "plan_s": span(self.last_query, self.first_update),
            "apply_s": span(self.first_update, self.last_update),
            # update: the reports and exit; plan: planning too (it sends no request after reading)
            "after_last_request_s": span(last, wall),
        }


def measure_job(data: FleetData, params: Params, work: Path) -> dict[str, Any]:
    """One run of the job as a subprocess against a fresh copy of the inventory."""
    work.mkdir(parents=True, exist_ok=True)
    db = work / "inventory.db"
    copy_db(data.seed_db, db)
    with running_server(db, latency_ms=params.latency_ms, log=work / "server.log") as server:
        cpu_before = server.cpu_s()
        command = python_command(
            params.command,
            "--config",
            str(data.config),
            "--inventory-url",
            server.url,
            "--now",
            NOW_TEXT,
            "--concurrency",
            str(params.concurrency),
            "--report-dir",
            str(work / "report"),
        )
        if params.command == "update":
            command += ["--state-dir", str(work / "state")]
        command += list(params.extra_args)
        server_spy = None
        if params.profile is not None:
            params.profile.mkdir(parents=True, exist_ok=True)
            name = f"{params.command}-{params.devices}-{work.name}"
            command = [*py_spy_record(params.profile / f"{name}.txt"), "--", *command]
            # The server too: its CPU per request is part of every round trip.
            server_spy = subprocess.Popen(
                [*py_spy_record(params.profile / f"{name}.server.txt"), "--pid", str(server.process.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        clock = PhaseClock(server)
        measured = run_measured(
            command,
            env=_credentials_env(),
            cwd=work,
            stdout=work / "cli.out",
            stderr=work / "cli.err",
            timeout=params.timeout_s,
        )
        phases = clock.phases(measured.wall_s)
        if server_spy is not None:
            server_spy.send_signal(signal.SIGINT)  # py-spy writes its profile and exits
            server_spy.wait(timeout=120)
        stats = server.stats()
        server_cpu = server.cpu_s() - cpu_before
        server_rss = server.peak_rss_mib()
    report_path = work / "report" / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    if measured.exit_code not in (0, 1):
        tail = (work / "cli.err").read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{params.command} exited {measured.exit_code} (see {work}):\n{tail}")
    requests = int(stats.get("requests", 0))
    return {
        **measured.as_json(),
        "requests": requests,
        "by_kind": stats.get("by_kind", {}),
        "by_status": stats.get("by_status", {}),
        "requests_per_s": round(requests / measured.wall_s, 1) if measured.wall_s > 0 else None,
        "server_cpu_s": round(server_cpu, 2),
        "server_peak_rss_mib": round(server_rss, 1),
        "phases": phases,
        "counts": report.get("counts", {}),
        "client_requests": report.get("requests", {}),
    }


def py_spy_record(output: Path) -> list[str]:
    """``py-spy record`` into raw collapsed stacks (bench/profile_summary.py reads them)."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return [py_spy, "record", "--format", "raw", "--rate", "200", "--output", str(output)]


def choose_sample(data: FleetData, size: int) -> tuple[list[Device], int]:
    """Up to ``size`` machines with the fleet's change share; and how many of them need a change."""
    config = load_config(data.config)
    device_set = read_devices(config, [DevicesSpec(path=data.sample_devices)])
    by_host = {device.hostname: device for device in device_set.devices}
    pools = data.meta["sample"]
    size = min(size, data.meta["machines"])
    wanted = min(len(pools["changed"]), round(size * data.meta["change_share"]))
    hosts = pools["changed"][:wanted] + pools["in_step"][: size - wanted]
    sample = [by_host[host] for host in hosts if host in by_host]
    random.Random(size).shuffle(sample)  # changes spread through the run, as in a fleet
    return sample, wanted


async def _old_algorithm(url: str, config_path: Path, sample: list[Device]) -> dict[str, Any]:
    config = load_config(config_path)
    credentials = Credentials(DEMO_EMAIL, DEMO_TOKEN)
    query_s: list[float] = []
    update_s: list[float] = []
    started = time.perf_counter()
    async with SosClient(
        url, credentials, concurrency=1, page_size=PAGE_SIZE, timeout=config.timeout
    ) as client:
        for device in sample:
            begun = time.perf_counter()
            records = await client.records_of(device.c_code, device.hostname)
            plan = build_plan(DeviceSet(devices=[device]), {device.c_code: records}, config, NOW)
            query_s.append(time.perf_counter() - begun)
            for change in plan.changes:
                begun = time.perf_counter()
                await client.update(change.c_code, change.unid, change.after, hostname=change.hostname)
                update_s.append(time.perf_counter() - begun)
    return {
        "machines": len(sample),
        "queries": len(query_s),
        "updates": len(update_s),
        "wall_s": round(time.perf_counter() - started, 3),
        "per_machine_ms": round(1000 * sum(query_s) / len(query_s), 2) if query_s else None,
        "per_update_ms": round(1000 * sum(update_s) / len(update_s), 2) if update_s else None,
    }


def measure_old(data: FleetData, params: Params, work: Path, sample: list[Device]) -> dict[str, Any]:
    """The old algorithm on the sample, against its own fresh copy of the inventory."""
    work.mkdir(parents=True, exist_ok=True)
    db = work / "inventory.db"
    copy_db(data.seed_db, db)
    with running_server(db, latency_ms=params.latency_ms, log=work / "server.log") as server:
        result = asyncio.run(_old_algorithm(server.url, data.config, sample))
        result["by_kind"] = Server.stats(server).get("by_kind", {})
    return result


def _ideal(data: FleetData, changes: int, params: Params) -> dict[str, Any]:
    pages = sum(math.ceil(count / PAGE_SIZE) for count in data.meta["records"].values())
    metadata = len(METADATA_KINDS) * len(data.meta["records"])
    updates = changes if params.command == "update" else 0
    requests = pages + metadata + updates
    return {
        "pages": pages,
        "metadata": metadata,
        "updates": updates,
        "requests": requests,
        "wall_s": round(requests * params.latency_ms / 1000 / params.concurrency, 3),
    }


def _old_reference(
    machines: int, changes: int, params: Params, samples: list[dict[str, Any]]
) -> dict[str, Any]:
    updates = changes if params.command == "update" else 0
    lower = (machines + updates) * params.latency_ms / 1000
    out: dict[str, Any] = {
        "queries": machines,
        "updates": updates,
        "lower_bound_s": round(lower, 2),
        "extrapolated_s": None,
        "extrapolated": True,
        "samples": samples,
    }
    if samples:
        per_machine = median([s["per_machine_ms"] for s in samples])
        per_update = median([s["per_update_ms"] for s in samples]) or per_machine
        if per_machine is not None and per_update is not None:
            out["per_machine_ms"] = round(per_machine, 2)
            out["per_update_ms"] = round(per_update, 2)
            out["extrapolated_s"] = round((machines * per_machine + updates * per_update) / 1000, 2)
        out["sample_machines"] = samples[0]["machines"]
        out["sample_updates"] = samples[0]["updates"]
    return out


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:  # a reference of 0 s (no latency) compares with nothing
        return None
    return round(numerator / denominator, 2)


def run_benchmark(params: Params, log: TextIO | None = sys.stderr) -> dict[str, Any]:
    """Measure; return the result as JSON-ready data (see the module docstring)."""
    data = prepare_fleet(
        params.devices,
        change_share=params.change_share,
        drift=params.drift,
        seed=params.seed,
        cache=params.cache,
        log=log,
    )
    work = params.cache / "work" / f"{params.command}-{params.devices}-{time.strftime('%Y%m%dT%H%M%S')}"
    sample, _ = choose_sample(data, params.old_sample) if params.old_sample > 0 else ([], 0)
    runs: list[dict[str, Any]] = []
    olds: list[dict[str, Any]] = []
    try:
        for index in range(params.repeat):
            run = measure_job(data, params, work / f"run-{index + 1}")
            runs.append(run)
            if log is not None:
                print(
                    f"run {index + 1}/{params.repeat}: {params.command} {run['wall_s']:.2f} s,"
                    f" {run['peak_rss_mib']:.0f} MiB, {run['requests']} requests",
                    file=log,
                    flush=True,
                )
            if sample:
                old = measure_old(data, params, work / f"old-{index + 1}", sample)
                olds.append(old)
                if log is not None:
                    print(
                        f"old algorithm on {old['machines']} machines: {old['wall_s']:.2f} s"
                        f" ({old['queries']} queries, {old['updates']} updates)",
                        file=log,
                        flush=True,
                    )
    finally:
        if not params.keep:
            shutil.rmtree(work, ignore_errors=True)
    counts = runs[0]["counts"]
    changes = int(counts.get("changes", data.meta["expected_changes"]))
    machines = int(counts.get("devices", 0)) - int(counts.get("excluded", 0)) - int(counts.get("invalid", 0))
    wall = median([r["wall_s"] for r in runs])
    ideal = _ideal(data, changes, params)
    old = _old_reference(machines, changes, params, olds)
    by_kind = {kind: median([r["by_kind"].get(kind, 0) for r in runs]) for kind in runs[0]["by_kind"]}
    return {
        "benchmark": f"sos-inventory {params.command}",
        "version": 1,
        "date": now_iso(),
        "machine": machine_info(),
        "params": {
            **{
                key: str(value) if isinstance(value, Path) else value for key, value in asdict(params).items()
            },
            "page_size": PAGE_SIZE,
        },
        "fleet": {
            "root": str(data.root),
            "devices": data.meta["devices"],
            "machines": data.meta["machines"],
            "records": data.meta["records"],
            "expected_changes": data.meta["expected_changes"],
            "change_share": data.meta["change_share"],
        },
        "changes": changes,
        "median": {
            "wall_s": wall,
            "peak_rss_mib": median([r["peak_rss_mib"] for r in runs]),
            "cpu_s": median([r["cpu_user_s"] + r["cpu_system_s"] for r in runs]),
            "requests": median([r["requests"] for r in runs]),
            "requests_per_s": median([r["requests_per_s"] for r in runs]),
            "by_kind": by_kind,
            "server_cpu_s": median([r["server_cpu_s"] for r in runs]),
            "server_peak_rss_mib": median([r["server_peak_rss_mib"] for r in runs]),
            "phases": {phase: median([r["phases"][phase] for r in runs]) for phase in runs[0]["phases"]},
        },
        "runs": runs,
        "ideal": ideal,
        "old": old,
        "ratios": {
            "to_ideal": _ratio(wall, ideal["wall_s"]),
            "speedup_vs_old_lower_bound": _ratio(old["lower_bound_s"], wall),
            "speedup_vs_old_extrapolated": _ratio(old["extrapolated_s"], wall),
        },
    }


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if value < 100 else f"{value:,.0f} s"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}x"


def render_table(result: dict[str, Any]) -> str:
    """The result for humans."""
    p, m, f, med = result["params"], result["machine"], result["fleet"], result["median"]
    ideal, old, ratios = result["ideal"], result["old"], result["ratios"]
    commit = (m.get("commit") or "unknown")[:10] + (" (dirty tree)" if m.get("dirty") else "")
    kinds = med["by_kind"]
    query = kinds.get("query", 0)
    names = kinds.get("applications", 0) + kinds.get("environments", 0)
    lines = [
        f"{result['benchmark']} benchmark, {result['date']}",
        f"machine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, commit {commit}",
        f"fleet: {f['devices']:,} devices ({f['machines']:,} machines, {sum(f['records'].values()):,} records"
        f" in {len(f['records'])} C_Codes), {result['changes']:,} changes"
        f" ({100 * result['changes'] / max(1, f['machines']):.2f}%)",
        f"latency {p['latency_ms']} ms, concurrency {p['concurrency']}, {p['repeat']} run(s): medians",
        "",
        f"  {'':28}{'wall':>12}{'peak RSS':>12}{'CPU':>10}   requests",
        f"  {p['command'] + ' (this code)':28}{_seconds(med['wall_s']):>12}{med['peak_rss_mib']:>8.0f} MiB"
        f"{_seconds(med['cpu_s']):>10}   {med['requests']:,.0f}: {query:,.0f} pages, {names:,.0f} metadata,"
        f" {kinds.get('update', 0):,.0f} updates; {med['requests_per_s'] or 0:,.0f} req/s",
        f"  {'ideal':28}{_seconds(ideal['wall_s']):>12}{'':22}   {ideal['requests']:,} x {p['latency_ms']} ms"
        f" / {p['concurrency']}",
        f"  {'old algorithm, lower bound':28}{_seconds(old['lower_bound_s']):>12}{'':22}"
        f"   ({old['queries']:,} queries + {old['updates']:,} updates) x {p['latency_ms']} ms, serial",
    ]
    if old.get("extrapolated_s") is not None:
        lines.append(
            f"  {'old algorithm, extrapolated':28}{_seconds(old['extrapolated_s']):>12}{'':22}"
            f"   from {old['sample_machines']} machines measured ({old['sample_updates']} updates):"
            f" {old['per_machine_ms']} ms/machine, {old['per_update_ms']} ms/update"
        )
    phases = ", ".join(
        f"{name.removesuffix('_s').replace('_', ' ')} {_seconds(value)}"
        for name, value in med["phases"].items()
    )
    lines += [
        f"  phases: {phases}",
        f"  server: {_seconds(med['server_cpu_s'])} CPU, peak RSS {med['server_peak_rss_mib']:.0f} MiB",
        "",
        f"ratio to ideal {_times(ratios['to_ideal'])}; speed-up {_times(ratios['speedup_vs_old_lower_bound'])}"
        f" vs the old algorithm's lower bound, {_times(ratios['speedup_vs_old_extrapolated'])}"
        " vs its extrapolated measurement",
    ]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=100_000, metavar="N", help="rows in the exports")
    parser.add_argument("--latency-ms", type=int, default=20, metavar="MS", help="server latency per request")
    parser.add_argument("--concurrency", type=int, default=16, metavar="C", help="the job's --concurrency")
    parser.add_argument("--repeat", type=int, default=3, metavar="K", help="runs; medians are reported")
    parser.add_argument("--command", choices=["update", "plan"], default="update")
    parser.add_argument(
        "--old-sample",
        type=int,
        default=300,
        metavar="M",
        help="machines of the old algorithm's sample (0: skip)",
    )
    parser.add_argument(
        "--change-share", type=float, default=DEFAULT_CHANGE_SHARE, help="records needing a change"
    )
    parser.add_argument(
        "--drift", type=parse_drift, metavar="KIND=SHARE,...", help="exact drift (fleet_data.py)"
    )
    parser.add_argument("--seed", type=int, default=7, help="the fleet's random seed")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, metavar="S", help="kill a job run after S seconds"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folders (databases, reports, logs)"
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE, help="fleets, work folders, results")
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help="the JSON result (default: under --cache-dir)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the JSON result on stdout (the table on stderr)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile each job run with py-spy into DIR (slows it down)",
    )
    return parser


def params_from(args: argparse.Namespace) -> Params:
    return Params(
        devices=args.devices,
        latency_ms=args.latency_ms,
        concurrency=args.concurrency,
        repeat=args.repeat,
        command=args.command,
        old_sample=args.old_sample,
        change_share=args.change_share,
        drift=args.drift,
        seed=args.seed,
        timeout_s=args.timeout,
        keep=args.keep,
        cache=args.cache_dir,
        profile=args.profile,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.devices < 1 or args.repeat < 1 or args.concurrency < 1 or args.latency_ms < 0:
        print("run.py: --devices, --repeat and --concurrency must be positive, --latency-ms not negative")
        return 2
    result = run_benchmark(params_from(args))
    output = args.output or (
        args.cache_dir / "results" / f"{args.command}-{args.devices}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    table = render_table(result) + f"\nJSON: {output}\n"
    if args.json:
        sys.stderr.write(table)
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(table)
    if args.profile is not None:
        for path in sorted(args.profile.glob(f"{args.command}-{args.devices}-run-*.txt")):
            sys.stderr.write("\n" + render_profile(path, top=25))
    return 0


if __name__ == "__main__":
    sys.exit(main())

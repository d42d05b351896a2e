"""Benchmark data: a realistic fleet of N devices, its exports, a config and a seeded inventory.

    python bench/fleet_data.py --devices 100000            # make it (or reuse the cached one)
    python bench/fleet_data.py --devices 1000000 --seed-method json   # through `server seed`

The fleet spreads over the 3 accounts / 2 C_Codes of the demo config
(``examples/demo/sos-inventory.yaml``). Its inventory is drifted so that a
share of the records (default 3%) needs a change: stale Status, wrong
Application or Environment, in the proportions 60/20/20; a few machines have
no record and a few records are orphans, as in real life.

Everything streams: one pass over the generated machines writes the
devices.csv files and feeds the seed, so a million devices need little memory.
The result is cached under ``bench/.cache/fleet-<N>-<key>/`` (the key hashes the
parameters and the generator's code), with:

    softlayer-data/Acct<N>/devices.csv   the exports
    sample-data/Acct<N>/devices.csv      rows of machines that need a change / do not,
                                         for the old algorithm's sample (bench/run.py)
    sos-inventory.yaml                   the demo rules; page_size 1000; safety limits raised
    seed.db                              the seeded SQLite inventory (copy it before use)
    meta.json                            counts, expected changes, generation time and memory
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml
from benchlib import CACHE, ROOT, copy_db, peak_rss_mib, python_command, run_measured

from sos_inventory.server.fleet import (
    HEADER,
    Machine,
    device_row,
    iter_fleet,
    iter_seed_servers,
    seed_lists,
    write_seed_json,
)
from sos_inventory.server.store import Store

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NOW_TEXT = "2026-11-27T12:00:00Z"
DEMO_CONFIG = ROOT / "examples" / "demo" / "sos-inventory.yaml"
ACCOUNTS = {"531277": "ALC", "659397": "ALC", "2051458": "ALC_FR2"}
DEFAULT_CHANGE_SHARE = 0.03
# How a change share splits over the kinds of drift that need a write.
CHANGE_WEIGHTS = {"status": 0.6, "application": 0.2, "environment": 0.2}
DEFAULT_OTHER_DRIFT = {"missing": 0.002, "orphan": 0.002}
SAMPLE_POOL = 1000  # rows kept per pool (changed / in step) for the old algorithm's sample
# Part of the cache key, with the generator's source: bump it when what this script
# writes changes (its own edits do not invalidate a million-device fleet otherwise).
FORMAT_VERSION = 1
_GENERATOR_SOURCE = ROOT / "src" / "sos_inventory" / "server" / "fleet.py"


@dataclass(frozen=True, slots=True)
class FleetData:
    """A generated fleet on disk (see the module docstring)."""

    root: Path
    meta: dict[str, Any]

    @property
    def devices(self) -> Path:
        return self.root / "softlayer-data"

    @property
    def sample_devices(self) -> Path:
        return self.root / "sample-data"

    @property
    def config(self) -> Path:
        return self.root / "sos-inventory.yaml"

    @property
    def seed_db(self) -> Path:
        return self.root / "seed.db"


def drift_for(change_share: float, other: Mapping[str, float] | None = None) -> dict[str, float]:
    """Per-kind drift shares whose union (drawn independently) is ``change_share`` of the records."""
    if not 0 <= change_share < 1:
        raise ValueError(f"the change share must be in [0, 1), not {change_share}")
    low, high = 0.0, 1 / max(CHANGE_WEIGHTS.values())
    for _ in range(60):  # bisection on the scale of the weights
        scale = (low + high) / 2
        untouched = 1.0
        for weight in CHANGE_WEIGHTS.values():
            untouched *= 1 - weight * scale
        low, high = (scale, high) if 1 - untouched < change_share else (low, scale)
    drift = {kind: round(weight * low, 6) for kind, weight in CHANGE_WEIGHTS.items()}
    drift.update(DEFAULT_OTHER_DRIFT if other is None else other)
    return drift


def cache_key(devices: int, drift: Mapping[str, float], seed: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT_VERSION, devices, sorted(drift.items()), seed, NOW_TEXT]).encode())
    digest.update(_GENERATOR_SOURCE.read_bytes())
    return digest.hexdigest()[:10]


def write_config(path: Path, devices: int) -> None:
    """The demo's rules and accounts, for the benchmark: pages of 1000, no safety refusal."""
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    config["devices"] = "softlayer-data"
    # The URL is given at run time (--inventory-url); this one only satisfies validation.
    config["inventory"] = {"url": "http://127.0.0.1:9", "page_size": 1000}
    config["safety"] = {"max_changes": max(devices, 1000), "max_change_ratio": 1.0, "min_export_ratio": 0.0}
    path.write_text(
        "# Generated by bench/fleet_data.py from examples/demo/sos-inventory.yaml.\n"
        + yaml.safe_dump(config, sort_keys=False),
        encoding="utf-8",
    )


class _Exports:
    """devices.csv writers, one per account under a folder, opened on first use."""

    def __init__(self, folder: Path, stack: ExitStack) -> None:
        self.folder = folder
        self.stack = stack
        self.writers: dict[str, Any] = {}

    def write(self, machine: Machine) -> None:
        writer = self.writers.get(machine.account)
        if writer is None:
            path = self.folder / f"Acct{machine.account}" / "devices.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            stream: TextIO = self.stack.enter_context(path.open("w", encoding="utf-8", newline=""))
            writer = self.writers[machine.account] = csv.writer(stream, lineterminator="\n")
            writer.writerow(HEADER)
        row = device_row(machine)
        writer.writerow([row[column] for column in HEADER])


class _Tally:
    """Counts what the job will find, and keeps two small random pools of machines for the sample."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.rows = self.excluded = self.managed = self.changed = self.records = 0
        self.pools: dict[bool, list[Machine]] = {True: [], False: []}
        self.seen = {True: 0, False: 0}
        self.current: Machine | None = None
        self.current_changed = False

    def machines(self, machines: Iterable[Machine], exports: _Exports) -> Iterator[Machine]:
        """Pass the machines through, writing each one's row and noting it."""
        for machine in machines:
            self.finish_current()
            exports.write(machine)
            self.rows += 1
            if machine.excluded:
                self.excluded += 1
                continue
            self.managed += 1
            self.current, self.current_changed = machine, False
            yield machine
        self.finish_current()

    def record(self, record: Mapping[str, str]) -> None:
        """A record made for the machine just yielded (or an orphan)."""
        self.records += 1
        machine = self.current
        if machine is None or record["hostname"] != machine.hostname:
            return  # an orphan
        truth = (machine.status(NOW).value, machine.application, machine.environment)
        self.current_changed = (record["status"], record["application"], record["environment"]) != truth

    def finish_current(self) -> None:
        if self.current is None:
            return
        changed = self.current_changed
        self.changed += changed
        # Reservoir sampling: every machine of a pool is equally likely to be kept.
        self.seen[changed] += 1
        pool = self.pools[changed]
        if len(pool) < SAMPLE_POOL:
            pool.append(self.current)
        elif (slot := self.rng.randrange(self.seen[changed])) < SAMPLE_POOL:
            pool[slot] = self.current
        self.current = None


def _servers(tally: _Tally, servers: Iterator[dict[str, str]]) -> Iterator[dict[str, str]]:
    for server in servers:
        tally.record(server)
        yield server


def generate(
    root: Path, devices: int, drift: Mapping[str, float], seed: int, *, method: str = "store"
) -> dict[str, Any]:
    """Write a fleet's files under ``root`` (see the module docstring); return its meta data."""
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tally = _Tally(seed)
    c_codes: set[str] = set()
    seeding: dict[str, Any] = {"method": method}
    db = root / "seed.db"
    with ExitStack() as stack:
        exports = _Exports(root / "softlayer-data", stack)
        machines = tally.machines(iter_fleet(devices, accounts=ACCOUNTS, now=NOW, seed=seed), exports)
        servers = _servers(
            tally, iter_seed_servers(machines, now=NOW, seed=seed, drift=drift, c_codes=c_codes)
        )
        if method == "store":
            with Store(db, clock=lambda: NOW) as store:
                store.seed_servers(servers)
                store.seed(seed_lists(c_codes))
        else:
            seed_json = root / "seed.json"
            write_seed_json(seed_json, servers, c_codes)
    generated = time.perf_counter() - started
    seeding["generate_s"] = round(generated, 2)
    seeding["generate_peak_rss_mib"] = round(peak_rss_mib(), 1)
    if method == "json":
        # The documented path: `sos-inventory server seed --db seed.db seed.json`, measured.
        measured = run_measured(
            python_command("server", "seed", "--db", str(db), str(seed_json)),
            stderr=root / "seed.log",
            timeout=7200,
        )
        if measured.exit_code != 0:
            raise RuntimeError(f"server seed failed; see {root / 'seed.log'}")
        seeding["server_seed"] = measured.as_json()
        seeding["seed_json_mib"] = round(seed_json.stat().st_size / 2**20, 1)
        seed_json.unlink()
    with closing(sqlite3.connect(db)) as connection:
        records = dict(connection.execute("SELECT c_code, COUNT(*) FROM servers GROUP BY c_code").fetchall())
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sample = _write_sample(root / "sample-data", tally)
    write_config(root / "sos-inventory.yaml", devices)
    return {
        "format": FORMAT_VERSION,
        "devices": devices,
        "seed": seed,
        "now": NOW_TEXT,
        "drift": dict(drift),
        "rows": tally.rows,
        "excluded": tally.excluded,
        "machines": tally.managed,
        "records": records,
        "c_codes": sorted(c_codes),
        "expected_changes": tally.changed,
        "change_share": round(tally.changed / tally.managed, 5) if tally.managed else 0.0,
        "sample": sample,
        "db_mib": round(db.stat().st_size / 2**20, 1),
        "seeding": seeding,
        "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _write_sample(folder: Path, tally: _Tally) -> dict[str, list[str]]:
    shutil.rmtree(folder, ignore_errors=True)
    with ExitStack() as stack:
        exports = _Exports(folder, stack)
        for machine in [*tally.pools[True], *tally.pools[False]]:
            exports.write(machine)
    return {
        "changed": [m.hostname for m in tally.pools[True]],
        "in_step": [m.hostname for m in tally.pools[False]],
    }


def prepare_fleet(
    devices: int,
    *,
    change_share: float = DEFAULT_CHANGE_SHARE,
    drift: Mapping[str, float] | None = None,
    seed: int = 7,
    method: str = "store",
    cache: Path = CACHE,
    force: bool = False,
    log: TextIO | None = sys.stderr,
) -> FleetData:
    """The cached fleet for these parameters, made first if missing (or if ``force``)."""
    shares = dict(drift) if drift is not None else drift_for(change_share)
    root = cache / f"fleet-{devices}-{cache_key(devices, shares, seed)}"
    meta_path = root / "meta.json"
    if meta_path.exists() and not force:
        return FleetData(root, json.loads(meta_path.read_text(encoding="utf-8")))
    if log is not None:
        print(f"generating a fleet of {devices} devices in {root} (drift {shares}) ...", file=log, flush=True)
    shutil.rmtree(root, ignore_errors=True)
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    meta = generate(partial, devices, shares, seed, method=method)
    (partial / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    partial.rename(root)  # a fleet interrupted half-way is never mistaken for a finished one
    if log is not None:
        print(
            f"made in {meta['seeding']['generate_s']} s: {meta['machines']} machines,"
            f" {sum(meta['records'].values())} records, {meta['expected_changes']} need a change",
            file=log,
            flush=True,
        )
    return FleetData(root, meta)


def work_copy(data: FleetData, target: Path) -> Path:
    """A fresh copy of the fleet's seeded database at ``target``."""
    copy_db(data.seed_db, target)
    return target


def parse_drift(text: str) -> dict[str, float]:
    """``status=0.02,missing=0.001`` -> {"status": 0.02, "missing": 0.001}."""
    shares: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, share = item.partition("=")
        shares[kind.strip()] = float(share)
    return shares


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=100_000, metavar="N", help="rows in the exports")
    parser.add_argument(
        "--change-share", type=float, default=DEFAULT_CHANGE_SHARE, help="share of records needing a change"
    )
    parser.add_argument(
        "--drift",
        type=parse_drift,
        metavar="KIND=SHARE,...",
        help="exact drift shares (replace --change-share)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seed-method", choices=["store", "json"], default="store")
    parser.add_argument("--cache-dir", type=Path, default=CACHE)
    parser.add_argument("--force", action="store_true", help="make it again even if cached")
    args = parser.parse_args(argv)
    data = prepare_fleet(
        args.devices,
        change_share=args.change_share,
        drift=args.drift,
        seed=args.seed,
        method=args.seed_method,
        cache=args.cache_dir,
        force=args.force,
    )
    print(json.dumps({"root": str(data.root), **data.meta}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ledger's disk fills at every 16 KB step of a real run: the report owns every write that
landed, no write is sent after the ledger refused a row, and a rerun with space back converges
with a chain that verifies.

The real CLI updates 30 records of the reference server (127.0.0.1) with its state folder on a
small tmpfs (mounted here when the test may mount; otherwise each run gets a file-size limit,
``RLIMIT_FSIZE``, with SIGXFSZ ignored so that writes fail with EFBIG). Step k leaves k x 16 KB
free (or lets no file grow past it), from nothing to what the whole run needs.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.builders import row, write_csv
from tests.e2e.conftest import NOW, Fleet, write_seed, write_users
from tests.e2e.small_fleet import write_small_config
from tests.serverutil import running_server, seed_db

HOSTS = [f"prod-dal10-carrier2-worker-{n:02d}" for n in range(1, 31)]
STEP = 16 * 1024
ALL = {f"U{n:02d}" for n in range(1, 31)}
CLI_PYTHON = os.environ.get("SOS_HOSTILE_PYTHON") or sys.executable


@pytest.fixture
def thirty(tmp_path: Path) -> Iterator[Fleet]:
    """Thirty machines Live in the export and Build in the inventory: thirty writes."""
    write_csv(tmp_path / "softlayer-data" / "Acct531277" / "devices.csv", [row(h) for h in HOSTS])
    servers = [
        {
            "c_code": "ALC",
            "unid": f"U{n:02d}",
            "hostname": host,
            "fqdn": f"{host}.alchemy.ibm.com",
            "ip_public": "",
            "ip_private": "",
            "device_id": "",
            "application": "containers-kubernetes",
            "environment": "PROD-US-SOUTH",
            "status": "Build",
        }
        for n, host in enumerate(HOSTS, start=1)
    ]
    db = tmp_path / "inventory.db"
    seed_db(db, write_seed(tmp_path / "seed.json", servers))
    config = write_small_config(tmp_path, safety={"max_changes": 100, "max_change_ratio": 1.0})
    with running_server(db, write_users(tmp_path / "users.yaml")) as server:
        yield Fleet(tmp_path, config, server, db)


@dataclass
class SmallDisk:
    """A state folder whose disk has ``free`` bytes left (tmpfs), or whose files may not grow
    past ``free`` bytes (RLIMIT_FSIZE) when mounting is refused."""

    mount: Path
    mounted: bool

    @property
    def state(self) -> Path:
        return self.mount / "state"

    def fill(self, free: int) -> Callable[[], None] | None:
        """Leave ``free`` bytes; the child's preexec (the file-size limit) when not mounted."""
        filler = self.mount / "filler"
        filler.unlink(missing_ok=True)
        if not self.mounted:
            limit = max(free, 1)

            def preexec() -> None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

            return preexec
        stats = os.statvfs(self.mount)
        extra = stats.f_bavail * stats.f_frsize - free
        if extra > 0:
            with filler.open("wb") as out:
                out.write(b"\0" * extra)
        return None

    def give_space_back(self) -> None:
        (self.mount / "filler").unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    mount = Path(tempfile.mkdtemp(prefix="sos-state-disk-"))
    mounted = not os.environ.get("SOS_TEST_NO_MOUNT") and (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)],
            capture_output=True,
            timeout=30,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield SmallDisk(mount, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", str(mount)], capture_output=True, timeout=30, check=False)
        shutil.rmtree(mount, ignore_errors=True)


def cli(
    fleet: Fleet, *args: str, preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [CLI_PYTHON, "-m", "sos_inventory", *args]
    if args[0] == "update":
        command += ["--config", str(fleet.config), "--inventory-url", fleet.server.url, "--now", NOW]
    return subprocess.run(
        command,
        cwd=fleet.root,
        env=fleet.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=preexec,
    )


def live(fleet: Fleet) -> set[str]:
    with closing(sqlite3.connect(fleet.db)) as db:
        return {unid for (unid,) in db.execute("SELECT unid FROM servers WHERE status = 'Live'")}


def back_to_build(fleet: Fleet) -> None:
    with closing(sqlite3.connect(fleet.db)) as db, db:
        db.execute("UPDATE servers SET status = 'Build'")
    fleet.server.reset_stats()


def ledger_writes(state: Path, run_id: str) -> set[str]:
    """The records the ledger says run ``run_id`` was about to write (its change rows)."""
    uri = (state / "ledger.db").resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as db:
        rows = db.execute("SELECT unid FROM ledger WHERE kind = 'change' AND run_id = ?", (run_id,))
        return {unid for (unid,) in rows}


def outcomes(report: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for change in report["changes"]:
        out.setdefault(change["outcome"], set()).add(change["unid"])
    return out


def test_the_ledger_disk_filling_at_every_16kb_step(thirty: Fleet, small_disk: SmallDisk) -> None:
    fleet, disk = thirty, small_disk
    steps = mid_run = 0
    free = 0
    while True:  # from no space at all to the space the whole run needs
        steps += 1
        back_to_build(fleet)
        preexec = disk.fill(free)
        done = cli(fleet, "update", "--json", "-q", "--state-dir", str(disk.state), preexec=preexec)
        assert "Traceback" not in done.stderr, (free, done.stderr[-3000:])
        report = json.loads(done.stdout)
        found = outcomes(report)
        landed = live(fleet)
        received = fleet.server.stats()["by_kind"]["update"]
        owned = found.get("applied", set()) | found.get("unknown", set())
        # Every write the server received is owned by the report; "applied" is what landed.
        assert landed <= owned and received <= len(owned), (free, received, sorted(landed - owned))
        assert found.get("applied", set()) <= landed, free
        if done.returncode != 0:
            # 3: the run stopped at the ledger's refusal; 1: every write was made and only how the
            # run ended (its finish row) could not be recorded.
            assert done.returncode == 3 or (done.returncode == 1 and landed == ALL), (free, done.returncode)
            problem = next(p for p in report["problems"] if p["category"] == "state_error")
            assert str(disk.state) in problem["message"], problem["message"]
            assert any(why in problem["message"] for why in ("ENOSPC", "free on its disk", "ulimit")), problem
            if owned and done.returncode == 3:
                mid_run += 1
                assert report["ended"]["headline"] == "Stopped early", (free, report["ended"])
                assert f"{len(found.get('applied', ()))} applied" in report["stopped"], report["stopped"]
        disk.give_space_back()
        if landed:
            # No write without evidence: the ledger holds a change row for every write that landed.
            assert landed <= ledger_writes(disk.state, report["run_id"]), free
        if done.returncode == 0:
            assert landed == ALL, free
        else:
            again = cli(fleet, "update", "-q", "--state-dir", str(disk.state))
            assert again.returncode == 0, (free, again.stderr[-2000:])
            assert live(fleet) == ALL, free
        verified = cli(fleet, "audit", "verify", "--state-dir", str(disk.state))
        assert verified.returncode == 0 and "ledger intact" in verified.stdout, (free, verified.stdout)
        shutil.rmtree(disk.state)
        if done.returncode == 0:
            break
        free += STEP
        assert free < 4 << 20, "the run never fit"
    print(f"{steps} steps, {mid_run} stopped mid-run")
    assert mid_run >= 5, (mid_run, steps)  # the disk did fill in the middle of the writes

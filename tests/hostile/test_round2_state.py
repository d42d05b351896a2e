"""Round 2 of the hostile corpus, the state folder: a ledger edited by hand, a full or read-only
state disk, an alert state with impossible times, a lock that is waited for with NaN, and what
the job's files let other users read.

The cases that write nothing go through the corpus harness (``run_case``: exit code, fragment,
time, RSS, no traceback, no secret, zero writes). Those that need a mount (a full disk, read-only
media) do too, with the mount made by a fixture; those that must write use a fleet of their own.
Every case fails on bc572e2 (``SOS_HOSTILE_PYTHON=/tmp/before/.venv/bin/python``).

The last test fills the ledger's disk at every 16 KB step of a real run: the real CLI updates 30
records of the reference server with its state folder on a small tmpfs (mounted here when the test
may mount; otherwise, or with ``SOS_TEST_NO_MOUNT=1``, each run gets a file-size limit,
``RLIMIT_FSIZE``, with SIGXFSZ ignored so that writes fail with EFBIG). Step k leaves k x 16 KB free
(or lets no file grow past it), from nothing to what the whole run needs: for every step the
report's applied + unknown covers every write the server received, the ledger holds a row for each
of them, and a rerun with space back converges with a chain that verifies.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sos_inventory.model import Change
from sos_inventory.state.sqlite import Ledger
from tests.builders import PLANTED_DEFECT
from tests.e2e.conftest import NOW, Fleet, running_fleet
from tests.e2e.small_fleet import running_small_fleet
from tests.hostile.cases import registry
from tests.hostile.conftest import run_case
from tests.hostile.harness import CLI_PYTHON, Context, Outcome, Run
from tests.waiting import wait_for

CASES, case = registry()


# --- a ledger edited by hand -------------------------------------------------------------------


def ledger(ctx: Context, runs: int = 2) -> Path:
    """A real ledger of ``runs`` finished runs of three changes each, in the case's state folder."""
    state = ctx.root / "state"
    with Ledger.open(state) as book:
        for number in range(runs):
            run_id = f"20261127T12000{number}Z-beef"
            book.start_run(run_id, {"command": "update", "inventory_url": ctx.fleet.server.url})
            for host in range(3):
                change = Change(
                    "ALC",
                    f"prod-dal10-carrier2-worker-{host:02d}",
                    f"A{host:02d}",
                    {"status": "Build"},
                    {"status": "Live"},
                )
                book.settle(run_id, book.pending(run_id, change), change, "applied")
            book.finish_run(run_id, {"exit_code": 0, "counts": {"changes": 3, "applied": 3}})
    return state


def edit(state: Path, *statements: str) -> Path:
    with closing(sqlite3.connect(state / "ledger.db")) as db:
        db.executescript(";".join(statements))
    return state


def without_not_null(state: Path) -> Path:
    """The table rebuilt without the NOT NULL of its hash column, as a tamperer would."""
    with closing(sqlite3.connect(state / "ledger.db")) as db:
        (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'ledger'").fetchone()
        db.executescript(
            "ALTER TABLE ledger RENAME TO old;"
            + sql.replace("hash     BLOB NOT NULL", "hash BLOB")
            + ";INSERT INTO ledger SELECT * FROM old; DROP TABLE old;"
        )
    return state


def evidence(command: str, state: Path, *extra: str) -> list[str]:
    return [*command.split(), "--state-dir", str(state), *extra]


@case
def verify_a_ledger_whose_hash_is_text(ctx: Context) -> Run:
    state = edit(ledger(ctx), "UPDATE ledger SET hash = 'not-a-hash' WHERE seq = 5")
    return Run(evidence("audit verify", state), 1, "row 5 does not match: its hash is not the 32 bytes")


@case
def verify_a_ledger_whose_hash_is_null(ctx: Context) -> Run:
    state = edit(without_not_null(ledger(ctx)), "UPDATE ledger SET hash = NULL WHERE seq = 5")
    return Run(
        evidence("audit verify", state),
        1,
        "row 5 does not match: its hash is not the 32 bytes the ledger writes: NULL",
    )


@case
def verify_a_ledger_missing_a_column(ctx: Context) -> Run:
    state = edit(ledger(ctx), "ALTER TABLE ledger DROP COLUMN rule")
    return Run(
        evidence("audit verify", state),
        1,
        "ledger NOT intact: the ledger table is not the ledger's: column(s) rule missing",
    )


@case
def history_of_a_ledger_missing_a_column(ctx: Context) -> Run:
    state = edit(ledger(ctx), "ALTER TABLE ledger DROP COLUMN rule")
    return Run(
        evidence("history prod-dal10-carrier2-worker-01", state),
        2,
        "is damaged or was edited: column(s) rule missing",
    )


@case
def runs_of_a_ledger_missing_a_column(ctx: Context) -> Run:
    state = edit(ledger(ctx), "ALTER TABLE ledger DROP COLUMN outcome")
    return Run(evidence("runs", state), 2, "is damaged or was edited: column(s) outcome missing")


@case
def export_of_a_ledger_whose_hash_is_text(ctx: Context) -> Run:
    state = edit(ledger(ctx), "UPDATE ledger SET hash = 'not-a-hash' WHERE seq = 5")
    return Run(evidence("audit export", state), 0, '"hash": "not-a-hash"')


@case
def update_on_a_ledger_whose_last_hash_is_text(ctx: Context) -> Run:
    state = edit(
        ledger(ctx), "UPDATE ledger SET hash = 'not-a-hash' WHERE seq = (SELECT MAX(seq) FROM ledger)"
    )
    return Run(
        [*ctx.job("update"), "--state-dir", str(state)],
        3,
        "is damaged or was edited: row 16 has no 32-byte hash",
    )


@case
def update_on_a_ledger_missing_a_column(ctx: Context) -> Run:
    state = edit(ledger(ctx), "ALTER TABLE ledger DROP COLUMN rule")
    return Run(
        [*ctx.job("update"), "--state-dir", str(state)], 3, "is damaged or was edited: column(s) rule missing"
    )


# --- --wait-lock that would wait for ever ------------------------------------------------------


def held_lock(ctx: Context) -> tuple[Path, Any]:
    """The case's state folder with its run lock held by this process (another run, running)."""
    state = ctx.root / "state"
    state.mkdir()
    handle = (state / "update.lock").open("a+")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return state, handle


def waiting(ctx: Context, value: str) -> Run:
    state, handle = held_lock(ctx)
    args = [*ctx.job("update"), "--state-dir", str(state), "--wait-lock", value]
    # On bc572e2 these wait for ever (NaN, inf) or exit 5 (negative); the harness stops them.
    return Run(
        args, 2, f"--wait-lock {value}: seconds between 0 and 86400", seconds=5, extra={"lock": handle}
    )


@case
def wait_lock_nan(ctx: Context) -> Run:
    return waiting(ctx, "nan")


@case
def wait_lock_infinite(ctx: Context) -> Run:
    return waiting(ctx, "inf")


@case
def wait_lock_negative(ctx: Context) -> Run:
    return waiting(ctx, "-1")


# --- the alert state's times -------------------------------------------------------------------


def with_alert_state(ctx: Context, last_sent: str) -> Run:
    """An update whose inventory refuses every query (sos_api_error) with that failure open since
    November, last posted at ``last_sent``; the webhook is the hostile server's."""
    posted: list[str] = []

    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": {"code": "bad_request", "message": "no"}}, status=400)

    async def hook(request: web.Request) -> web.StreamResponse:
        posted.append(json.loads(await request.read())["text"])
        return web.json_response({"ok": True})

    ctx.hostile.behave(query=refuse, hook=hook)
    state = ctx.root / "state"
    state.mkdir()
    since = "2026-11-01T00:00:00Z"
    alerts = {
        key: {"since": since, "last_sent": last_sent}
        for key in ("sos_api_error/ALC", "sos_api_error/ALC_FR2")
    }
    (state / "alerts.json").write_text(json.dumps(alerts), encoding="utf-8")
    args = [
        *ctx.job("update", url=ctx.hostile.url),
        "--state-dir",
        str(state),
        "--notify-url",
        ctx.hostile.url + "/hook",
    ]

    def reminded(outcome: Outcome, ctx: Context) -> None:
        assert any(text.startswith("Reminder: `sos_api_error/") for text in posted), posted

    return Run(args, 4, "sos_api_error", check=reminded)


@case
def alert_state_with_a_naive_last_sent(ctx: Context) -> Run:
    return with_alert_state(ctx, "2026-11-02T00:00:00")  # no offset: read as UTC, a month ago


@case
def alert_state_last_sent_in_9999(ctx: Context) -> Run:
    return with_alert_state(ctx, "9999-12-31T23:59:59Z")  # a time to come: the reminder is due now


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_state(name: str, ctx: Context) -> None:
    run_case(ctx, CASES[name])


# --- a full state disk at start, read-only media (a mount each) ---------------------------------


@pytest.fixture
def mount_point() -> Iterator[Path]:
    point = Path(tempfile.mkdtemp(prefix="sos-state-mount-"))
    try:
        yield point
    finally:
        for _ in range(2):  # a bind mount over a tmpfs: two layers at most
            subprocess.run(["umount", str(point)], capture_output=True, timeout=30, check=False)
        shutil.rmtree(point, ignore_errors=True)


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        pytest.skip(f"this test mounts a file system (as root): {done.stderr.strip()}")


def test_a_full_state_disk_at_start(ctx: Context, mount_point: Path) -> None:
    mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point))
    descriptor = os.open(mount_point / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    with suppress(OSError):  # until the disk is full
        while os.write(descriptor, b"\0" * 65536):
            pass
    os.close(descriptor)
    state = mount_point / "state"

    def full(ctx: Context) -> Run:
        args = [*ctx.job("update"), "--state-dir", str(state)]
        return Run(
            args,
            3,
            f"the lock file {state}/update.lock cannot be written: No space left on device (ENOSPC); the state folder {state}",
        )

    run_case(ctx, full)


def test_runs_and_verify_on_read_only_media(ctx: Context, mount_point: Path) -> None:
    state = ledger(ctx)
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point))
    shutil.copytree(state, mount_point / "state")
    mount("-o", "remount,ro", str(mount_point))
    media = mount_point / "state"
    assert not os.access(media, os.W_OK)

    def runs(ctx: Context) -> Run:
        return Run(evidence("runs", media), 0, "20261127T120001Z-beef  ")

    def verify(ctx: Context) -> Run:
        return Run(evidence("audit verify", media), 0, "ledger intact: 16 rows")

    run_case(ctx, runs)
    run_case(ctx, verify)


# --- what the job leaves on disk, and a run that waited for the lock ---------------------------


@pytest.fixture
def own_fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as fleet:
        yield fleet


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_what_the_job_keeps_is_private(own_fleet: Fleet) -> None:
    fleet, root = own_fleet, own_fleet.root
    state, metrics = root / "state", root / "metrics" / "sos.prom"
    metrics.parent.mkdir()
    planned = cli(fleet, "plan", "-q", "--state-dir", str(state), "--out", str(root / "plan.json"))
    assert planned.returncode in (0, 1), planned.stderr[-2000:]
    done = cli(
        fleet,
        "update",
        "-q",
        "--state-dir",
        str(state),
        "--metrics-file",
        str(metrics),
        "--notify-url",
        "http://127.0.0.1:9/hook",
    )
    assert done.returncode == 1, done.stderr[-2000:]  # the crafted fleet has machines for a human
    assert mode(state) == 0o700
    kept = [root / "plan.json", metrics, *sorted(state.iterdir())]
    assert {path.name for path in kept} >= {"plan.json", "sos.prom", "ledger.db", "update.lock"}
    assert {path.name: oct(mode(path)) for path in kept} == {path.name: "0o600" for path in kept}


def test_a_traceback_is_private_and_never_at_a_guessable_path(own_fleet: Fleet) -> None:
    # The defect is planted in this release's package (bc572e2 has another layout): checked by hand
    # there, where the traceback went to /tmp/traceback-RUN_ID.txt, mode 0644.
    fleet = own_fleet
    command = [sys.executable, "-c", PLANTED_DEFECT, *fleet.command("update")[3:], "--state-dir", "state"]
    done = subprocess.run(
        command, cwd=fleet.root, env=fleet.env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 70, done.stderr[-2000:]
    line = next(line for line in done.stderr.splitlines() if line.startswith("traceback: "))
    path = Path(line.removeprefix("traceback: "))
    assert path.is_file() and mode(path) == 0o600 and mode(path.parent) == 0o700
    assert path.parent != Path(tempfile.gettempdir())  # a folder of its own, made by mkdtemp
    assert "planted by the test" in path.read_text(encoding="utf-8")
    shutil.rmtree(path.parent)


def opened(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux: its /proc/PID/fd links)."""
    folder = Path(f"/proc/{pid}/fd")
    with suppress(OSError):
        return any(os.readlink(link) == str(path) for link in folder.iterdir())
    return False


def test_a_run_interrupted_while_waiting_for_the_lock_leaves_the_holders_reports(own_fleet: Fleet) -> None:
    fleet, root = own_fleet, own_fleet.root
    state, reports = root / "state", root / "reports"
    state.mkdir()
    reports.mkdir()
    holders = {"report.json": '{"holder": true}\n', "summary.md": "the holder's\n"}
    for name, text in holders.items():
        (reports / name).write_text(text, encoding="utf-8")
    with (state / "update.lock").open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        command = [
            CLI_PYTHON,
            "-m",
            "sos_inventory",
            "update",
            "--config",
            str(fleet.config),
            "--inventory-url",
            fleet.server.url,
            "--now",
            NOW,
        ]
        command += ["--state-dir", str(state), "--report-dir", str(reports), "--wait-lock", "600", "-v"]
        log = root / "waiting.log"
        with log.open("wb") as err:
            process = subprocess.Popen(
                command, cwd=root, env=fleet.env(), stdout=subprocess.DEVNULL, stderr=err
            )
        try:
            # The observable event: the run has the lock file open (it waits for the lock).
            wait_for(
                lambda: opened(process.pid, state / "update.lock"),
                "the run to wait for the lock",
                timeout=60,
                alive=lambda: process.poll() is None,
            )
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    assert code == 130, log.read_text(encoding="utf-8", errors="replace")[-2000:]
    assert sorted(path.name for path in reports.iterdir()) == sorted(holders)
    assert {name: (reports / name).read_text(encoding="utf-8") for name in holders} == holders
    assert fleet.server.stats()["by_kind"]["update"] == 0


# --- the ledger's disk fills at every 16 KB step of a real run (the must-show of issue 19) -------

HOSTS = [f"prod-dal10-carrier2-worker-{n:02d}" for n in range(1, 31)]
STEP = 16 * 1024
ALL = {f"U{n:02d}" for n in range(1, 31)}


@pytest.fixture
def thirty(tmp_path: Path) -> Iterator[Fleet]:
    """Thirty machines Live in the export and Build in the inventory: thirty writes."""
    with running_small_fleet(tmp_path, HOSTS, safety={"max_changes": 100, "max_change_ratio": 1.0}) as fleet:
        yield fleet


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
    if args[0] in ("plan", "update"):
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

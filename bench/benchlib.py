"""What the benchmark scripts share: measured subprocesses, the reference server, the machine.

Not part of the package: these scripts drive it from outside, as a user would
(``python -m sos_inventory ...``), and measure it.
"""

from __future__ import annotations

import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sos_inventory.server.control import ReferenceControl

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CACHE = BENCH / ".cache"
LOOPBACK = "127.0.0.1"
SERVER_START_TIMEOUT = 120.0
SERVER_STOP_TIMEOUT = 30.0
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Measured:
    """A finished subprocess: exit code, wall time from start to exit, and its own resource use."""

    exit_code: int
    wall_s: float
    peak_rss_mib: float
    user_s: float
    system_s: float
    timed_out: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "wall_s": round(self.wall_s, 3),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "cpu_user_s": round(self.user_s, 3),
            "cpu_system_s": round(self.system_s, 3),
            "timed_out": self.timed_out,
        }


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout: Path | None = None,
    stderr: Path | None = None,
    timeout: float = 3600.0,
) -> Measured:
    """Run ``command`` to its end; measure it with ``wait4`` (its rusage only, not the siblings').

    The process is killed after ``timeout`` seconds (``timed_out`` is then True).
    """
    with (
        open(stdout or os.devnull, "wb") as out,
        open(stderr or os.devnull, "wb") as err,
    ):
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command), env=dict(env) if env else None, cwd=cwd, stdout=out, stderr=err
        )
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            process.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
    # wait4 reaped it: tell Popen, so that it never waits for it again.
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        exit_code=process.returncode,
        wall_s=wall,
        peak_rss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
        user_s=usage.ru_utime,
        system_s=usage.ru_stime,
        timed_out=expired.is_set(),
    )


def python_command(*args: str) -> list[str]:
    """``python -m sos_inventory ARGS`` with this interpreter."""
    return [sys.executable, "-m", "sos_inventory", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the server's users variable (so the demo user is the only one)."""
    env = {k: v for k, v in os.environ.items() if k != "SOS_SERVER_USERS"}
    env.update(extra)
    return env


@dataclass
class Server(ReferenceControl):
    """A reference server process on the loopback interface (stats: ReferenceControl)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    control_timeout = 30.0  # a server busy with a million records answers slowly

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server has used so far, from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def peak_rss_mib(self) -> float:
        """The server's peak resident memory so far, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


@contextmanager
def running_server(db: Path, *, latency_ms: int, log: Path) -> Iterator[Server]:
    """``sos-inventory server run`` on a free loopback port, stopped (SIGTERM) when the block ends."""
    with tempfile.TemporaryDirectory(prefix="sos-bench-") as work:
        port_file = Path(work) / "port"
        command = python_command(
            "server", "run", "--db", str(db), "--host", LOOPBACK, "--port", "0", "--port-file", str(port_file)
        )
        command += ["--latency-ms", str(latency_ms)]
        with log.open("wb") as stderr:
            process = subprocess.Popen(command, env=clean_env(), stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT
            while not port_file.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the reference server did not start; see {log}:\n{log.read_text()[-2000:]}"
                    )
                time.sleep(0.02)
            yield Server(process, int(port_file.read_text()), log)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=SERVER_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=SERVER_STOP_TIMEOUT)


def copy_db(source: Path, target: Path) -> None:
    """A fresh copy of a seeded database (and no stale WAL of an earlier copy)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)


def machine_info() -> dict[str, Any]:
    """Where the figures come from: CPU, cores, memory, Python, and the code's commit."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) // 1024
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_mib": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        **git_info(),
    }


def git_info() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it (read-only git calls)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
            )
        except OSError:
            return ""
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""  # porcelain lines start with a space

    import sos_inventory

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:].startswith("src/")]
    return {
        "commit": git("rev-parse", "HEAD").strip() or None,
        "dirty": bool(changed),
        "modified_sources": changed,
        # Which copy of the package the runs imported (PYTHONPATH may point at another tree).
        "package": str(Path(sos_inventory.__file__).resolve().parent),
    }


def median(values: Sequence[float | None]) -> float | None:
    """The median of the known values, or None."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def peak_rss_mib() -> float:
    """This process's peak resident memory so far."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

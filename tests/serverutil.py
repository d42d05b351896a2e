"""Start the real reference SOS server as a subprocess, for end-to-end tests.

    with running_server(tmp_path / "inventory.db", users_path) as server:
        server.url            # "http://127.0.0.1:<port>"
        server.stats()        # GET /_ref/stats
        server.reset_stats()  # POST /_ref/stats/reset
        server.faults()       # GET /_ref/faults
        server.set_faults(error_rates={"503": 0.1})  # POST /_ref/faults
        server.stderr_text()  # start-up notices and the access log so far

The process is always killed on exit, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sos_inventory.server.control import ReferenceControl

__all__ = [
    "STARTUP_TIMEOUT",
    "Response",
    "RunningServer",
    "api_call",
    "running_server",
    "seed_db",
    "server_command",
]

#: status, decoded JSON body, headers
Response = tuple[int, dict[str, Any], dict[str, str]]

# Generous: a loaded machine can take many seconds to start a Python process.
STARTUP_TIMEOUT = 120.0
_STOP_TIMEOUT = 10.0


@dataclass
class RunningServer(ReferenceControl):
    """A reference server process listening on 127.0.0.1 (stats and faults: ReferenceControl)."""

    process: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stdout_text(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")


def server_command(*args: str) -> list[str]:
    """The command line of ``sos-inventory server ARGS`` run by this interpreter."""
    return [sys.executable, "-m", "sos_inventory", "server", *args]


def api_call(
    url: str, method: str = "GET", *, body: bytes | None = None, authorization: str | None = None
) -> Response:
    """One request to the server, error statuses included; a dropped connection raises
    (http.client.RemoteDisconnected)."""
    request = urllib.request.Request(url, data=body, method=method)
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error), dict(error.headers)


def seed_db(db_path: str | Path, seed_path: str | Path) -> str:
    """Run ``sos-inventory server seed``; fail the test if it fails; return its stderr."""
    done = subprocess.run(
        server_command("seed", "--db", str(db_path), str(seed_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


@contextmanager
def running_server(
    db_path: str | Path,
    users_path: str | Path | None = None,
    extra_args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Run ``sos-inventory server run`` on a free loopback port until the block ends.

    ``env`` replaces the environment; by default it is this one without
    ``SOS_SERVER_USERS``, so the users are exactly ``users_path`` (or the demo user).
    """
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "SOS_SERVER_USERS"}
    with tempfile.TemporaryDirectory(prefix="sos-server-") as work:
        workdir = Path(work)
        port_file = workdir / "port"
        args = ["run", "--db", str(db_path), "--port", "0", "--port-file", str(port_file)]
        if users_path is not None:
            args += ["--users", str(users_path)]
        stdout_path, stderr_path = workdir / "stdout.txt", workdir / "stderr.txt"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                server_command(*args, *extra_args), stdout=stdout, stderr=stderr, env=dict(env)
            )
        try:
            port = _wait_for_port(process, port_file, stderr_path)
            yield RunningServer(process, port, stdout_path, stderr_path)
        finally:
            _stop(process)


def _wait_for_port(process: subprocess.Popen[bytes], port_file: Path, stderr_path: Path) -> int:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        # The server writes the file atomically, so any content is complete.
        if port_file.exists():
            return int(port_file.read_text(encoding="utf-8"))
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode} before listening:\n{stderr_path.read_text()}"
            )
        time.sleep(0.05)
    raise RuntimeError(f"server not listening after {STARTUP_TIMEOUT}s:\n{stderr_path.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=_STOP_TIMEOUT)

"""A real Prometheus Pushgateway (Debian's ``prometheus-pushgateway``) on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BINARY = "prometheus-pushgateway"
STARTUP_TIMEOUT = 20.0


@dataclass
class Pushgateway:
    url: str

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            text: str = response.read().decode("utf-8")
            return text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    """Wait for ``/-/ready`` to answer 200; False if the process ended first (its port was taken)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)  # polling an event (the port opening), under the overall deadline
    raise TimeoutError(f"{BINARY} did not become ready in {STARTUP_TIMEOUT}s")


@contextmanager
def running_pushgateway(log_dir: Path) -> Iterator[Pushgateway]:
    """Start the pushgateway, or skip the test where the binary is not installed."""
    binary = shutil.which(BINARY)
    if binary is None:
        pytest.skip(f"{BINARY} is not installed (Debian package prometheus-pushgateway; .ci/run installs it)")
    for _ in range(3):  # another process may take the free port between the probe and the bind
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with (log_dir / "pushgateway.log").open("wb") as log:
            process = subprocess.Popen(
                [binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT
            )
        try:
            if _ready(url, process):
                yield Pushgateway(url)
                return
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    raise RuntimeError(f"{BINARY} could not listen on a free port, three times")

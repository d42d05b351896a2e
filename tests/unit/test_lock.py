from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sos_inventory.errors import LockHeld
from sos_inventory.state.sqlite.lock import LOCK_NAME, run_lock

HOLD = """
import sys, time
from pathlib import Path
from sos_inventory.state.sqlite.lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold(state: Path, seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(state), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_second_holder_is_refused_with_the_holders_identity(tmp_path: Path) -> None:
    holder = hold(tmp_path, 30)
    try:
        with pytest.raises(LockHeld) as caught, run_lock(tmp_path):
            pass
        assert f"pid {holder.pid}" in caught.value.holder
        assert "started 20" in caught.value.holder
    finally:
        holder.kill()
        holder.wait()


def test_wait_lock_waits_for_the_holder_to_finish(tmp_path: Path) -> None:
    holder = hold(tmp_path, 0.5)
    started = time.monotonic()
    with run_lock(tmp_path, wait=10):
        assert time.monotonic() - started < 10
    holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    holder = hold(tmp_path, 30)
    holder.kill()  # SIGKILL: no cleanup at all
    holder.wait()
    stale = json.loads((tmp_path / LOCK_NAME).read_text())
    assert stale["pid"] == holder.pid
    with run_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()

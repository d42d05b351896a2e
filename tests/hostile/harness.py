"""Run the real CLI on one hostile case and check what every case must hold.

Each case of the corpus says what it feeds the job (files, config, environment,
a scripted inventory) and the exit code and message fragment it expects; the
harness adds the checks every case shares: no traceback, bounded time and
memory (the CLI's own peak RSS, from wait4 in a small launcher), zero writes (the reference
server's /_ref/stats and the hostile server's log), the canary credentials in
no output and no report, and reports that parse and carry no raw control
character or markup from input.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.conftest import NOW, Fleet
from tests.hostile.hostile_server import HostileServer

EMAIL = "sre@example.com"
#: The token of every case: the fleet's server accepts it, and no output may ever show it.
CANARY = "tok-9f8e7d6c5b4a-SECRET"
CANARY_BASIC = base64.b64encode(f"{EMAIL}:{CANARY}".encode()).decode()
MAX_RSS_MB = 400
#: The Python whose ``sos_inventory`` the corpus runs: this one by default; another venv's
#: (``SOS_HOSTILE_PYTHON=/path/to/.venv/bin/python``) replays the corpus on an older release.
CLI_PYTHON = os.environ.get("SOS_HOSTILE_PYTHON") or sys.executable
CONTROL = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"} | {"\x7f"}


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Context:
    """What a case may use: its own folder, the fleet (reference server), two hostile servers."""

    root: Path
    fleet: Fleet
    hostile: HostileServer
    other: HostileServer  # "another origin": no case may ever make the job reach it

    def env(self, **changes: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOS_", "SSL_CERT", "JENKINS_"))}
        env.update({"SOS_API_EMAIL": EMAIL, "SOS_API_TOKEN": CANARY})
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def job(self, command: str, *extra: str, url: str | None = None, config: Path | None = None) -> list[str]:
        """``plan``/``update`` against a server (the fleet's by default), at -vv, with reports."""
        return [
            command,
            "--config",
            str(config or self.fleet.config),
            "--inventory-url",
            url or self.fleet.server.url,
            "--now",
            NOW,
            "--report-dir",
            str(self.reports),
            "-vv",
            *extra,
        ]


@dataclass
class Run:
    """What a case runs: the CLI arguments and environment, and what it expects."""

    args: Sequence[str]
    exit: int
    fragment: str
    env: dict[str, str] | None = None
    seconds: float = 30.0
    check: Callable[[Outcome, Context], None] | None = None
    stdin: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)


#: Starts the CLI and reports its exit status and its own peak RSS. The CLI is started from this
#: small process, not from pytest's: a child's peak RSS counts the memory of the process it was
#: forked from (a pytest worker of several hundred MB), which would hide what the CLI itself uses.
_LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{status} {usage.ru_maxrss}")
"""


def run_cli(args: Sequence[str], env: dict[str, str], cwd: Path, timeout: float) -> Outcome:
    """The CLI as a child process; its exit code, output, duration and its own peak RSS."""
    out_path, err_path, figures = cwd / ".stdout", cwd / ".stderr", cwd / ".figures"
    figures.unlink(missing_ok=True)
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        launcher = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, str(figures), CLI_PYTHON, "-m", "sos_inventory", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group: a timeout stops the CLI with it
        )
    try:
        launcher.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
        raise AssertionError(
            f"still running after {timeout}s: {args}\n{err_path.read_text()[-3000:]}"
        ) from None
    status, max_rss_kb = (int(value) for value in figures.read_text(encoding="utf-8").split())
    return Outcome(
        code=os.waitstatus_to_exitcode(status),
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr=err_path.read_text(encoding="utf-8", errors="replace"),
        seconds=time.monotonic() - started,
        max_rss_mb=max_rss_kb / 1024,
    )


def check_reports(folder: Path) -> None:
    """Reports, when written, parse, and hold no raw control character and no markup from input."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not CONTROL & set(text), f"{path.name} holds a raw control character"
        own = 1 if path.suffix == ".html" else 0  # summary.html's own sorting script
        assert text.lower().count("<script") == own or not text, f"{path.name} holds markup from input"
        assert CANARY not in text and CANARY_BASIC not in text, f"{path.name} shows the token"
    if (folder / "junit.xml").exists():
        ET.parse(folder / "junit.xml")
    if (folder / "report.json").exists():
        json.loads((folder / "report.json").read_text(encoding="utf-8"))

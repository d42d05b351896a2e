"""The README's console sessions, made by running them: the commands as shown, their real output.

    python scripts/readme_sessions.py --write    # rewrite the sessions in README.md
    python scripts/readme_sessions.py --check    # exit 1, with a diff, when README.md is not current

Each ``console`` block that follows a ``<!-- session: NAME -->`` line in README.md is the output
of the session NAME below, run in a fresh folder holding a copy of ``examples/demo`` against the
reference server on a free loopback port, with the demo user's credentials. What the machine or
the moment decides is made stable, and only that: the server's port reads 8742 (the default, and
the demo config's), run ids, wall-clock times and chain heads (which cover those times) are
numbered in their order of appearance, and durations read 0.9s. A long output keeps its head and its tail
around a ``...`` line. Commands run with this interpreter's venv first on PATH (what ``. .venv/bin/activate``
does for a reader). tests/test_readme.py runs ``--check``, so the README cannot drift from the product.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DEMO_ENV = {"SOS_API_EMAIL": "demo@sos.example", "SOS_API_TOKEN": "demo-token"}
NOW = "2026-11-27T12:00:00Z"
CONFIG = "examples/demo/sos-inventory.yaml"
SHOWN_PORT = "8742"
_MARKER = re.compile(r"^<!-- session: ([a-z-]+) -->\n```console\n.*?^```\n", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Step:
    """One command of a session: as shown, and how much of its output the README keeps."""

    command: str
    head: int | None = None  # lines kept from the start of the output (None: all)
    tail: int = 0  # lines kept from its end, after a "..." line
    run: bool = True  # False: shown only (activating the venv)
    background: bool = False  # the server: started, its first line shown


SESSIONS: dict[str, list[Step]] = {
    "first": [
        Step(". .venv/bin/activate   # the venv `make demo` made", run=False),
        Step("export SOS_API_EMAIL=demo@sos.example SOS_API_TOKEN=demo-token", run=False),
        Step("sos-inventory server seed --db inventory.db examples/demo/seed.json"),
        Step("sos-inventory server run --db inventory.db &", background=True),
        Step(f"sos-inventory validate --config {CONFIG}"),
        Step(f"sos-inventory explain prod-dal12-carrier3-worker-1045 --config {CONFIG} --now {NOW}"),
        Step(f"sos-inventory update --config {CONFIG} --now {NOW} --report-dir reports -q", head=10, tail=6),
        Step(f"sos-inventory plan --config {CONFIG} --now {NOW} -q 2>/dev/null | tail -1"),
    ],
    "evidence": [
        Step(f"sos-inventory update --config {CONFIG} --now {NOW} -q > /dev/null 2>&1"),
        Step(f"sos-inventory update --config {CONFIG} --now 2026-11-27T16:00:00Z -q > /dev/null 2>&1"),
        Step("sos-inventory runs --limit 3"),
        Step("sos-inventory history prod-dal12-carrier3-worker-1045"),
        Step("sos-inventory audit verify"),
        Step("sos-inventory audit export --since 2026-11-01 --format csv > evidence.csv"),
    ],
    "diagnosis": [
        # One request at a time: the first refused request is always the same one (page 1 of ALC).
        Step(f"SOS_API_TOKEN=an-expired-token sos-inventory plan --config {CONFIG} --concurrency 1 -q"),
    ],
}
#: Sessions that need the server seeded and running before their first step.
_SERVED = {"evidence", "diagnosis"}


#: The warning of a run clock days from the real one: the sessions' clock is fixed (NOW), so the
#: warning says when they are run, not what they show.
_SKEW = re.compile(r"warning: the run clock \(--now [^)]*\) is \d+ days (?:ahead of|behind) the real clock")


class Stable:
    """Makes what the machine or the moment decides stable: ports, run ids, wall-clock times, hashes."""

    _DURATION = re.compile(r"\b\d+\.\d+s\b")
    _HASH = re.compile(r"\b[0-9a-f]{64}\b")

    def __init__(self, port: str, days: list[str]) -> None:
        """``days``: the dates (YYYY-MM-DD, YYYYMMDD) the sessions ran on: only their times are the clock's."""
        self.port = port
        self.run_ids: dict[str, str] = {}
        self.stamps: dict[str, int] = {}
        self.hashes: dict[str, int] = {}
        dates = "|".join(re.escape(day) for day in days if "-" in day)
        compact = "|".join(re.escape(day) for day in days if "-" not in day)
        self._stamp_pattern = re.compile(rf"\b(?:{dates})[T ]\d{{2}}:\d{{2}}:\d{{2}}(?:\.\d+)?Z?")
        self._run_id_pattern = re.compile(rf"\b(?:{compact})T\d{{6}}Z-[0-9a-f]{{4}}\b")

    def __call__(self, text: str) -> str:
        text = text.replace(f"127.0.0.1:{self.port}", f"127.0.0.1:{SHOWN_PORT}")
        text = self._run_id_pattern.sub(self._run_id, text)
        text = self._stamp_pattern.sub(self._stamp, text)
        text = self._DURATION.sub("0.9s", text)
        return self._HASH.sub(self._hash, text)

    def _hash(self, match: re.Match[str]) -> str:
        """A hash (a chain head: it covers the wall-clock times), numbered like the rest, shown short."""
        number = self.hashes.setdefault(match[0], len(self.hashes))
        return hashlib.sha256(f"hash {number}".encode()).hexdigest()[:12] + "…"

    def _run_id(self, match: re.Match[str]) -> str:
        number = self.run_ids.setdefault(match[0], f"{len(self.run_ids) + 1:04x}")
        return f"20261127T12{len(self.run_ids) - 1:02d}00Z-{number}"

    def _stamp(self, match: re.Match[str]) -> str:
        text = match[0]
        number = self.stamps.setdefault(text, len(self.stamps))
        shown = f"2026-11-27{text[10]}12:{number // 60 % 60:02d}:{number % 60:02d}"
        fraction = re.match(r"\.\d+", text[19:])
        return (
            shown
            + ("." + "0" * (len(fraction[0]) - 1) if fraction else "")
            + ("Z" if text.endswith("Z") else "")
        )


def _kept(lines: list[str], step: Step) -> list[str]:
    if step.head is None or len(lines) <= step.head + step.tail:
        return lines
    return [*lines[: step.head], "...", *(lines[-step.tail :] if step.tail else [])]


@contextmanager
def _workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="readme-session-") as folder:
        root = Path(folder)
        shutil.copytree(ROOT / "examples" / "demo", root / "examples" / "demo")
        yield root


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOS_", "JENKINS_", "BUILD_URL"))}
    bin_dir = str(Path(sys.executable).parent)
    return {**env, **DEMO_ENV, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", "COLUMNS": "100"}


def _start_server(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str, str]:
    """The server of ``server run --db inventory.db``, on a free port; (process, port, its first line)."""
    port_file = root / ".port"
    log = (root / ".server.log").open("w")
    server = subprocess.Popen(
        [
            "sos-inventory",
            "server",
            "run",
            "--db",
            "inventory.db",
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"the reference server did not start: {(root / '.server.log').read_text()}")
        time.sleep(0.05)  # polling for the port file, under the deadline above
    port = port_file.read_text().strip()
    # The demo config names the default port: point the copy at the server's.
    config = root / CONFIG
    config.write_text(config.read_text().replace(f"127.0.0.1:{SHOWN_PORT}", f"127.0.0.1:{port}"))
    first = next(
        (line for line in (root / ".server.log").read_text().splitlines() if "listening on" in line), ""
    )
    return server, port, first


def run_session(name: str) -> str:
    """The session's text: each command after ``$ ``, its output, and ``# exit N`` when not 0."""
    env = _env()
    started = time.time()
    lines: list[str] = []
    server: subprocess.Popen[str] | None = None
    port = "0"
    with _workspace() as root:
        try:
            if name in _SERVED:
                subprocess.run(
                    ["sos-inventory", "server", "seed", "--db", "inventory.db", "examples/demo/seed.json"],
                    cwd=root,
                    env=env,
                    capture_output=True,
                    check=True,
                )
                server, port, _ = _start_server(root, env)
            for step in SESSIONS[name]:
                lines.append(f"$ {step.command}")
                if step.background:
                    server, port, first = _start_server(root, env)
                    lines.append(first)
                    continue
                if not step.run:
                    continue
                done = subprocess.run(
                    ["bash", "-c", step.command],
                    cwd=root,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=300,
                    check=False,
                )
                shown = done.stdout.rstrip("\n").splitlines() if done.stdout.strip() else []
                lines += _kept([line for line in shown if not _SKEW.match(line)], step)
                if done.returncode != 0:
                    lines.append(f"# exit {done.returncode}")
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
    stable = Stable(port, _days(started, time.time()))
    return "\n".join(stable(line) for line in lines) + "\n"


def _days(*moments: float) -> list[str]:
    """The UTC dates of these moments, in both of the forms the output uses."""
    days = {time.strftime(form, time.gmtime(moment)) for moment in moments for form in ("%Y-%m-%d", "%Y%m%d")}
    return sorted(days)


def rendered(readme: str) -> str:
    """README.md with every marked session replaced by its fresh output."""

    def fill(match: re.Match[str]) -> str:
        return f"<!-- session: {match[1]} -->\n```console\n{run_session(match[1])}```\n"

    return _MARKER.sub(fill, readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the sessions in README.md")
    mode.add_argument("--check", action="store_true", help="exit 1 with a diff if README.md is not current")
    args = parser.parse_args(argv)
    current = README.read_text(encoding="utf-8")
    missing = set(SESSIONS) - set(_MARKER.findall(current))
    if missing:
        print(
            f"README.md has no <!-- session: NAME --> block for: {', '.join(sorted(missing))}",
            file=sys.stderr,
        )
        return 1
    fresh = rendered(current)
    if args.write:
        README.write_text(fresh, encoding="utf-8")
        return 0
    if fresh != current:
        sys.stdout.writelines(
            difflib.unified_diff(current.splitlines(True), fresh.splitlines(True), "README.md", "fresh")
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

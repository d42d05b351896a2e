"""The README shows the product as it is: its console sessions are the output of real runs."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_sessions_are_the_output_of_the_commands_they_show() -> None:
    """`make readme` rewrites them; this fails, with the diff, when the product and the README part."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme_sessions.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_make_demo_help_explains_and_rewrites_nothing() -> None:
    demo = ROOT / "examples" / "demo"
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(demo.rglob("*")) if p.is_file()}
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "make_demo.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: python examples/make_demo.py" in result.stdout and "Deterministic" in result.stdout
    assert {p: p.stat().st_mtime_ns for p in before} == mtimes

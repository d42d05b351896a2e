"""Headless Chromium (Debian's ``chromium``) for the tests of summary.html: the DOM and a screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
TIMEOUT = 120

#: Where screenshots are kept for a person to look at (CI can archive the folder).
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


def binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (Debian package chromium; .ci/run installs it)")
    return found


def _run(page: Path, *args: str, scripts: bool) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [binary(), *FLAGS, f"--user-data-dir={profile}", *args]
        if not scripts:
            command.append("--blink-settings=scriptEnabled=false")
        return subprocess.run(
            [*command, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        )


def dump_dom(page: Path, *, scripts: bool = True) -> str:
    """The DOM after loading (and running the page's scripts, unless ``scripts`` is False)."""
    return _run(page, "--dump-dom", scripts=scripts).stdout


def screenshot(page: Path, name: str, *, scripts: bool = True, size: str = "1280,1600") -> Path:
    """A PNG of the page, saved under ARTIFACTS as ``name``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    target.unlink(missing_ok=True)
    _run(page, f"--screenshot={target}", f"--window-size={size}", scripts=scripts)
    assert target.stat().st_size > 0
    return target

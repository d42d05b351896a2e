"""What every test keeps to: the repository's own folders are not a test's scratch space."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _state_of(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.is_dir() else {}


@pytest.fixture(scope="session", autouse=True)
def the_repository_s_state_folder_is_left_alone() -> Iterator[None]:
    """A run started in the repository's folder with the default --state-dir writes its ledger
    into ./.sos-inventory: a test must give its runs their own state folder."""
    folder = ROOT / ".sos-inventory"
    before = _state_of(folder)
    yield
    assert _state_of(folder) == before, f"a test wrote into {folder}: give its run a --state-dir of its own"

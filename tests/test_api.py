"""The public Python API: the README's example runs as written, and the names it promises exist."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sos_inventory

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_example_runs_an_update_then_a_plan_with_nothing_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = README.split("<!-- example: python-api -->\n```python\n", 1)[1].split("```", 1)[0]
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "README.md (example: python-api)", "exec"), {})
    assert printed.getvalue().splitlines() == [
        "1 30 Done, but some machines need a human",
        "0 change(s) left",
    ]
    assert (tmp_path / "state" / "ledger.db").is_file()  # the update recorded its writes
    said = README.split("<!-- example: python-api -->", 1)[1]
    assert "prints `1 30 Done, but some machines need a human`" in said


def test_every_public_name_resolves_and_importing_the_package_loads_none_of_them() -> None:
    for name in sos_inventory.__all__:
        assert getattr(sos_inventory, name) is not None, name
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, sos_inventory; print(sorted(m for m in sys.modules if m.startswith('sos_inventory')))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert probe.stdout.strip() == "['sos_inventory', 'sos_inventory.model']"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = sos_inventory.nothing
    assert re.fullmatch(r"\d+\.\d+\.\d+", sos_inventory.__version__)

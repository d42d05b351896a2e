"""Docs that cannot rot: every command is documented and its --help works."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sos_inventory.cli import EXIT_CODES, build_parser
from sos_inventory.model import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = [
    "validate",
    "plan",
    "update",
    "explain",
    "diagnose",
    "runs",
    "history",
    "audit",
    "audit verify",
    "audit export",
    "undo",
    "server",
    "server run",
    "server seed",
    "server dump",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_working_help_and_is_in_the_readme(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sos_inventory", *command.split(), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: sos-inventory" in result.stdout
    assert f"sos-inventory {command}" in README


def test_every_option_of_plan_and_update_is_in_the_readme() -> None:
    parser = build_parser()
    actions: Any = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in ("plan", "update", "validate", "explain", "undo"):
        for action in actions[command]._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in README, f"{command} {option} is not documented in README.md"


def test_readme_exit_codes_match_the_cli() -> None:
    for code, meaning in re.findall(r"^  (\d)  (.+)$", EXIT_CODES, flags=re.MULTILINE):
        assert re.search(rf"\|\s*{code}\s*\|", README), f"exit code {code} ({meaning}) missing from README"


def test_every_exit_code_table_holds_exactly_the_codes_of_the_enum() -> None:
    """The README's and the runbook's tables, the help text, and the enum list the same codes."""
    codes = {str(code.value) for code in ExitCode} | {"130", "143"}
    runbook = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    for name, text in (
        ("README.md", README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]),
        ("runbook", runbook.split("## Exit codes", 1)[1].split("\n## ", 1)[0]),
    ):
        rows = {
            code
            for cell in re.findall(r"^\| ([\d, /]+) \|", text, re.MULTILINE)
            for code in re.findall(r"\d+", cell)
        }
        assert rows == codes, name
    helped = {code for line in EXIT_CODES.splitlines()[1:] for code in re.findall(r"\d+", line.split()[0])}
    assert helped == codes


def test_readme_first_screen_has_the_two_commands_and_ci_runs_the_test_one() -> None:
    first_screen = "\n".join(README.splitlines()[:40])
    assert "make demo" in first_screen
    assert "make test" in first_screen
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, flags=re.MULTILINE)


def test_changelog_has_an_unreleased_section() -> None:
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")

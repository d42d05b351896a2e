"""The package's floors, held: no import climbs, and no CLI function grows into a second run.

The floors are those of docs/architecture.md; a new top-level module or folder must be placed
on one here, so the test names it when it is not.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "src" / "sos_inventory"

# Lowest first. A unit may import from its own floor only when the floor is the ground's.
FLOORS: list[set[str]] = [
    {"model", "errors", "redact", "outbound", "private"},
    {"interrupts", "runbook"},
    {"config"},
    {"state"},
    {"server"},
    {"inventory", "diagnose"},
    {"sync"},
    {"report"},
    {"incidents", "observe"},
    {"session"},
    {"cli", "__init__"},
    {"console"},
    {"__main__"},
]
CLI_FUNCTION_LINES = 60


def _floor_of(unit: str) -> int:
    for level, units in enumerate(FLOORS):
        if unit in units:
            return level
    raise AssertionError(f"{unit!r} is on no floor: place it in FLOORS and docs/architecture.md")


def _unit(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").parts[0]


def _imported_units(tree: ast.AST) -> set[str]:
    units: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sos_inventory" and len(parts) > 1:
                top = parts[1]
                if (ROOT / top).is_dir() or (ROOT / f"{top}.py").is_file():
                    units.add(top)
    return units


def test_no_import_climbs_a_floor() -> None:
    climbs = []
    for path in sorted(ROOT.rglob("*.py")):
        unit = _unit(path)
        level = _floor_of(unit)
        for target in _imported_units(ast.parse(path.read_text(encoding="utf-8"))) - {unit}:
            target_level = _floor_of(target)
            if target_level > level or (target_level == level and level != 0):
                climbs.append(f"{path.relative_to(ROOT)} imports {target}")
    assert climbs == []


def test_every_floor_names_a_real_module() -> None:
    for units in FLOORS:
        for unit in units:
            assert (ROOT / unit).is_dir() or (ROOT / f"{unit}.py").is_file(), unit


def test_no_cli_function_is_longer_than_a_screen() -> None:
    long = []
    for path in sorted((ROOT / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > CLI_FUNCTION_LINES:
                    long.append(f"{path.name}:{node.name} has {lines} lines")
    assert long == []

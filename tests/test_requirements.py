"""The pinned requirements cover what pyproject.toml asks for, at versions it allows."""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def pins(name: str) -> dict[str, str]:
    lines = (ROOT / "requirements" / name).read_text(encoding="utf-8").splitlines()
    return {canonicalize_name(m[1]): m[2] for m in map(PIN.match, lines) if m}


@pytest.mark.parametrize(("lock", "extras"), [("dev.txt", ["dev"]), ("mutation.txt", ["dev", "mutation"])])
def test_every_requirement_is_pinned_at_an_allowed_version(lock: str, extras: list[str]) -> None:
    pinned = pins(lock)
    wanted = [
        *PROJECT["dependencies"],
        *(r for extra in extras for r in PROJECT["optional-dependencies"][extra]),
    ]
    for text in wanted:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in requirements/{lock}: run `make lock`"
        assert requirement.specifier.contains(pinned[name]), (
            f"{name}=={pinned[name]} breaks {text}: run `make lock`"
        )


def test_the_mutation_lock_keeps_the_dev_versions() -> None:
    dev, mutation = pins("dev.txt"), pins("mutation.txt")
    assert {name: mutation.get(name) for name in dev} == dev


@pytest.mark.skipif(
    Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
    reason="checks the .venv that `make` builds from requirements/dev.txt; these tests run elsewhere",
)
def test_the_venv_make_builds_holds_exactly_the_pinned_versions() -> None:
    installed: dict[str, str] = {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in importlib.metadata.distributions()
    }
    installed.pop("sos-inventory")
    dev = pins("dev.txt")
    assert {name: installed.get(name) for name in dev} == dev
    # `make mutation` adds its own tools, pinned too.
    mutation = pins("mutation.txt")
    others = {name: version for name, version in installed.items() if name not in dev}
    assert others == {name: mutation.get(name) for name in others}, "installed but not pinned"

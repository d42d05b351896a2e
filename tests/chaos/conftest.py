"""Chaos fixtures: a generated fleet with drift, in a reference server that injects faults."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from sos_inventory.server.fleet import generate_fleet, seed_inventory, write_devices_csv
from tests.e2e.conftest import EMAIL, TOKEN, Fleet, write_users
from tests.serverutil import running_server, seed_db

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ACCOUNTS = {"531277": "ALC", "659397": "ALC", "2051458": "ALC_FR2"}
# No real sleeps: zero backoff, and the servers' Retry-After values capped to nothing.
FAST_RETRY = {"base_delay": 0, "max_delay": 0, "max_retry_after": 0}


def write_chaos_config(root: Path, *, retry: dict[str, Any] | None = None, **overrides: Any) -> Path:
    demo = yaml.safe_load((ROOT / "examples" / "demo" / "sos-inventory.yaml").read_text(encoding="utf-8"))
    demo["devices"] = "softlayer-data"
    demo["inventory"] = {
        "url": "http://127.0.0.1:9",
        "page_size": 100,
        "retry": FAST_RETRY if retry is None else retry,
    }
    demo["safety"] = {"max_changes": 5000, "max_change_ratio": 1.0, "min_export_ratio": 0.5}
    demo.update(overrides)
    path = root / "sos-inventory.yaml"
    path.write_text(yaml.safe_dump(demo, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class ChaosFleet(Fleet):
    """A generated fleet of a few hundred machines (faults: ``fleet.server.set_faults``)."""


def make_fleet(root: Path, n: int, drift: dict[str, float], seed: int = 7) -> None:
    machines = generate_fleet(n, accounts=ACCOUNTS, now=NOW, seed=seed)
    write_devices_csv(machines, root / "softlayer-data")
    inventory = seed_inventory(machines, now=NOW, seed=seed, drift=drift)
    (root / "seed.json").write_text(json.dumps(inventory), encoding="utf-8")


@pytest.fixture
def chaos_fleet(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ChaosFleet]:
    """400 machines, about a third of them drifted; server args from the test's ``server_args`` mark."""
    marker = request.node.get_closest_marker("server_args")
    server_args: Sequence[str] = marker.args if marker else ()
    make_fleet(tmp_path, 400, {"status": 0.25, "application": 0.05, "environment": 0.05, "missing": 0.01})
    config = write_chaos_config(tmp_path)
    db = tmp_path / "inventory.db"
    seed_db(db, tmp_path / "seed.json")
    with running_server(db, write_users(tmp_path / "users.yaml"), extra_args=server_args) as server:
        yield ChaosFleet(tmp_path, config, server, db)


__all__ = ["EMAIL", "TOKEN", "ChaosFleet", "chaos_fleet", "write_chaos_config"]

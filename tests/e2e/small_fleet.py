"""A small fleet with nothing wrong in it: every exit code a run ends with comes from what a test injects.

Twelve machines of one account, all Live in the export and all Build in the
inventory, so ``update`` makes twelve writes and ``plan`` finds no problem.
Retries run with zero backoff unless a test sets its own policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.builders import config_data, row, write_csv
from tests.e2e.conftest import Fleet, write_seed, write_users
from tests.serverutil import running_server, seed_db

__all__ = ["HOSTS", "ZERO_BACKOFF", "report", "running_small_fleet", "small_fleet", "write_small_config"]

HOSTS = [f"prod-dal10-carrier2-worker-{n:02d}" for n in range(1, 13)]
ZERO_BACKOFF: dict[str, Any] = {"base_delay": 0, "max_delay": 0, "max_retry_after": 0}


def write_small_config(root: Path, *, retry: dict[str, Any] | None = None, **overrides: Any) -> Path:
    """The fleet's config; ``overrides`` replace top-level keys."""
    settings = config_data(
        accounts={"531277": "ALC"},
        inventory={"url": "http://127.0.0.1:9", "page_size": 5, "retry": retry or ZERO_BACKOFF},
    )
    settings.update(overrides)
    path = root / "sos-inventory.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path


def report(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return data


@contextmanager
def running_small_fleet(root: Path, hosts: list[str], **overrides: Any) -> Iterator[Fleet]:
    """``hosts`` Live in the export and Build in the inventory (unids U01...), its server running;
    ``overrides`` replace top-level keys of the config."""
    write_csv(root / "softlayer-data" / "Acct531277" / "devices.csv", [row(h) for h in hosts])
    servers = [
        {
            "c_code": "ALC",
            "unid": f"U{n:02d}",
            "hostname": host,
            "fqdn": f"{host}.alchemy.ibm.com",
            "ip_public": "",
            "ip_private": "",
            "device_id": "",
            "application": "containers-kubernetes",
            "environment": "PROD-US-SOUTH",
            "status": "Build",
        }
        for n, host in enumerate(hosts, start=1)
    ]
    db = root / "inventory.db"
    seed_db(db, write_seed(root / "seed.json", servers))
    config = write_small_config(root, **overrides)
    with running_server(db, write_users(root / "users.yaml")) as server:
        yield Fleet(root, config, server, db)


@pytest.fixture
def small_fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_small_fleet(tmp_path, HOSTS) as fleet:
        yield fleet

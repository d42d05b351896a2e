"""End-to-end fixtures: a crafted fleet, its seed inventory, and a way to run the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.builders import config_data, row, write_csv
from tests.serverutil import RunningServer, running_server, seed_db

NOW = "2026-11-27T12:00:00Z"
EMAIL = "sre@example.com"
TOKEN = "tok-9f8e7d6c5b4a-SECRET"
READER_TOKEN = "tok-reader-0a1b2c-SECRET"

APPS = ["containers-kubernetes", "container-registry", "satellite-link"]
ENVS = ["PROD-US-SOUTH", "STAGE", "PROD-EU-CENTRAL"]


def _server(c_code: str, hostname: str, unid: str, **fields: str) -> dict[str, str]:
    out = {
        "c_code": c_code,
        "unid": unid,
        "hostname": hostname,
        "fqdn": f"{hostname}.alchemy.ibm.com",
        "ip_public": "",
        "ip_private": "",
        "device_id": "",
        "application": "containers-kubernetes",
        "environment": "PROD-US-SOUTH",
        "status": "Live",
    }
    out.update(fields)
    return out


# Devices of account 531277 (ALC): every edge case of the README and docs/sos-api.md, one per machine.
ALC_ROWS = [
    row("prod-dal10-carrier2-worker-01", provision="2026-11-20T08:00:00Z", device_id="1001"),
    row("prod-dal10-carrier2-worker-02", provision="2026-11-25T12:00:00Z"),  # exactly 48 h: Live
    row("prod-dal10-carrier2-worker-03", provision="2026-11-25T06:00:01-06:00"),  # 47:59:59 old: Build
    row("prod-dal10-carrier2-worker-04", provision="2026-12-01"),  # future: Build
    row(
        "prod-dal10-carrier2-worker-05", provision="2026-11-27 11:00:00", cancellation="2026-12-15"
    ),  # Available
    row("PROD-DAL10-REGISTRY-DOCKER-06.ALCHEMY.IBM.COM", provision="2026-11-01"),  # upper case, date-only
    row("prod-dal10-carrier2-worker-07", device_id="7007", provision="2026-01-01"),  # dup: Device ID
    row("prod-dal10-carrier2-worker-08", private_ip="10.0.0.8", provision="2026-01-01"),  # dup: private IP
    row("prod-dal10-carrier2-worker-09", public_ip="169.46.0.9", provision="2026-01-01"),  # dup: public IP
    row("prod-dal10-carrier2-worker-10", device_id="1010", provision="2026-01-01"),  # dup: ambiguous
    row("prod-dal10-vip-01", device_type="Portable", provision="2026-01-01"),  # excluded
    row("prod-dal10-mystery-box-01", provision="2026-01-01"),  # unowned application
    row("prod-dal10-carrier2-worker-13", provision="2026-01-01"),  # not in inventory
    row("prod-dal10-carrier2-worker-14", provision="2026-13-45"),  # invalid row
    row("prod-dal10-carrier2-worker-15", provision="2026-01-01"),  # in step
]
FR2_ROWS = [row("prodfr2-par04-carrier1-worker-01", provision="2026-01-01")]

SEED_SERVERS = [
    _server("ALC", "prod-dal10-carrier2-worker-01", "A01", status="Build"),
    _server("ALC", "prod-dal10-carrier2-worker-02", "A02", status="Build"),
    _server("ALC", "prod-dal10-carrier2-worker-03", "A03", status="Live"),
    _server("ALC", "prod-dal10-carrier2-worker-04", "A04", status="Live"),
    _server("ALC", "prod-dal10-carrier2-worker-05", "A05", status="Build"),
    _server("ALC", "prod-dal10-registry-docker-06", "A06", application="containers-kubernetes"),
    _server("ALC", "prod-dal10-carrier2-worker-07", "A07A", device_id="1", status="Build"),
    _server("ALC", "prod-dal10-carrier2-worker-07", "A07B", device_id="7007", status="Build"),
    _server("ALC", "prod-dal10-carrier2-worker-08", "A08A", ip_private="10.0.0.80", status="Build"),
    _server("ALC", "prod-dal10-carrier2-worker-08", "A08B", ip_private="10.0.0.8", status="Build"),
    _server("ALC", "prod-dal10-carrier2-worker-09", "A09A", ip_public="169.46.0.9", status="Build"),
    _server("ALC", "prod-dal10-carrier2-worker-09", "A09B", ip_public="169.46.0.90", status="Build"),
    _server("ALC", "prod-dal10-carrier2-worker-10", "A10A", device_id="1", status="Build"),
    _server("ALC", "prod-dal10-carrier2-worker-10", "A10B", device_id="2", status="Build"),
    _server("ALC", "prod-dal10-vip-01", "A11", status="Build", application="satellite-link"),
    _server("ALC", "prod-dal10-mystery-box-01", "A12", application="satellite-link", environment="STAGE"),
    _server("ALC", "prod-dal10-carrier2-worker-14", "A14", status="Build"),
    _server("ALC", "prod-dal10-carrier2-worker-15", "A15"),
    _server("ALC", "prod-dal10-old-01", "A99", status="Build"),  # orphan
    _server("ALC", "prodfr2-par04-carrier1-worker-01", "A98", status="Build"),  # same name, other C_Code
    _server(
        "ALC_FR2", "prodfr2-par04-carrier1-worker-01", "F01", status="Build", environment="PROD-US-SOUTH"
    ),
]

#: The state the README and docs/sos-api.md define after one update, per unid: (application, environment, status).
EXPECTED = {
    "A01": ("containers-kubernetes", "PROD-US-SOUTH", "Live"),
    "A02": ("containers-kubernetes", "PROD-US-SOUTH", "Live"),
    "A03": ("containers-kubernetes", "PROD-US-SOUTH", "Build"),
    "A04": ("containers-kubernetes", "PROD-US-SOUTH", "Build"),
    "A05": ("containers-kubernetes", "PROD-US-SOUTH", "Available"),
    "A06": ("container-registry", "PROD-US-SOUTH", "Live"),
    "A07A": ("containers-kubernetes", "PROD-US-SOUTH", "Build"),
    "A07B": ("containers-kubernetes", "PROD-US-SOUTH", "Live"),
    "A08A": ("containers-kubernetes", "PROD-US-SOUTH", "Build"),
    "A08B": ("containers-kubernetes", "PROD-US-SOUTH", "Live"),
    "A09A": ("containers-kubernetes", "PROD-US-SOUTH", "Live"),
    "A09B": ("containers-kubernetes", "PROD-US-SOUTH", "Build"),
    "A10A": ("containers-kubernetes", "PROD-US-SOUTH", "Build"),
    "A10B": ("containers-kubernetes", "PROD-US-SOUTH", "Build"),
    "A11": ("satellite-link", "PROD-US-SOUTH", "Build"),
    "A12": ("satellite-link", "PROD-US-SOUTH", "Live"),
    "A14": ("containers-kubernetes", "PROD-US-SOUTH", "Build"),
    "A15": ("containers-kubernetes", "PROD-US-SOUTH", "Live"),
    "A99": ("containers-kubernetes", "PROD-US-SOUTH", "Build"),
    "A98": ("containers-kubernetes", "PROD-US-SOUTH", "Build"),
    "F01": ("containers-kubernetes", "PROD-EU-CENTRAL", "Live"),
}
#: unids the update must write (A01-A06, A07B, A08B, A09A, A12, F01).
EXPECTED_CHANGES = {"A01", "A02", "A03", "A04", "A05", "A06", "A07B", "A08B", "A09A", "A12", "F01"}


@dataclass
class Fleet:
    """A crafted fleet on disk, its inventory in a running reference server, and the CLI."""

    root: Path
    config: Path
    server: RunningServer
    db: Path

    def env(self, token: str = TOKEN, email: str = EMAIL) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOS_")}
        return {**env, "SOS_API_EMAIL": email, "SOS_API_TOKEN": token}

    def cli(
        self, *args: str, env: dict[str, str] | None = None, url: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the real ``sos-inventory`` command against this fleet's server, in the fleet's
        folder: its default state folder (the lock) is the fleet's own, never shared with
        another test run."""
        return subprocess.run(
            self.command(*args, url=url),
            cwd=self.root,
            env=self.env() if env is None else env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str, url: str | None = None) -> subprocess.Popen[str]:
        """Start the real CLI in the background (for lock and signal tests), in the fleet's folder."""
        return subprocess.Popen(
            self.command(*args, url=url),
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
        )

    def command(self, *args: str, url: str | None = None) -> list[str]:
        """The command line of ``sos-inventory ARGS`` with this fleet's config, server and clock."""
        command = [sys.executable, "-m", "sos_inventory", *args]
        if args and args[0] in ("plan", "update", "undo"):
            command += ["--config", str(self.config), "--inventory-url", url or self.server.url, "--now", NOW]
        elif args and args[0] in ("validate", "explain"):
            command += ["--config", str(self.config), "--now", NOW]
        return command

    def dump(self) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-m", "sos_inventory", "server", "dump", "--db", str(self.db)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def state(self) -> dict[str, tuple[str, str, str]]:
        return {s["unid"]: (s["application"], s["environment"], s["status"]) for s in self.dump()["servers"]}


def write_fleet(root: Path, *, page_size: int = 4, **overrides: Any) -> Path:
    data = root / "softlayer-data"
    write_csv(data / "Acct531277" / "devices.csv", ALC_ROWS)
    write_csv(data / "Acct2051458" / "devices.csv", FR2_ROWS)
    ownership = {
        "application": [
            {"when": {"hostname": r"-carrier\d+-"}, "value": "containers-kubernetes"},
            {"when": {"hostname": "-registry-"}, "value": "container-registry"},
        ],
        "environment": [
            {"when": {"hostname": "^prod-dal"}, "value": "PROD-US-SOUTH"},
            {"when": {"hostname": "^prodfr2-"}, "value": "PROD-EU-CENTRAL"},
            {"when": {"hostname": "^stage-"}, "value": "STAGE"},
        ],
    }
    settings = config_data(
        devices="softlayer-data",
        ownership=ownership,
        inventory={"url": "http://127.0.0.1:9", "page_size": page_size},
    )
    settings.update(overrides)
    config = root / "sos-inventory.yaml"
    config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return config


def write_seed(path: Path, servers: Sequence[dict[str, str]] = SEED_SERVERS) -> Path:
    seed = {
        "applications": {"ALC": APPS, "ALC_FR2": APPS},
        "environments": {"ALC": ENVS, "ALC_FR2": ENVS},
        "servers": list(servers),
    }
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def write_users(path: Path) -> Path:
    users = {
        "users": [
            {"email": EMAIL, "token": TOKEN, "roles": {"ALC": "editor", "ALC_FR2": "editor"}},
            {"email": "reader@example.com", "token": READER_TOKEN, "roles": {"*": "reader"}},
        ]
    }
    path.write_text(yaml.safe_dump(users), encoding="utf-8")
    return path


@contextmanager
def running_fleet(root: Path, server_args: Sequence[str] = ()) -> Iterator[Fleet]:
    """The crafted fleet in ``root``, its inventory served by a reference server until the block ends."""
    config = write_fleet(root)
    db = root / "inventory.db"
    seed_db(db, write_seed(root / "seed.json"))
    with running_server(db, write_users(root / "users.yaml"), server_args) as server:
        yield Fleet(root, config, server, db)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path) as crafted:
        yield crafted

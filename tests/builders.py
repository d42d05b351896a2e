"""Small builders for tests: devices.csv files, configs and records."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from sos_inventory.config import Config, config_from_mapping
from sos_inventory.inventory.sos.client import record_from_item
from sos_inventory.model import COLUMNS, Device, ServerRecord

HEADER = tuple(column.header for column in COLUMNS)

RULES: dict[str, Any] = {
    "application": [
        {"when": {"hostname": r"-carrier\d+-"}, "value": "containers-kubernetes"},
        {"when": {"hostname": "-registry-"}, "value": "container-registry"},
    ],
    "environment": [
        {"when": {"hostname": "^prod-dal"}, "value": "PROD-US-SOUTH"},
        {"when": {"hostname": "^stage-"}, "value": "STAGE"},
    ],
}


def row(
    name: str,
    *,
    device_type: str = "Virtual Server",
    location: str = "Dallas 10",
    public_ip: str = "",
    private_ip: str = "",
    management_ip: str = "",
    device_id: str = "",
    provision: str = "2025-01-01T00:00:00Z",
    cancellation: str = "",
    tags: str = "",
) -> dict[str, str]:
    """One devices.csv row, keyed by the standard header."""
    return dict(
        zip(
            HEADER,
            (
                name,
                device_type,
                location,
                public_ip,
                private_ip,
                management_ip,
                device_id,
                provision,
                cancellation,
                tags,
            ),
            strict=True,
        )
    )


def write_csv(path: Path, rows: Sequence[Mapping[str, str]], header: Sequence[str] = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for r in rows:
            writer.writerow([r.get(h, "") for h in header])
    return path


def config_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "devices": "softlayer-data",
        "accounts": {"531277": "ALC", "2051458": "ALC_FR2"},
        "inventory": {"url": "http://127.0.0.1:8742"},
        "lifecycle": {"build_window": "48h"},
        "exclude": [{"device_type": "^Portable$"}],
        "ownership": RULES,
        "safety": {"max_changes": 500, "max_change_ratio": 1.0},
    }
    data.update(overrides)
    return data


def make_config(base: Path, **overrides: Any) -> Config:
    return config_from_mapping(config_data(**overrides), base=base, origin="test.yaml")


def write_config(path: Path, **overrides: Any) -> Path:
    path.write_text(yaml.safe_dump(config_data(**overrides), sort_keys=False), encoding="utf-8")
    return path


def record(hostname: str, unid: str, **fields: str) -> ServerRecord:
    """A record as the client makes it from an API item (so the hostname is lower-cased)."""
    values = {
        "c_code": "ALC",
        "fqdn": f"{hostname}.alchemy.ibm.com",
        "ip_public": "",
        "ip_private": "",
        "device_id": "",
        "application": "containers-kubernetes",
        "environment": "PROD-US-SOUTH",
        "status": "Live",
        "last_modified": "2026-11-20T10:00:00Z",
    }
    values.update(fields)
    return record_from_item({"unid": unid, "hostname": hostname, **values}, values["c_code"])


#: The run clock most unit tests use.
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def make_device(hostname: str = "prod-dal10-carrier2-worker-1030", **fields: Any) -> Device:
    """A Device as the export reader makes it: a 30-day-old machine of ALC unless told otherwise."""
    base = Device(
        source="Acct531277/devices.csv",
        line=2,
        account="531277",
        c_code="ALC",
        hostname=hostname,
        fqdn=f"{hostname}.alchemy.ibm.com",
        device_type="Virtual Server",
        location="Dallas 10",
        public_ip="169.46.30.142",
        private_ip="10.171.78.122",
        management_ip="",
        device_id="62603497",
        provision_date=NOW - timedelta(days=30),
        cancellation_date=None,
        tags="",
    )
    return base._replace(**fields)


#: A ``python -c`` program that runs the real CLI with a defect planted in the planner (exit 70).
PLANTED_DEFECT = (
    "import sys\n"
    "import sos_inventory.sync.engine as job\n"
    "def broken(*args, **kwargs):\n"
    "    raise ZeroDivisionError('planted by the test')\n"
    "job.build_plan = broken\n"
    "from sos_inventory.console import main\n"
    "sys.exit(main())\n"
)

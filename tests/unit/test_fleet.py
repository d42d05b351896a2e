"""The synthetic fleet generator: deterministic, unique, realistic, drifted as asked."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sos_inventory.server.fleet import (
    APPLICATIONS,
    ENVIRONMENTS,
    HEADER,
    FleetMix,
    Machine,
    device_row,
    format_date,
    generate_fleet,
    iter_fleet,
    seed_inventory,
    write_devices_csv,
)

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
ACCOUNTS = {"531277": "ALC", "659397": "ALC", "2051458": "ALC_FR2"}
HOSTNAME = re.compile(
    r"^(dev|prestage|stage|stgiks|prod|prodfr2|sup)-(?P<dc>[a-z]{3}\d{2})"
    r"-[a-z]+\d*(-[a-z]+)?-?\d+$"
)
CITIES = {"dal": "Dallas", "wdc": "Washington", "lon": "London", "fra": "Frankfurt"} | {
    "tok": "Tokyo",
    "syd": "Sydney",
}


@pytest.fixture(scope="module")
def fleet() -> list[Machine]:
    return generate_fleet(20_000, accounts=ACCOUNTS, now=NOW, seed=7)


def test_same_seed_same_fleet_and_seed() -> None:
    first = generate_fleet(500, accounts=ACCOUNTS, now=NOW, seed=3)
    again = generate_fleet(500, accounts=ACCOUNTS, now=NOW, seed=3)
    assert first == again
    assert generate_fleet(500, accounts=ACCOUNTS, now=NOW, seed=4) != first
    drift = {"status": 0.1, "application": 0.1, "orphan": 0.05, "missing": 0.05}
    assert seed_inventory(first, now=NOW, seed=1, drift=drift) == seed_inventory(
        again, now=NOW, seed=1, drift=drift
    )


def test_same_seed_same_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_devices_csv(iter_fleet(300, accounts=ACCOUNTS, now=NOW, seed=5), tmp_path / name)
    for path in (tmp_path / "a").rglob("devices.csv"):
        assert path.read_bytes() == (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes()


def test_hostnames_ips_and_device_ids_are_unique(fleet: list[Machine]) -> None:
    hostnames = [m.hostname for m in fleet]
    assert len(set(hostnames)) == len(hostnames)
    addresses = [ip for m in fleet for ip in (m.public_ip, m.private_ip, m.management_ip) if ip]
    assert len(set(addresses)) == len(addresses)
    ids = [m.device_id for m in fleet if m.device_id]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[1-9]\d{7}", i) for i in ids)


def test_machines_look_real(fleet: list[Machine]) -> None:
    for m in fleet:
        match = HOSTNAME.match(m.hostname)
        assert match, m.hostname
        dc = match["dc"]
        assert m.location == f"{CITIES[dc[:3]]} {int(dc[3:])}"
        assert m.fqdn == f"{m.hostname}.alchemy.ibm.com"
        assert (m.c_code == "ALC_FR2") == m.hostname.startswith("prodfr2-")
        assert ACCOUNTS[m.account] == m.c_code
        assert m.application in APPLICATIONS
        assert m.environment in ENVIRONMENTS
        assert re.fullmatch(r"(169|158|159)\.\d+\.\d+\.\d+|", m.public_ip)
        assert m.private_ip.startswith("10.") or m.excluded
    types = Counter(m.device_type for m in fleet)
    assert types["Virtual Server"] > types["Bare Metal Server"] > types["Portable"] > 0


def test_provision_dates_spread_as_described(fleet: list[Machine]) -> None:
    ages = [NOW - m.provision_date for m in fleet]
    assert all(age <= timedelta(days=730) for age in ages)
    assert 0 < sum(timedelta(0) <= age < timedelta(hours=48) for age in ages) < 0.03 * len(fleet)
    assert 0 < sum(age < timedelta(0) for age in ages) < 0.01 * len(fleet)
    assert 0 < sum(m.cancellation_date is not None for m in fleet) < 0.05 * len(fleet)
    assert {m.date_style for m in fleet} == {"offset", "naive", "zulu", "date"}


def test_date_styles_read_back_to_the_machine_date() -> None:
    when = datetime(2026, 11, 25, 20, 3, 11, tzinfo=UTC)
    assert format_date(when, "offset") == "2026-11-25T14:03:11-06:00"
    assert format_date(when, "naive") == "2026-11-25 20:03:11"
    assert format_date(when, "zulu") == "2026-11-25T20:03:11Z"
    assert format_date(when, "date") == "2026-11-25"
    for m in generate_fleet(2000, accounts=ACCOUNTS, now=NOW, seed=11):
        text = device_row(m)["Provision Date"]
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        assert (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)) == m.provision_date


def test_status_follows_the_spec() -> None:
    (m,) = generate_fleet(1, accounts=ACCOUNTS, now=NOW, seed=1, mix=FleetMix(cancelled=0))
    at = m.provision_date
    assert m.status(at + timedelta(hours=48)) == "Live"
    assert m.status(at + timedelta(hours=47, minutes=59)) == "Build"
    assert m.status(at - timedelta(hours=1)) == "Build"
    (c,) = generate_fleet(1, accounts=ACCOUNTS, now=NOW, seed=1, mix=FleetMix(cancelled=1))
    assert c.status(NOW) == c.status(c.provision_date) == "Available"


def test_prodfr2_needs_an_alc_fr2_account() -> None:
    only_alc = generate_fleet(2000, accounts={"531277": "ALC"}, now=NOW, seed=2)
    assert not any(m.hostname.startswith("prodfr2-") for m in only_alc)
    only_fr2 = generate_fleet(200, accounts={"2051458": "ALC_FR2"}, now=NOW, seed=2)
    assert all(m.hostname.startswith("prodfr2-") for m in only_fr2)


@pytest.mark.parametrize(
    "call",
    [
        lambda: iter_fleet(1, accounts={}, now=NOW, seed=1),
        lambda: iter_fleet(-1, accounts=ACCOUNTS, now=NOW, seed=1),
        lambda: iter_fleet(1, accounts=ACCOUNTS, now=NOW.replace(tzinfo=None), seed=1),
        lambda: FleetMix(portable=1.5),
        lambda: seed_inventory([], now=NOW, seed=1, drift={"typo": 0.1}),
        lambda: seed_inventory([], now=NOW, seed=1, drift={"status": -0.1}),
    ],
)
def test_bad_arguments_are_refused_at_once(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each call has its own message
        call()


def test_seed_without_drift_is_in_step(fleet: list[Machine]) -> None:
    seed = seed_inventory(fleet[:2000], now=NOW, seed=1)
    managed = [m for m in fleet[:2000] if not m.excluded]
    servers = seed["servers"]
    assert len(servers) == len(managed)
    for m, record in zip(managed, servers, strict=True):
        assert (record["hostname"], record["device_id"], record["ip_private"]) == (
            m.hostname,
            m.device_id,
            m.private_ip,
        )
        assert (record["application"], record["environment"], record["status"]) == (
            m.application,
            m.environment,
            m.status(NOW),
        )
    assert set(seed["applications"]) == set(seed["environments"]) == {"ALC", "ALC_FR2"}
    assert json.loads(json.dumps(seed)) == seed


def test_drift_shares_are_roughly_as_asked(fleet: list[Machine]) -> None:
    drift = {"status": 0.1, "application": 0.05, "environment": 0.08, "missing": 0.04, "orphan": 0.02}
    seed = seed_inventory(fleet, now=NOW, seed=9, drift=drift)
    machines = {m.hostname: m for m in fleet if not m.excluded}
    servers = seed["servers"]
    matched = [s for s in servers if s["hostname"] in machines]
    orphans = [s for s in servers if s["hostname"] not in machines]
    assert 1 - len(matched) / len(machines) == pytest.approx(0.04, abs=0.01)
    assert len(orphans) / len(machines) == pytest.approx(0.02, abs=0.002)
    truth = {
        h: {"status": m.status(NOW), "application": m.application, "environment": m.environment}
        for h, m in machines.items()
    }
    for field, asked in [("status", 0.1), ("application", 0.05), ("environment", 0.08)]:
        wrong = sum(s[field] != truth[s["hostname"]][field] for s in matched)
        assert wrong / len(matched) == pytest.approx(asked, abs=0.01), field
    assert len({s["unid"] for s in servers}) == len(servers)
    assert all(re.fullmatch(r"[0-9A-F]{16}", s["unid"]) for s in servers)
    assert all(HOSTNAME.match(s["hostname"]) for s in orphans)


def test_portable_rows_never_get_a_record(fleet: list[Machine]) -> None:
    portable = {m.hostname for m in fleet if m.device_type == "Portable"}
    assert portable
    seed = seed_inventory(fleet, now=NOW, seed=2, drift={"orphan": 0.05})
    assert not portable & {s["hostname"] for s in seed["servers"]}


def test_csv_round_trips_through_the_csv_module(tmp_path: Path) -> None:
    machines = generate_fleet(1000, accounts=ACCOUNTS, now=NOW, seed=12)
    paths = write_devices_csv(
        machines, tmp_path, overrides={machines[0].hostname: {"Provision Date": "2026-13-45"}}
    )
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "Acct2051458/devices.csv",
        "Acct531277/devices.csv",
        "Acct659397/devices.csv",
    ]
    accounts = {m.fqdn: m.account for m in machines}
    rows: dict[str, dict[str, str]] = {}
    for path in paths:
        with path.open(encoding="utf-8", newline="") as stream:
            reader = csv.DictReader(stream)
            assert tuple(reader.fieldnames or ()) == HEADER
            for row in reader:
                assert path.parent.name == f"Acct{accounts[row['Device Name']]}"
                rows[row["Device Name"]] = row
    assert len(rows) == len(machines)
    assert rows[machines[0].fqdn]["Provision Date"] == "2026-13-45"
    for m in machines[1:]:
        assert rows[m.fqdn] == device_row(m)
    with pytest.raises(ValueError, match="unknown columns"):
        write_devices_csv(machines, tmp_path, overrides={"x": {"Colour": "red"}})


def test_committed_demo_is_what_make_demo_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Path(__file__).resolve().parents[2] / "examples" / "make_demo.py"
    spec = importlib.util.spec_from_file_location("make_demo", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_demo", module)
    spec.loader.exec_module(module)
    counts = module.write_demo(tmp_path)
    assert 20 <= counts["changes"] <= 60
    committed = script.parent / "demo"
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    for path in written:
        assert (tmp_path / path).read_bytes() == (committed / path).read_bytes(), path

"""Regenerate ``examples/demo/``: the demo fleet, its SOS seed, its config and README.

    python examples/make_demo.py

Deterministic: running it again rewrites identical files. The fleet is a
generated one (``sos_inventory.server.fleet``) with a little random drift, plus
hand-crafted machines and records, one per edge case the job must handle; the
README's table is written from the same list, so it cannot drift from the data.
The expected counts are worked out here from the generator's truth and the
config's rules, independently of the job's own planner.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from sos_inventory.server.fleet import (
    DOMAIN,
    DateStyle,
    FleetMix,
    Machine,
    generate_fleet,
    seed_inventory,
    server_record,
    write_devices_csv,
)

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
ACCOUNTS = {"531277": "ALC", "659397": "ALC", "2051458": "ALC_FR2"}
DEMO = Path(__file__).resolve().parent / "demo"
FLEET_SIZE = 330  # generated machines; some become the crafted ones or retired ones
DRIFT = {"status": 0.04, "application": 0.02, "environment": 0.02, "missing": 0.02, "orphan": 0.01}

CONFIG = r"""# sos-inventory configuration of the demo (README, Config reference).
# Written by examples/make_demo.py. Relative paths are relative to this file's folder.

# The Netint export: a folder of Acct<N>/devices.csv files.
devices: softlayer-data

# The SOS inventory (C_Code) of each SoftLayer account's machines.
accounts:
  "531277": ALC
  "659397": ALC
  "2051458": ALC_FR2

# The SOS inventory API; here the reference server (sos-inventory server run).
# Credentials come from SOS_API_EMAIL and SOS_API_TOKEN, never from this file.
inventory:
  url: http://127.0.0.1:8742

# A machine younger than this (since its Provision Date) is in Build.
lifecycle:
  build_window: 48h

# Rows that are not machines to manage: Portable rows are VIPs.
exclude:
  - device_type: '^Portable$'

# Who owns a machine. Two ordered lists: in each, the first rule whose `when`
# patterns all match (re.search, case-insensitive) gives the value. A machine
# that no rule matches keeps its current value and is reported as unowned.
ownership:
  application:
    # Tugboats are the carriers numbered 100-199, so their rule comes first.
    - when: {hostname: '-carrier1\d\d-'}
      value: containers-kubernetes-tugboat
    - when: {hostname: '-carrier\d+-'}
      value: containers-kubernetes
    - when: {hostname: '-registry-'}
      value: container-registry
    - when: {hostname: '-satlink-'}
      value: satellite-link
    - when: {hostname: '-infra-'}
      value: conductors-infrastructure
    - when: {hostname: '-firewall-'}
      value: conductors-network
  environment:
    - when: {hostname: '^prod-dal'}
      value: PROD-US-SOUTH
    - when: {hostname: '^prod-wdc'}
      value: PROD-US-EAST
    - when: {hostname: '^prodfr2-|^prod-fra'}
      value: PROD-EU-CENTRAL
    - when: {hostname: '^prod-lon'}
      value: PROD-UK-SOUTH
    - when: {hostname: '^prod-tok'}
      value: PROD-AP-NORTH
    - when: {hostname: '^prod-syd'}
      value: PROD-AP-SOUTH
    - when: {hostname: '^(stage|stgiks)-'}
      value: STAGE
    - when: {hostname: '^(dev|prestage)-'}
      value: DEV-PRESTAGE
    - when: {hostname: '^sup-'}
      value: FOUNDATION

# Guards against a bad export damaging the inventory: refuse to apply a plan
# with more changes than this, or changing more than this share of a C_Code's records.
safety:
  max_changes: 500
  max_change_ratio: 0.5
"""


class Record(NamedTuple):
    """One inventory record of a crafted case: edits to the in-step record."""

    edits: Mapping[str, str] = {}
    retired: bool = False  # device id and IPs of a machine that no longer exists


@dataclass(frozen=True)
class Case:
    """A crafted edge case: the row in the export, its records, the outcome."""

    hostname: str
    special: str
    outcome: str
    provisioned: str = "2025-06-02T15:20:00Z"
    cancelled: str = ""
    style: DateStyle = "offset"
    device_type: str = "Virtual Server"
    records: tuple[Record, ...] = (Record(),)
    csv: Mapping[str, str] = field(default_factory=dict)  # raw text of some columns
    in_export: bool = True


BUILD, LIVE = {"status": "Build"}, {"status": "Live"}
# fmt: off
CASES = (
    Case("prod-dal10-carrier2-worker-1031", "provisioned 7 days ago, recorded `Build`",
         "status Build → Live", "2026-11-20T15:15:00Z", records=(Record(BUILD),)),
    Case("prod-wdc06-carrier4-worker-1062", "61 h old, date written without offset (UTC), recorded `Build`",
         "status Build → Live", "2026-11-24T22:40:00Z", style="naive", records=(Record(BUILD),)),
    Case("prod-dal13-carrier2-worker-1048", "provisioned exactly 48 h before the clock, recorded `Build`",
         "status Build → Live (an age of exactly 48 h is Live)", "2026-11-25T12:00:00Z",
         records=(Record(BUILD),)),
    Case("prod-dal12-carrier3-worker-1045", "provisioned 16 h ago, recorded `Live`",
         "status Live → Build", "2026-11-26T20:05:00Z", style="zulu", records=(Record(LIVE),)),
    Case("prod-dal12-carrier2-worker-1096", "Provision Date tomorrow (in the future), recorded `Live`",
         "status Live → Build", "2026-11-28T09:00:00Z", style="zulu", records=(Record(LIVE),)),
    Case("prod-dal10-carrier1-worker-1088", "provisioned 2.5 h ago, not yet in the inventory",
         "not in inventory (reported, not a failure); nothing written", "2026-11-27T09:30:00Z",
         records=()),
    Case("prod-syd01-satlink-tunnel-09", "an old machine missing from the inventory",
         "not in inventory (reported); nothing written", "2026-10-02T08:00:00Z", records=()),
    Case("prod-lon02-carrier5-worker-1007", "marked for cancellation, recorded `Live`",
         "status Live → Available", "2025-03-14T10:00:00Z", cancelled="2026-12-01T00:00:00Z",
         records=(Record(LIVE),)),
    Case("stage-dal09-carrier1-worker-1073", "10 h old and already marked for cancellation, recorded `Build`",
         "status Build → Available (cancellation wins over the build window)", "2026-11-27T02:00:00Z",
         cancelled="2026-11-28T00:00:00Z", records=(Record(BUILD),)),
    Case("prod-dal10-registry-docker-03", "recorded application `containers-kubernetes`",
         "application → container-registry",
         records=(Record({"application": "containers-kubernetes"}),)),
    Case("prod-tok02-carrier1-worker-1084", "recorded environment `PROD-US-SOUTH`",
         "environment → PROD-AP-NORTH", records=(Record({"environment": "PROD-US-SOUTH"}),)),
    Case("prod-dal10-carrier105-worker-1002",
         "a tugboat (carriers 100-199) recorded as `containers-kubernetes`",
         "application → containers-kubernetes-tugboat (rule order: first match wins)",
         records=(Record({"application": "containers-kubernetes"}),)),
    Case("prodfr2-fra02-carrier1-worker-1085", "ALC_FR2 machine recorded environment `PROD-US-SOUTH`",
         "environment → PROD-EU-CENTRAL (in the ALC_FR2 inventory)",
         records=(Record({"environment": "PROD-US-SOUTH"}),)),
    Case("prod-dal10-carrier2-worker-1099", "Device Name in upper case in the CSV, recorded `Build`",
         "matched case-insensitively; status Build → Live", "2026-11-19T08:00:00Z",
         records=(Record(BUILD),),
         csv={"Device Name": f"PROD-DAL10-CARRIER2-WORKER-1099.{DOMAIN}".upper()}),
    Case("prod-dal10-carrier3-worker-1090", "two records share the name; only one has the row's Device ID",
         "the Device ID picks the record: status Build → Live on it; the other record is an orphan,"
         " untouched",
         "2026-10-30T18:00:00Z", records=(Record(BUILD), Record(LIVE, retired=True))),
    Case("prod-wdc06-registry-docker-12", "two records share the name, neither has a device_id",
         "the Private IP picks the record: environment → PROD-US-EAST on it; the other is untouched",
         records=(Record({"device_id": "", "environment": "PROD-US-SOUTH"}),
                  Record({"device_id": ""}, retired=True))),
    Case("prod-dal10-carrier2-worker-1077",
         "two records share the name; neither device_id nor IPs match the row",
         "ambiguous: `duplicate_hostname` problem, nothing written to either record (exit code 1)",
         records=(Record(BUILD, retired=True), Record(LIVE, retired=True))),
    Case("prod-dal10-mystery-box-01", "no application rule matches the name",
         "unowned (reported): keeps its application; environment and status in step; no change",
         records=(Record({"application": "conductors-infrastructure"}),)),
    Case("prod-dal10-carrier2-worker-1066", "Provision Date `2026-13-45` (the one invalid row)",
         "invalid row reported with file, line, column and value (exit code 1); its record untouched",
         records=(Record(LIVE),), csv={"Provision Date": "2026-13-45"}),
    Case("prod-dal10-carrier2-vip-01", "Device Type `Portable` (a VIP)",
         "excluded: no record, nothing written", device_type="Portable", records=()),
    Case("prod-lon02-registry-vip-01", "Device Type `Portable` (a VIP)",
         "excluded: no record, nothing written", device_type="Portable", records=()),
    Case("prod-dal10-carrier1-worker-0917", "an inventory record with no machine",
         "orphan (listed), never changed", in_export=False),
    Case("stage-dal09-infra-vpn-07", "an inventory record with no machine",
         "orphan (listed), never changed", in_export=False),
    Case("prodfr2-fra02-carrier1-worker-0412", "an ALC_FR2 record with no machine",
         "orphan (listed), never changed", in_export=False),
)
# fmt: on


class Rules(NamedTuple):
    """The ownership rules of CONFIG, compiled."""

    application: list[tuple[re.Pattern[str], str]]
    environment: list[tuple[re.Pattern[str], str]]

    def owner(self, field_name: str, hostname: str) -> str:
        """The value the first matching rule gives, or "" (unowned)."""
        rules = self.application if field_name == "application" else self.environment
        return next((value for pattern, value in rules if pattern.search(hostname)), "")


def load_rules() -> Rules:
    ownership = yaml.safe_load(CONFIG)["ownership"]
    compiled = {
        name: [(re.compile(rule["when"]["hostname"], re.IGNORECASE), rule["value"]) for rule in rules]
        for name, rules in ownership.items()
    }
    return Rules(compiled["application"], compiled["environment"])


class Donors:
    """Generated machines given up to become crafted or retired ones (unique IPs and ids)."""

    def __init__(self, machines: list[Machine]) -> None:
        self.machines = machines

    def take(self, c_code: str, datacenter: str = "") -> Machine:
        for machine in self.machines:
            if (
                machine.c_code == c_code
                and machine.device_type == "Virtual Server"
                and machine.public_ip
                and (not datacenter or machine.hostname.split("-")[1] == datacenter)
            ):
                self.machines.remove(machine)
                return machine
        raise LookupError(f"no donor in {c_code} {datacenter}")


def craft(cases: Iterable[Case], donors: Donors, rules: Rules) -> tuple[list[Machine], list[dict[str, str]]]:
    """The crafted machines (in export order) and their records."""
    rng = random.Random(20261127)
    machines: list[Machine] = []
    records: list[dict[str, str]] = []
    for case in cases:
        c_code = "ALC_FR2" if case.hostname.startswith("prodfr2-") else "ALC"
        donor = donors.take(c_code, case.hostname.split("-")[1])
        machine = dataclasses.replace(
            donor,
            hostname=case.hostname,
            fqdn=f"{case.hostname}.{DOMAIN}",
            device_type=case.device_type,
            provision_date=datetime.fromisoformat(case.provisioned),
            cancellation_date=datetime.fromisoformat(case.cancelled) if case.cancelled else None,
            date_style=case.style,
            tags=tuple(case.hostname.split("-")[0:4:2]),
            application=rules.owner("application", case.hostname),
            environment=rules.owner("environment", case.hostname),
        )
        if case.device_type == "Portable":
            machine = dataclasses.replace(machine, private_ip="", device_id="")
        if case.in_export:
            machines.append(machine)
        for record in case.records:
            source = (
                dataclasses.replace(donors.take(c_code), hostname=machine.hostname)
                if record.retired
                else machine
            )
            fields = server_record(source, now=NOW, unid=f"{rng.getrandbits(64):016X}")
            fields.update(fqdn=machine.fqdn, application=machine.application, environment=machine.environment)
            fields.update(record.edits, last_modified="2026-11-26T18:00:00Z")
            records.append(fields)
    return machines, records


def expected(
    rows: list[Machine], invalid: set[str], servers: list[dict[str, str]], rules: Rules
) -> Counter[str]:
    """The outcome the job must reach, per docs/sos-api.md, from the generator's truth."""
    by_name: dict[str, list[dict[str, str]]] = {}
    for record in servers:
        by_name.setdefault(record["hostname"].lower(), []).append(record)
    counts = Counter(rows=len(rows), records=len(servers))
    matched: set[str] = set()
    for machine in rows:
        if machine.device_type == "Portable":
            counts["excluded"] += 1
            continue
        if machine.hostname in invalid:
            counts["invalid"] += 1
            continue
        candidates = by_name.get(machine.hostname, [])
        for key, value in [
            ("device_id", machine.device_id),
            ("ip_private", machine.private_ip),
            ("ip_public", machine.public_ip),
        ]:
            if len(candidates) > 1:
                candidates = [r for r in candidates if value and r[key] == value] or candidates
        if not candidates:
            counts["not_in_inventory"] += 1
            continue
        if len(candidates) > 1:
            counts["ambiguous"] += 1
            continue
        (record,) = candidates
        matched.add(record["unid"])
        desired = {name: rules.owner(name, machine.hostname) for name in ("application", "environment")}
        # The config must agree with the generator's truth, or the counts would be wrong.
        assert all(desired[n] == getattr(machine, n) for n in desired if getattr(machine, n)), machine
        if not all(desired.values()):
            counts["unowned"] += 1
            desired = {name: value or record[name] for name, value in desired.items()}
        desired["status"] = machine.status(NOW).value
        if any(record[name] != value for name, value in desired.items()):
            counts["changes"] += 1
            counts[f"changes_{record['c_code']}"] += 1
    rows_named = {m.hostname for m in rows}
    picked = {r["hostname"] for r in servers if r["unid"] in matched}
    counts["orphans"] = sum(r["hostname"] not in rows_named for r in servers)
    counts["unpicked"] = sum(r["unid"] not in matched and r["hostname"] in picked for r in servers)
    counts["all_orphans"] = counts["orphans"] + counts["unpicked"]
    return counts


def write_seed(path: Path, seed: Mapping[str, Any]) -> None:
    """SEED.json with one record per line: readable and diff-friendly."""
    lines = ["{"]
    for key in ("applications", "environments"):
        lines.append(f'  "{key}": {json.dumps(seed[key])},')
    lines.append('  "servers": [')
    lines.append(",\n".join(f"    {json.dumps(record)}" for record in seed["servers"]))
    lines += ["  ]", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


README = """# The demo fleet

Generated by `examples/make_demo.py` (deterministic: rerun it and nothing
changes). The run clock of the demo is fixed: `--now {now}`.

- `softlayer-data/Acct531277/devices.csv`, `Acct659397/devices.csv` (C_Code
  `ALC`) and `Acct2051458/devices.csv` (C_Code `ALC_FR2`): {rows} rows;
- `seed.json`: the SOS inventory before the run ({records} records);
- `sos-inventory.yaml`: the config (README, Config reference).

Most records are already in step. A little random drift (stale statuses,
wrong owners, missing records, orphans) plus the crafted cases below give a
modest plan. Expected outcome of `plan`/`update` with `--now {now}`:

| count | expected |
| --- | --- |
| rows in the export | {rows} |
| excluded (Portable) | {excluded} |
| invalid rows | {invalid} |
| changes (records to update) | {changes} ({changes_ALC} in ALC, {changes_ALC_FR2} in ALC_FR2) |
| not in inventory | {not_in_inventory} |
| ambiguous (`duplicate_hostname`) | {ambiguous} |
| unowned | {unowned} |
| orphan records | {all_orphans}: {orphans} whose hostname is in no export, \
plus the {unpicked} duplicates the Device ID or IP did not pick |
| exit code of `update` | 1 (one ambiguous machine, one invalid row) |

Run it against the reference server (the demo user is described in
`sos-inventory server run --help`):

```sh
sos-inventory server seed --db /tmp/demo.db examples/demo/seed.json
sos-inventory server run --db /tmp/demo.db &          # http://127.0.0.1:8742
export SOS_API_EMAIL=demo@sos.example SOS_API_TOKEN=demo-token
sos-inventory plan --config examples/demo/sos-inventory.yaml --now {now}
```

## Crafted edge cases

| hostname | what is special | outcome the job must produce |
| --- | --- | --- |
{table}
"""


def write_demo(target: Path = DEMO) -> Counter[str]:
    """Write every file of the demo under ``target``; return the expected counts."""
    rules = load_rules()
    fleet = generate_fleet(FLEET_SIZE, accounts=ACCOUNTS, now=NOW, seed=531277, mix=FleetMix(portable=0))
    donors = Donors(fleet[::-1])  # take donors from the end, keep the start as generated
    crafted, crafted_records = craft(CASES, donors, rules)
    base = [m for m in fleet if m in donors.machines]
    names = [m.hostname for m in base + crafted]
    assert len(names) == len(set(names)), "a crafted hostname clashes with a generated one"
    seed = seed_inventory(base, now=NOW, seed=659397, drift=DRIFT)
    seed["servers"] = sorted(
        seed["servers"] + crafted_records, key=lambda r: (r["c_code"], r["hostname"], r["unid"])
    )
    assert len({r["unid"] for r in seed["servers"]}) == len(seed["servers"])

    rows = sorted(base + crafted, key=lambda m: m.hostname)
    overrides = {case.hostname: case.csv for case in CASES if case.csv}
    invalid = {case.hostname for case in CASES if "Provision Date" in case.csv}
    counts = expected(rows, invalid, seed["servers"], rules)

    shutil.rmtree(target / "softlayer-data", ignore_errors=True)
    write_devices_csv(rows, target / "softlayer-data", overrides=overrides)
    write_seed(target / "seed.json", seed)
    (target / "sos-inventory.yaml").write_text(CONFIG, encoding="utf-8")
    table = "\n".join(f"| `{c.hostname}` | {c.special} | {c.outcome} |" for c in CASES)
    now = NOW.isoformat().replace("+00:00", "Z")
    (target / "README.md").write_text(README.format(now=now, table=table, **counts), encoding="utf-8")
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python examples/make_demo.py",
        description=f"Rewrite {DEMO.relative_to(DEMO.parent.parent)}/ (the demo fleet's exports, its SOS seed, "
        "its config and README) from the generator. Deterministic: a second run writes identical files.",
    )
    parser.parse_args(argv)
    counts = write_demo()
    print(f"wrote {DEMO}: " + ", ".join(f"{key} {value}" for key, value in sorted(counts.items())))


if __name__ == "__main__":
    main()

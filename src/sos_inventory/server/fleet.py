"""Realistic synthetic fleets: Netint ``devices.csv`` exports and SOS seeds.

:func:`iter_fleet` makes :class:`Machine` values named by the real conventions
(README, Config reference: ``<env>-<datacenter>-<component>[-<sub>]-<NN>``), each carrying the
truth the job must find (application, environment, dates);
:func:`write_devices_csv` writes them as ``Acct<N>/devices.csv`` (README, Config reference: devices.csv) and
:func:`seed_inventory` builds a SEED.json (README, The reference SOS server) drifted from that truth.

Every function is pure: one seeded :class:`random.Random` per call, so a seed
gives the same files byte for byte. Uniqueness holds by construction, not by
bookkeeping (hostnames from one counter per name prefix, addresses and device
ids from seeded bijections of the machine's index), so a million machines
stream in constant memory but for a few thousand counters.
:func:`iter_seed_servers` streams the records of :func:`seed_inventory` the same
way (4 bytes per record are kept, to draw the orphans' models from), for a
``Store.seed_servers`` or :func:`write_seed_json` at a million machines.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import random
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableSet
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, NamedTuple

from sos_inventory.config import DEFAULT_BUILD_WINDOW
from sos_inventory.model import COLUMNS, Status

DOMAIN = "alchemy.ibm.com"
FR2_C_CODE = "ALC_FR2"  # the EU-cloud inventory: every prodfr2 machine belongs to it
BUILD_WINDOW = DEFAULT_BUILD_WINDOW  # the job's: the fleet's Status follows the job's rules
HEADER = tuple(column.header for column in COLUMNS)  # the standard devices.csv header (README)
VIRTUAL, BARE_METAL, PORTABLE = "Virtual Server", "Bare Metal Server", "Portable"

KUBE, TUGBOAT = "containers-kubernetes", "containers-kubernetes-tugboat"
REGISTRY, SATLINK = "container-registry", "satellite-link"
INFRA, NETWORK = "conductors-infrastructure", "conductors-network"
APPLICATIONS = (KUBE, TUGBOAT, REGISTRY, SATLINK, INFRA, NETWORK)
DRIFT_KINDS = ("status", "application", "environment", "missing", "orphan")

DateStyle = Literal["offset", "naive", "zulu", "date"]
DATE_STYLES: tuple[DateStyle, ...] = ("offset", "naive", "zulu", "date")
# Mostly Dallas-time offsets, now and then date-only (last, so [:-1] drops it).
_STYLE_POOL: tuple[DateStyle, ...] = ("offset",) * 11 + ("naive",) * 5 + ("zulu",) * 3 + ("date",)
_CENTRAL = timezone(timedelta(hours=-6), "CST")  # SoftLayer exports speak Dallas time


class _Role(NamedTuple):
    """A kind of machine: how it is named, who owns it, how common it is."""

    component: str  # "carrier" and "tugboat" get a carrier number
    sub: str
    width: int  # digits of the trailing number
    first: int
    application: str
    weight: float
    bare_metal: float = 0.0  # share of Bare Metal Servers
    glued: bool = False  # firewall-vyattaha0: no hyphen before the number


_ROLES = (
    _Role("carrier", "worker", 4, 1001, KUBE, 48, 0.12),
    _Role("carrier", "master", 2, 1, KUBE, 3),
    _Role("carrier", "haproxy", 2, 1, KUBE, 2),
    _Role("tugboat", "worker", 4, 1001, TUGBOAT, 16, 0.05),
    _Role("tugboat", "master", 2, 1, TUGBOAT, 1),
    _Role("registry", "docker", 2, 1, REGISTRY, 4),
    _Role("registry", "redis", 2, 1, REGISTRY, 1),
    _Role("satlink", "tunnel", 2, 1, SATLINK, 4),
    _Role("satlink", "api", 2, 1, SATLINK, 2),
    _Role("infra", "elk", 2, 1, INFRA, 3, 0.3),
    _Role("infra", "bastion", 2, 1, INFRA, 2),
    _Role("infra", "vpn", 2, 1, INFRA, 1),
    _Role("infra", "jenkins", 2, 1, INFRA, 1),
    _Role("infra", "prometheus", 2, 1, INFRA, 1),
    _Role("firewall", "vyattaha", 1, 0, NETWORK, 0.6, 1.0, glued=True),
)
# Support (FOUNDATION) hosts run the tooling, not the services.
_SUP_ROLES = tuple(r for r in _ROLES if r.component in ("infra", "firewall"))
# Portable rows are VIPs in front of a service, not machines.
_VIP_ROLES = tuple(_Role(c, "vip", 2, 1, app, 1) for c, app in [("carrier", KUBE), ("registry", REGISTRY)])
_ROLE_TABLES = {
    sup: (roles, tuple(itertools.accumulate(r.weight for r in roles)))
    for sup, roles in [(False, _ROLES), (True, _SUP_ROLES)]
}


def _weighted(spec: str) -> tuple[str, ...]:
    """A pool for rng.choice from ``"name:weight ..."``: each name as often as its weight."""
    pairs = [item.split(":") for item in spec.split()]
    return tuple(name for name, weight in pairs for _ in range(int(weight)))


_ENVS = _weighted("prod:30 prodfr2:4 stage:5 stgiks:2 dev:3 prestage:2 sup:2")
_SITES = {
    "prod": _weighted(
        "dal10:6 dal12:4 dal13:3 wdc04:2 wdc06:2 wdc07:2 lon02:2 lon04:1 lon06:1"
        " fra02:1 tok02:2 tok04:1 tok05:1 syd01:1 syd04:1 syd05:1"
    ),
    "prodfr2": ("fra02", "fra04", "fra05"),
    **dict.fromkeys(("stage", "stgiks", "dev", "prestage"), ("dal09", "dal10")),
    "sup": ("dal09", "wdc04", "lon02", "fra02"),
}
# Datacenter prefix -> (city of the Location column, SOS environment of prod machines there).
_REGIONS = {
    "dal": ("Dallas", "PROD-US-SOUTH"),
    "wdc": ("Washington", "PROD-US-EAST"),
    "fra": ("Frankfurt", "PROD-EU-CENTRAL"),
    "lon": ("London", "PROD-UK-SOUTH"),
    "tok": ("Tokyo", "PROD-AP-NORTH"),
    "syd": ("Sydney", "PROD-AP-SOUTH"),
}
_NONPROD_ENVIRONMENTS = {
    "prodfr2": "PROD-EU-CENTRAL",
    "stage": "STAGE",
    "stgiks": "STAGE",
    "dev": "DEV-PRESTAGE",
    "prestage": "DEV-PRESTAGE",
    "sup": "FOUNDATION",
}
ENVIRONMENTS = (*(environment for _, environment in _REGIONS.values()), "STAGE", "DEV-PRESTAGE", "FOUNDATION")

_PER_16 = 256 * 254  # addresses of a /16 whose last octet avoids .0 and .255
_PUBLIC = tuple(f"169.{b}." for b in range(44, 64)) + tuple(
    f"{a}." for a in ("158.85", "158.175", "158.176", "158.177", "159.8", "159.122")
)
_PRIVATE = tuple(f"10.{b}." for b in range(100, 228))
_MANAGEMENT = tuple(f"10.{b}." for b in range(64))
_ORPHAN_PRIVATE = tuple(f"10.{b}." for b in range(64, 100))  # never clashes with a machine

#: The largest fleet whose IP addresses are all distinct (the public pool's size).
MAX_MACHINES = len(_PUBLIC) * _PER_16


@dataclass(frozen=True, slots=True)
class Machine:
    """One row of a Netint export, with the truth the job must find.

    ``provision_date`` is exactly what a correct parser reads back from the
    row: whole seconds, and midnight UTC for the date-only style.
    ``application`` is ``""`` for a machine no ownership rule should claim.
    """

    hostname: str
    fqdn: str  # the Device Name as written in the export
    device_type: str
    location: str
    public_ip: str
    private_ip: str
    management_ip: str
    device_id: str
    provision_date: datetime
    cancellation_date: datetime | None
    tags: tuple[str, ...]
    account: str
    c_code: str
    application: str
    environment: str
    date_style: DateStyle = "offset"

    @property
    def excluded(self) -> bool:
        """Whether the job must ignore this row (a Portable VIP, not a machine)."""
        return self.device_type == PORTABLE

    def status(self, now: datetime, build_window: timedelta = BUILD_WINDOW) -> Status:
        """The lifecycle Status (README, How it works) at ``now``."""
        if self.cancellation_date is not None:
            return Status.AVAILABLE
        if now - self.provision_date < build_window:
            return Status.BUILD
        return Status.LIVE


@dataclass(frozen=True, slots=True)
class FleetMix:
    """Shares of the machines that are not plain, long-running servers."""

    portable: float = 0.01  # Portable rows (VIPs)
    recent: float = 0.01  # provisioned less than 48 h before ``now``
    future: float = 0.003  # provision date in the next three days
    cancelled: float = 0.02  # marked for cancellation

    def __post_init__(self) -> None:
        for name in ("portable", "recent", "future", "cancelled"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"FleetMix.{name} must be between 0 and 1, not {getattr(self, name)}")


class _Permutation:
    """A seeded bijection of ``range(size)``: ``i -> (i * a + b) mod size``.

    ``a`` is near ``size`` times the golden ratio, so neighbours land far apart.
    """

    __slots__ = ("_mult", "_offset", "_size")

    def __init__(self, size: int, rng: random.Random) -> None:
        mult = int(size * (0.618 + rng.random() / 1000)) | 1
        while math.gcd(mult, size) != 1:
            mult += 2
        self._size, self._mult, self._offset = size, mult, rng.randrange(size)

    def __call__(self, index: int) -> int:
        return (index * self._mult + self._offset) % self._size


class _AddressPool:
    """Distinct IPv4 addresses in some /16 blocks, one per index, scattered."""

    __slots__ = ("_blocks", "_perm")

    def __init__(self, blocks: tuple[str, ...], rng: random.Random) -> None:
        self._blocks = blocks
        self._perm = _Permutation(len(blocks) * _PER_16, rng)

    def __call__(self, index: int) -> str:
        block, rest = divmod(self._perm(index), _PER_16)
        third, fourth = divmod(rest, 254)
        return f"{self._blocks[block]}{third}.{fourth + 1}"


def _site(env: str, datacenter: str) -> tuple[str, str]:
    """The Location column and the true SOS environment of a machine."""
    city, prod_environment = _REGIONS[datacenter[:3]]
    environment = prod_environment if env == "prod" else _NONPROD_ENVIRONMENTS[env]
    return f"{city} {int(datacenter[3:])}", environment


_SITE_INFO = {(env, dc): _site(env, dc) for env, dcs in _SITES.items() for dc in dcs}


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, not {now.isoformat()}")


def iter_fleet(
    n: int,
    *,
    accounts: Mapping[str, str],
    now: datetime,
    seed: int,
    mix: FleetMix = FleetMix(),
) -> Iterator[Machine]:
    """Stream ``n`` machines, deterministic for a given ``seed``.

    ``accounts`` maps SoftLayer account numbers to C_Codes (as the config
    does). ``prodfr2`` machines go to the account of ``ALC_FR2`` (none are
    made without one); the others are spread over the remaining accounts.
    Provision dates spread over the two years before ``now``, except the
    recent and future shares of ``mix``.
    Raises ValueError on bad arguments, before the first machine.
    """
    _check_aware(now)
    if not 0 <= n <= MAX_MACHINES:
        raise ValueError(f"n must be between 0 and {MAX_MACHINES}, not {n}")
    if not accounts:
        raise ValueError("accounts must map at least one account to a C_Code")
    return _machines(n, accounts, now.astimezone(UTC).replace(microsecond=0), random.Random(seed), mix)


def _machines(
    n: int, accounts: Mapping[str, str], now: datetime, rng: random.Random, mix: FleetMix
) -> Iterator[Machine]:
    fr2 = sorted(a for a, c in accounts.items() if c == FR2_C_CODE)
    others = sorted(a for a, c in accounts.items() if c != FR2_C_CODE)
    envs = tuple(e for e in _ENVS if (fr2 if e == "prodfr2" else others))
    public, private = _AddressPool(_PUBLIC, rng), _AddressPool(_PRIVATE, rng)
    management, ids = _AddressPool(_MANAGEMENT, rng), _Permutation(90_000_000, rng)
    carriers, tugboats = min(99, max(3, n // 400)), min(99, max(2, n // 2000))
    counters: dict[tuple[str, str, str, str], int] = {}
    for index in range(n):
        env = rng.choice(envs)
        datacenter = rng.choice(_SITES[env])
        if rng.random() < mix.portable:
            role, device_type = rng.choice(_VIP_ROLES), PORTABLE
        else:
            roles, cum_weights = _ROLE_TABLES[env == "sup"]
            role = rng.choices(roles, cum_weights=cum_weights)[0]
            device_type = BARE_METAL if rng.random() < role.bare_metal else VIRTUAL
        component = role.component
        if component == "carrier":
            component = f"carrier{rng.randint(1, carriers)}"
        elif component == "tugboat":  # tugboats are the carriers numbered from 100
            component = f"carrier{rng.randint(100, 99 + tugboats)}"
        key = (env, datacenter, component, role.sub)
        number = counters[key] = counters.get(key, role.first - 1) + 1
        glue = "" if role.glued else "-"
        hostname = f"{env}-{datacenter}-{component}-{role.sub}{glue}{number:0{role.width}d}"
        provisioned, cancelled, style = _dates(rng, now, mix)
        has_public = device_type == PORTABLE or rng.random() < 0.7
        account = fr2[0] if env == "prodfr2" else rng.choice(others)
        location, environment = _SITE_INFO[env, datacenter]
        yield Machine(
            hostname=hostname,
            fqdn=f"{hostname}.{DOMAIN}",
            device_type=device_type,
            location=location,
            public_ip=public(index) if has_public else "",
            private_ip="" if device_type == PORTABLE else private(index),
            management_ip=management(index) if device_type == BARE_METAL else "",
            device_id="" if device_type == PORTABLE else str(10_000_000 + ids(index)),
            provision_date=provisioned,
            cancellation_date=cancelled,
            tags=() if rng.random() < 0.2 else (env, component, role.sub),
            account=account,
            c_code=accounts[account],
            application=role.application,
            environment=environment,
            date_style=style,
        )


def _dates(rng: random.Random, now: datetime, mix: FleetMix) -> tuple[datetime, datetime | None, DateStyle]:
    """Provision date, cancellation date and the style the export writes them in."""
    roll = rng.random()
    if roll < mix.future:
        provisioned = now + timedelta(seconds=rng.randrange(60, 3 * 86400))
    elif roll < mix.future + mix.recent:
        provisioned = now - timedelta(seconds=rng.randrange(60, 48 * 3600))
    else:
        provisioned = now - timedelta(seconds=rng.randrange(48 * 3600, 730 * 86400))
    # A date-only row loses its time of day: keep it away from the build window.
    style = rng.choice(_STYLE_POOL if roll >= mix.future + mix.recent else _STYLE_POOL[:-1])
    cancelled = None
    if rng.random() < mix.cancelled:
        cancelled = now + timedelta(seconds=rng.randrange(-5 * 86400, 30 * 86400))
        cancelled = max(cancelled, provisioned + timedelta(hours=1))
    if style == "date":
        provisioned = provisioned.replace(hour=0, minute=0, second=0)
        cancelled = cancelled and cancelled.replace(hour=0, minute=0, second=0)
    return provisioned, cancelled, style


def generate_fleet(
    n: int, *, accounts: Mapping[str, str], now: datetime, seed: int, mix: FleetMix = FleetMix()
) -> list[Machine]:
    """:func:`iter_fleet` as a list, for fleets that fit in memory."""
    return list(iter_fleet(n, accounts=accounts, now=now, seed=seed, mix=mix))


def format_date(value: datetime, style: DateStyle) -> str:
    """A date as a Netint export writes it, in one of the accepted forms (README, Config reference: devices.csv)."""
    if style == "offset":
        return value.astimezone(_CENTRAL).isoformat(timespec="seconds")
    utc = value.astimezone(UTC)
    if style == "naive":
        return utc.strftime("%Y-%m-%d %H:%M:%S")
    if style == "zulu":
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return utc.strftime("%Y-%m-%d")


def device_row(machine: Machine) -> dict[str, str]:
    """A machine as one devices.csv row: column name -> text."""
    cancelled = machine.cancellation_date
    return {
        "Device Name": machine.fqdn,
        "Device Type": machine.device_type,
        "Location": machine.location,
        "Public IP": machine.public_ip,
        "Private IP": machine.private_ip,
        "Management IP": machine.management_ip,
        "Device ID": machine.device_id,
        "Provision Date": format_date(machine.provision_date, machine.date_style),
        "Cancellation Date": "" if cancelled is None else format_date(cancelled, machine.date_style),
        "Tags": ", ".join(machine.tags),
    }


def write_devices_csv(
    machines: Iterable[Machine],
    folder: str | Path,
    *,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> list[Path]:
    """Write ``<folder>/Acct<N>/devices.csv`` per account; return the paths written.

    Rows keep the order of ``machines``. ``overrides`` maps a hostname to
    columns whose text replaces the generated one, to craft rows a parser must
    cope with (``{"Provision Date": "2026-13-45"}``). Existing files are
    replaced; accounts without machines get no file.
    """
    overrides = overrides or {}
    unknown = {column for row in overrides.values() for column in row} - set(HEADER)
    if unknown:
        raise ValueError(f"overrides name unknown columns: {sorted(unknown)}")
    writers: dict[str, Callable[[Iterable[str]], object]] = {}
    paths: list[Path] = []
    with ExitStack() as stack:
        for machine in machines:
            write = writers.get(machine.account)
            if write is None:
                path = Path(folder) / f"Acct{machine.account}" / "devices.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                stream = stack.enter_context(path.open("w", encoding="utf-8", newline=""))
                write = writers[machine.account] = csv.writer(stream, lineterminator="\n").writerow
                write(HEADER)
                paths.append(path)
            row = device_row(machine) | dict(overrides.get(machine.hostname, {}))
            write([row[column] for column in HEADER])
    return sorted(paths)


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def server_record(
    machine: Machine,
    *,
    now: datetime,
    unid: str,
    build_window: timedelta = BUILD_WINDOW,
) -> dict[str, str]:
    """The SEED.json record of a machine, in step with the truth at ``now``.

    ``last_modified`` is ``now``; callers may edit any field.
    """
    return {
        "unid": unid,
        "c_code": machine.c_code,
        "hostname": machine.hostname,
        "fqdn": machine.fqdn.lower(),
        "ip_public": machine.public_ip,
        "ip_private": machine.private_ip,
        "device_id": machine.device_id,
        "application": machine.application,
        "environment": machine.environment,
        "status": machine.status(now, build_window).value,
        "last_modified": _timestamp(now),
    }


def _drift_shares(drift: Mapping[str, float] | None) -> dict[str, float]:
    shares = dict.fromkeys(DRIFT_KINDS, 0.0)
    for kind, share in (drift or {}).items():
        if kind not in shares:
            raise ValueError(f"unknown drift kind {kind!r}; expected one of {', '.join(DRIFT_KINDS)}")
        if not 0 <= share <= 1:
            raise ValueError(f"drift share of {kind!r} must be between 0 and 1, not {share}")
        shares[kind] = share
    return shares


def _other(values: tuple[str, ...], current: str, rng: random.Random) -> str:
    return rng.choice([v for v in values if v != current])


def _stale(status: str, rng: random.Random) -> str:
    """A plausible out-of-date Status: a missed promotion, cancellation or build."""
    if status == Status.LIVE:
        return Status.BUILD.value if rng.random() < 0.7 else Status.AVAILABLE.value
    return Status.LIVE.value


def seed_inventory(
    machines: Iterable[Machine],
    *,
    now: datetime,
    seed: int,
    drift: Mapping[str, float] | None = None,
    build_window: timedelta = BUILD_WINDOW,
) -> dict[str, Any]:
    """A SEED.json dict (README, The reference SOS server) for ``machines``, drifted from the truth at ``now``.

    ``drift`` maps each kind of :data:`DRIFT_KINDS` to a share of the managed
    (non-Portable) machines: ``missing`` ones get no record; among records,
    independently, ``status`` ones have a stale Status, ``application`` and
    ``environment`` ones a wrong owner; ``orphan`` adds that share of records
    that match no machine (retired workers, numbered below 1001). Portable
    rows never get a record. Every C_Code knows :data:`APPLICATIONS` and
    :data:`ENVIRONMENTS`. Unids are distinct, 16 hex digits.
    """
    c_codes: set[str] = set()
    servers = list(
        iter_seed_servers(
            machines, now=now, seed=seed, drift=drift, build_window=build_window, c_codes=c_codes
        )
    )
    return {**seed_lists(c_codes), "servers": servers}


def seed_lists(c_codes: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """The ``applications`` and ``environments`` of a SEED.json: all of them, for each C_Code."""
    codes = sorted(set(c_codes))
    return {
        "applications": {c: list(APPLICATIONS) for c in codes},
        "environments": {c: list(ENVIRONMENTS) for c in codes},
    }


def iter_seed_servers(
    machines: Iterable[Machine],
    *,
    now: datetime,
    seed: int,
    drift: Mapping[str, float] | None = None,
    build_window: timedelta = BUILD_WINDOW,
    c_codes: MutableSet[str] | None = None,
) -> Iterator[dict[str, str]]:
    """The ``servers`` of :func:`seed_inventory`, the same ones in the same order, streamed.

    ``machines`` is read once, lazily. ``c_codes``, when given, receives the
    C_Codes of the managed machines as they are read (the C_Codes that
    :func:`seed_lists` needs). Raises ValueError on bad arguments, before the
    first record.
    """
    _check_aware(now)
    shares = _drift_shares(drift)
    return _seed_servers(
        machines, now=now, rng=random.Random(seed), shares=shares, build_window=build_window, c_codes=c_codes
    )


def _seed_servers(
    machines: Iterable[Machine],
    *,
    now: datetime,
    rng: random.Random,
    shares: dict[str, float],
    build_window: timedelta,
    c_codes: MutableSet[str] | None,
) -> Iterator[dict[str, str]]:
    unids = _Permutation(2**64, rng)
    # What an orphan borrows from a record (its site, C_Code and environment), kept as one
    # small int per record: the orphans draw their models from every record made.
    models: dict[tuple[str, str, str, str], int] = {}
    model_of = array("I")
    managed = 0
    for machine in machines:
        if machine.excluded:
            continue
        managed += 1
        if c_codes is not None:
            c_codes.add(machine.c_code)
        if rng.random() < shares["missing"]:
            continue
        record = server_record(
            machine, now=now, unid=f"{unids(len(model_of)):016X}", build_window=build_window
        )
        record["last_modified"] = _timestamp(now - timedelta(seconds=rng.randrange(3600, 30 * 86400)))
        if rng.random() < shares["status"]:
            record["status"] = _stale(record["status"], rng)
        if rng.random() < shares["application"]:
            record["application"] = _other(APPLICATIONS, record["application"], rng)
        if rng.random() < shares["environment"]:
            record["environment"] = _other(ENVIRONMENTS, record["environment"], rng)
        env, datacenter = record["hostname"].split("-", 2)[:2]
        model = (env, datacenter, record["c_code"], record["environment"])
        model_of.append(models.setdefault(model, len(models)))
        yield record
    if model_of:
        table = list(models)
        yield from _orphans(round(shares["orphan"] * managed), model_of, table, unids, now=now, rng=rng)


def write_seed_json(path: str | Path, servers: Iterable[Mapping[str, str]], c_codes: Iterable[str]) -> int:
    """Write a SEED.json of ``servers`` (streamed, one per line) and the lists of ``c_codes``;
    return the number of servers. ``c_codes`` is read after ``servers``, so the set that
    :func:`iter_seed_servers` fills may be passed."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as stream:
        stream.write('{"servers": [')
        for count, server in enumerate(servers, 1):
            stream.write(("\n" if count == 1 else ",\n") + json.dumps(server))
        lists = seed_lists(c_codes)
        stream.write(f'\n], "applications": {json.dumps(lists["applications"])}')
        stream.write(f', "environments": {json.dumps(lists["environments"])}}}\n')
    return count


def _orphans(
    count: int,
    model_of: array[int],
    models: list[tuple[str, str, str, str]],
    unids: _Permutation,
    *,
    now: datetime,
    rng: random.Random,
) -> Iterator[dict[str, str]]:
    """Records of retired workers: plausible names no generated machine can have."""
    private, ids = _AddressPool(_ORPHAN_PRIVATE, rng), _Permutation(9_000_000, rng)
    counters: dict[tuple[str, str, int], int] = {}
    for index in range(count):
        # rng.choice over one int per record draws exactly as over the records themselves.
        env, datacenter, c_code, environment = models[rng.choice(model_of)]
        carrier = rng.randint(1, 99)
        while (number := counters.get((env, datacenter, carrier), 1)) > 1000:
            carrier += 200  # live workers start at 1001; carriers above 198 are never made
        counters[env, datacenter, carrier] = number + 1
        hostname = f"{env}-{datacenter}-carrier{carrier}-worker-{number:04d}"
        yield {
            "unid": f"{unids(len(model_of) + index):016X}",
            "c_code": c_code,
            "hostname": hostname,
            "fqdn": f"{hostname}.{DOMAIN}",
            "ip_public": "",
            "ip_private": private(index),
            "device_id": str(1_000_000 + ids(index)),  # older, shorter ids
            "application": KUBE,
            "environment": environment,
            "status": Status.LIVE.value,
            "last_modified": _timestamp(now - timedelta(days=rng.randint(30, 400))),
        }

"""The job, end to end: read the exports, fetch the inventories, plan, apply.

These are the library calls the CLI makes; they never print or exit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sos_inventory.apply import ApplyResult, apply_changes
from sos_inventory.config import Config, Credentials, DevicesSpec
from sos_inventory.devices import DeviceSet, discover, load_devices
from sos_inventory.model import ServerRecord
from sos_inventory.plan import Change, KnownNames, Plan, build_plan
from sos_inventory.sos.client import SosClient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What a run was asked to do, beyond the config."""

    now: datetime
    c_codes: frozenset[str] | None = None  # None: every C_Code of the config
    concurrency: int = 8


def read_devices(
    config: Config, specs: Sequence[DevicesSpec] | None = None, c_codes: Iterable[str] | None = None
) -> DeviceSet:
    """Find and read the exports (those of ``c_codes`` only, when given)."""
    files = discover(specs or config.devices)
    if c_codes is not None:
        wanted = set(c_codes)
        files = [f for f in files if config.accounts.get(f.account) in wanted]
    device_set = load_devices(files, config)
    log.info(
        "read %d rows from %d file(s): %d machines, %d excluded, %d invalid",
        device_set.rows,
        len(files),
        len(device_set.devices),
        len(device_set.excluded),
        len(device_set.invalid),
    )
    return device_set


def c_codes_in_play(config: Config, device_set: DeviceSet) -> list[str]:
    """The C_Codes whose inventories this run must read: those of the files read."""
    return sorted({config.accounts[f.account] for f in device_set.files if f.account in config.accounts})


async def _snapshot(
    client: SosClient, c_codes: Sequence[str]
) -> tuple[dict[str, list[ServerRecord]], dict[str, KnownNames]]:
    async def one(c_code: str) -> tuple[list[ServerRecord], KnownNames]:
        applications, environments, records = await asyncio.gather(
            client.applications(c_code), client.environments(c_code), client.fetch_inventory(c_code)
        )
        return records, KnownNames(applications, environments)

    results = await asyncio.gather(*(one(c_code) for c_code in c_codes))
    inventories = {c_code: records for c_code, (records, _) in zip(c_codes, results, strict=True)}
    known = {c_code: names for c_code, (_, names) in zip(c_codes, results, strict=True)}
    return inventories, known


def _client(config: Config, credentials: Credentials, options: RunOptions) -> SosClient:
    return SosClient(
        config.inventory_url,
        credentials,
        concurrency=options.concurrency,
        page_size=config.page_size,
        timeout=config.timeout,
    )


async def _plan(client: SosClient, config: Config, device_set: DeviceSet, options: RunOptions) -> Plan:
    inventories, known = await _snapshot(client, c_codes_in_play(config, device_set))
    plan = build_plan(device_set, inventories, config, options.now, known)
    log.info(
        "plan: %d change(s), %d in step, %d problem(s)", len(plan.changes), plan.in_step, len(plan.problems)
    )
    return plan


def make_plan(config: Config, device_set: DeviceSet, credentials: Credentials, options: RunOptions) -> Plan:
    """Read the inventories and compute the plan; writes nothing."""

    async def run() -> Plan:
        async with _client(config, credentials, options) as client:
            return await _plan(client, config, device_set, options)

    return asyncio.run(run())


def run_update(
    config: Config, device_set: DeviceSet, credentials: Credentials, options: RunOptions
) -> tuple[Plan, ApplyResult]:
    """Plan, then apply every change over the same connections."""

    async def run() -> tuple[Plan, ApplyResult]:
        async with _client(config, credentials, options) as client:
            plan = await _plan(client, config, device_set, options)

            async def update(change: Change) -> ServerRecord:
                return await client.update(change.c_code, change.unid, change.after, hostname=change.hostname)

            result = await apply_changes(plan.changes, update, concurrency=options.concurrency)
            return plan, result

    return asyncio.run(run())

"""``validate`` and ``explain``: the commands that need no network."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from sos_inventory.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_REFUSED,
    EXIT_USAGE,
    print_list,
    read_inputs,
)
from sos_inventory.config import Config
from sos_inventory.devices import DeviceSet
from sos_inventory.errors import ConfigError, InputError
from sos_inventory.ownership import explain
from sos_inventory.plan import input_problems


def _inputs(args: argparse.Namespace) -> tuple[Config, DeviceSet, datetime] | int:
    """The config, the exports and the clock; or, having said what is wrong, the exit code."""
    try:
        return read_inputs(args)
    except ConfigError as exc:
        print_list(f"{args.config}: configuration problem(s):", exc.problems)
        return EXIT_USAGE
    except InputError as exc:
        print_list("devices file(s) cannot be read:", [str(p) for p in exc.problems])
        return EXIT_REFUSED


def cmd_validate(args: argparse.Namespace) -> int:
    """``validate``: config and inputs only."""
    inputs = _inputs(args)
    if isinstance(inputs, int):
        return inputs
    _, device_set, _ = inputs
    problems = input_problems(device_set)
    summary = {
        "files": [str(f.path) for f in device_set.files],
        "devices": device_set.rows,
        "machines": len(device_set.devices),
        "excluded": len(device_set.excluded),
        "invalid": device_set.invalid_rows,
        "problems": [p.to_dict() for p in problems],
    }
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for problem in problems:
            print(f"  [{problem.category.value}] {problem.message}")
        print(
            f"{args.config}: OK; {summary['devices']} rows in {len(device_set.files)} file(s): "
            f"{summary['machines']} machines, {summary['excluded']} excluded, {summary['invalid']} invalid"
        )
    return EXIT_PROBLEMS if problems else EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    """``explain HOSTNAME``: why a machine gets its metadata."""
    inputs = _inputs(args)
    if isinstance(inputs, int):
        return inputs
    config, device_set, now = inputs
    wanted = args.hostname.strip().split(".", 1)[0].lower()
    found = [d for d in device_set.devices if d.hostname == wanted]
    excluded = [d for d in device_set.excluded if d.hostname == wanted]
    for device in found:
        print("\n".join(explain(device, config, now)))
    if len(found) > 1:
        print(
            f"note: {len(found)} rows share this hostname; the inventory match uses Device ID, then IPs (SPEC 4.2)"
        )
    for device in excluded:
        print(
            f"{device.hostname}: excluded ({device.source}:{device.line}, type {device.device_type}); never written"
        )
    if found or excluded:
        return EXIT_OK
    invalid = [e for e in device_set.invalid if e.hostname == wanted]
    for error in invalid:
        print(f"{wanted}: its row is invalid: {error}")
    if not invalid:
        print(f"{wanted}: not in the devices files read ({len(device_set.files)} file(s))", file=sys.stderr)
    return EXIT_PROBLEMS

"""``validate`` and ``explain``: the commands that need no network."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from sos_inventory.cli.common import print_diagnosis, read_inputs
from sos_inventory.config import Config
from sos_inventory.errors import ConfigError, InputError
from sos_inventory.model import Category, ExitCode, Problem
from sos_inventory.runbook import problem_dict, problem_of
from sos_inventory.sync.devices import EMPTY_EXPORT, DeviceSet, empty_files
from sos_inventory.sync.ownership import explain, explanation
from sos_inventory.sync.plan import duplicate_rows, input_problems


def _inputs(args: argparse.Namespace) -> tuple[Config, DeviceSet, datetime] | int:
    """The config, the exports and the clock; or, having said what is wrong, the exit code."""
    try:
        return read_inputs(args)
    except (ConfigError, InputError) as exc:
        print_diagnosis(problem_of(exc))
        return ExitCode.USAGE if isinstance(exc, ConfigError) else ExitCode.REFUSED


def cmd_validate(args: argparse.Namespace) -> int:
    """``validate``: config and inputs only; the exit codes ``plan`` would give for what it can see."""
    inputs = _inputs(args)
    if isinstance(inputs, int):
        return inputs
    _, device_set, _ = inputs
    empty = empty_files(device_set)
    problems = [
        *(Problem(Category.INPUT_ERROR, f"{path}: {EMPTY_EXPORT}; plan and update refuse it", source=path)
          for path in empty),
        *input_problems(device_set),
        *duplicate_rows(device_set),
    ]  # fmt: skip
    code = ExitCode.REFUSED if empty else ExitCode.PROBLEMS if problems else ExitCode.OK
    summary = {
        "files": [str(f.path) for f in device_set.files],
        "devices": device_set.rows,
        "machines": len(device_set.devices),
        "excluded": len(device_set.excluded),
        "invalid": device_set.invalid_rows,
        "problems": [problem_dict(p) for p in problems],
        "exit_code": code,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return code
    for problem in problems:
        print(f"  [{problem.category.value}] {problem.message}")
    counts = (
        f"{summary['devices']} rows in {len(device_set.files)} file(s): {summary['machines']} machines, "
        f"{summary['excluded']} excluded, {summary['invalid']} invalid"
    )
    verdict = "OK" if code == ExitCode.OK else f"{len(problems)} problem(s)"
    if code == ExitCode.REFUSED:
        verdict += ", plan and update would refuse to run"
    print(f"{args.config}: {verdict}; {counts}")
    return code


def cmd_explain(args: argparse.Namespace) -> int:
    """``explain HOSTNAME``: why a machine gets its metadata (``--json``: the same as data)."""
    inputs = _inputs(args)
    if isinstance(inputs, int):
        return inputs
    config, device_set, now = inputs
    wanted = args.hostname.strip().split(".", 1)[0]
    wanted = wanted.lower() if wanted.isascii() else wanted  # no Unicode folding into ASCII names
    found = [d for d in device_set.devices if d.hostname == wanted]
    excluded = [d for d in device_set.excluded if d.hostname == wanted]
    invalid = [e for e in device_set.invalid if e.hostname == wanted]
    code = ExitCode.OK if found or excluded else ExitCode.PROBLEMS
    if args.json:
        print(
            json.dumps(
                {
                    "hostname": wanted,
                    "found": bool(found or excluded),
                    "machines": [explanation(device, config, now) for device in found],
                    "excluded": [f"{d.source}:{d.line}" for d in excluded],
                    "invalid_rows": [str(error) for error in invalid],
                    "exit_code": code,
                },
                indent=2,
            )
        )
        return code
    for device in found:
        print("\n".join(explain(device, config, now)))
    if len(found) > 1:
        print(
            f"note: {len(found)} rows share this hostname; the inventory match uses Device ID, then IPs "
            "(docs/sos-api.md)"
        )
    for device in excluded:
        print(
            f"{device.hostname}: excluded ({device.source}:{device.line}, type {device.device_type}); never written"
        )
    if not (found or excluded):
        for error in invalid:
            print(f"{wanted}: its row is invalid: {error}")
        if not invalid:
            print(
                f"{wanted}: not in the devices files read ({len(device_set.files)} file(s))", file=sys.stderr
            )
    return code

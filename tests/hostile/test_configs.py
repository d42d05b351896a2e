"""Hostile configs and command lines: typos at every depth, bombs, hostile values. Exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.builders import config_data
from tests.hostile.cases import registry
from tests.hostile.conftest import run_case
from tests.hostile.harness import Context, Outcome, Run

CASES, case = registry()


def config(ctx: Context, **changes: Any) -> Path:
    """The fleet's config with ``changes`` merged in, one level deep; None removes a key."""
    data = yaml.safe_load(ctx.fleet.config.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    data["devices"] = str(ctx.fleet.root / "softlayer-data")
    return ctx.write("config.yaml", yaml.safe_dump(data, sort_keys=False))


def raw(ctx: Context, text: str | bytes) -> Path:
    return ctx.write("config.yaml", text)


def validate(path: Path) -> list[str]:
    return ["validate", "--config", str(path)]


def update(ctx: Context, path: Path, *extra: str) -> list[str]:
    return ctx.job("update", *extra, config=path)


def _inventory(ctx: Context, **keys: Any) -> Path:
    return config(ctx, inventory={"url": "http://127.0.0.1:9", **keys})


@case
def misspelt_inventory_url(ctx: Context) -> Run:
    path = _inventory(ctx, ur="https://sos.example.com")
    return Run(update(ctx, path), 2, "inventory.ur: unknown key (did you mean 'url'?)")


@case
def misspelt_ownership_application(ctx: Context) -> Run:
    data = config_data(devices=str(ctx.fleet.root / "softlayer-data"))
    data["ownership"] = {"applicaton": data["ownership"]["application"]}
    path = ctx.write("config.yaml", yaml.safe_dump(data))
    return Run(validate(path), 2, "ownership.applicaton: unknown key (did you mean 'application'?)")


@case
def misspelt_build_window(ctx: Context) -> Run:
    return Run(validate(config(ctx, lifecycle={"build_windwo": "48h"})), 2, "did you mean 'build_window'?")


@case
def misspelt_retry_attempts(ctx: Context) -> Run:
    path = _inventory(ctx, retry={"atempts": 2})
    return Run(validate(path), 2, "inventory.retry.atempts: unknown key (did you mean 'attempts'?)")


@case
def misspelt_safety_key(ctx: Context) -> Run:
    return Run(validate(config(ctx, safety={"max_change": 5})), 2, "did you mean 'max_changes'?")


@case
def misspelt_devices_entry_key(ctx: Context) -> Run:
    entry = {"path": str(ctx.fleet.root / "softlayer-data"), "acount": "531277"}
    data = yaml.safe_load(ctx.fleet.config.read_text(encoding="utf-8"))
    data["devices"] = [entry]
    path = ctx.write("config.yaml", yaml.safe_dump(data))
    return Run(validate(path), 2, "devices[1].acount: unknown key (did you mean 'account'?)")


@case
def misspelt_rule_value(ctx: Context) -> Run:
    rules = [{"when": {"hostname": "-x-"}, "valu": "containers-kubernetes"}]
    path = config(ctx, ownership={"application": rules})
    return Run(validate(path), 2, "ownership.application[1].valu: unknown key (did you mean 'value'?)")


@case
def misspelt_rule_field(ctx: Context) -> Run:
    rules = [{"when": {"hostnme": "-x-"}, "value": "containers-kubernetes"}]
    path = config(ctx, ownership={"application": rules})
    return Run(validate(path), 2, "unknown field 'hostnme' (did you mean 'hostname'?)")


@case
def alias_bomb(ctx: Context) -> Run:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    lines.append("inventory: {url: *j}")
    return Run(validate(raw(ctx, "\n".join(lines) + "\n")), 2, "expands past 100000 values", seconds=10)


@case
def nesting_bomb(ctx: Context) -> Run:
    return Run(validate(raw(ctx, "a: " + "[" * 50_000 + "]" * 50_000 + "\n")), 2, "nests too deeply")


@case
def a_huge_value_is_not_printed_whole(ctx: Context) -> Run:
    path = _inventory(ctx, url="x" * 1_000_000)

    def short(outcome: Outcome, _: Context) -> None:
        assert len(outcome.text) < 5000

    return Run(validate(path), 2, "must be an http(s) URL", check=short)


@case
def python_tag(ctx: Context) -> Run:
    return Run(validate(raw(ctx, "devices: !!python/object/apply:os.system ['true']\n")), 2, "not valid YAML")


@case
def not_utf8_config(ctx: Context) -> Run:
    return Run(validate(raw(ctx, b"devices: \xff\xfe\n")), 2, "not UTF-8")


@case
def config_is_a_folder(ctx: Context) -> Run:
    (ctx.root / "folder.yaml").mkdir()
    return Run(validate(ctx.root / "folder.yaml"), 2, "cannot read the config")


@case
def catastrophic_regex_with_backreference(ctx: Context) -> Run:
    rules = [{"when": {"hostname": r"^(a+)+\1$"}, "value": "containers-kubernetes"}]
    return Run(validate(config(ctx, ownership={"application": rules})), 2, "can take exponential")


@case
def catastrophic_regex_runs_in_linear_time(ctx: Context) -> Run:
    # (a+)+$ would take hours on this name with Python's re; it runs on RE2.
    rules = [{"when": {"hostname": "^(a+)+$"}, "value": "containers-kubernetes"}]
    path = config(ctx, ownership={"application": rules})
    export = ctx.write(
        "Acct531277/devices.csv",
        f"Device Name,Device Type,Location,Public IP,Private IP,"
        f"Management IP,Provision Date\n{'a' * 60}b,Virtual Server,dal10,,,,2026-01-01\n",
    )
    return Run(
        ["explain", "a" * 60 + "b", "--config", str(path), "--devices", str(export)],
        0,
        "unowned: none of the 1 rules matches",
        seconds=10,
    )


@case
def plain_http_to_another_host(ctx: Context) -> Run:
    path = _inventory(ctx, url="http://sos.example.invalid")
    return Run(update(ctx, path, "--inventory-url", "http://sos.example.invalid"), 2, "in clear", seconds=10)


@case
def credentials_in_the_url(ctx: Context) -> Run:
    return Run(ctx.job("plan", url="https://user:pw@sos.example.invalid"), 2, "must not contain credentials")


@case
def malformed_url(ctx: Context) -> Run:
    return Run(ctx.job("plan", url="http://[::1"), 2, "must be an http(s) URL")


@case
def account_with_a_trailing_line_break(ctx: Context) -> Run:
    return Run(validate(config(ctx, accounts={"531277\n": "ALC"})), 2, "account must be digits")


@case
def an_integer_of_five_thousand_digits(ctx: Context) -> Run:
    return Run(validate(raw(ctx, "inventory:\n  page_size: 1" + "0" * 5000 + "\n")), 2, "number too large")


@case
def an_integer_of_four_thousand_digits(ctx: Context) -> Run:
    path = raw(ctx, "inventory:\n  page_size: 1" + "0" * 4000 + "\n")
    return Run(validate(path), 2, "not an integer of 13288 bits")


@case
def boolean_page_size(ctx: Context) -> Run:
    return Run(validate(_inventory(ctx, page_size=True)), 2, "inventory.page_size: must be a int")


@case
def a_duration_too_large(ctx: Context) -> Run:
    return Run(validate(config(ctx, lifecycle={"build_window": "99999999999999d"})), 2, "build_window")


@case
def a_deadline_too_large(ctx: Context) -> Run:
    return Run(ctx.job("plan", "--deadline", "99999999999999d"), 2, "--deadline")


@case
def a_run_clock_at_the_end_of_time(ctx: Context) -> Run:
    args = ["explain", "prod-dal10-carrier2-worker-01", "--config", str(ctx.fleet.config)]
    return Run([*args, "--now", "9999-12-31T23:59:59Z"], 2, "between 1970 and 8999")


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_config(name: str, ctx: Context) -> None:
    run_case(ctx, CASES[name])

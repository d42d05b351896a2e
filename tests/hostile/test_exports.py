"""Hostile exports: files that are not exports, broken CSV, hostile cells. Nothing is written."""

from __future__ import annotations

import pytest

from tests.builders import HEADER
from tests.hostile.cases import registry
from tests.hostile.conftest import run_case
from tests.hostile.harness import CANARY, Context, Run

CASES, case = registry()
HEAD = ",".join(HEADER) + "\n"
GOOD = "prod-dal10-carrier2-worker-01,Virtual Server,dal10,,,,1001,2026-01-01,,\n"


def export(ctx: Context, body: str | bytes, header: str = HEAD) -> str:
    content = header.encode() + body if isinstance(body, bytes) else header + body
    return str(ctx.write("data/Acct531277/devices.csv", content))


def update(ctx: Context, path: str) -> list[str]:
    return ctx.job("update", "--devices", path)


def validate(ctx: Context, path: str) -> list[str]:
    return ["validate", "--config", str(ctx.fleet.config), "--devices", path]


@case
def empty_file(ctx: Context) -> Run:
    return Run(update(ctx, export(ctx, "", header="")), 3, "empty file")


@case
def not_utf8(ctx: Context) -> Run:
    return Run(update(ctx, export(ctx, b"\xff\xfe\x00garbage\x80\x81\n")), 3, "not UTF-8")


@case
def nul_byte(ctx: Context) -> Run:
    # Python's csv reads NUL since 3.11: the row is invalid, its value shown escaped.
    return Run(update(ctx, export(ctx, "prod-dal10-x\x00,a,b,,,,,2026-01-01,,\n")), 3, "prod-dal10-x\\x00")


@case
def symlink_to_a_secret(ctx: Context) -> Run:
    secret = ctx.write("secret-token.txt", CANARY + "\n")
    link = ctx.root / "data" / "Acct531277" / "devices.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    return Run(update(ctx, str(link)), 3, "none of them a devices.csv column")


@case
def header_only(ctx: Context) -> Run:
    return Run(update(ctx, export(ctx, "")), 3, "header but no machine")


@case
def required_column_missing(ctx: Context) -> Run:
    header = HEAD.replace("Provision Date", "Provisioned")
    return Run(
        update(ctx, export(ctx, GOOD, header=header)), 3, "missing required column(s) 'Provision Date'"
    )


@case
def unterminated_quote(ctx: Context) -> Run:
    return Run(update(ctx, export(ctx, '"prod-dal10-x,Virtual Server\n')), 3, "not a valid CSV")


@case
def field_over_the_csv_limit(ctx: Context) -> Run:
    return Run(update(ctx, export(ctx, "a" * 300_000 + ",x,y,,,,,2026-01-01,,\n")), 3, "not a valid CSV")


@case
def dev_zero(ctx: Context) -> Run:
    return Run(ctx.job("update", "--devices", "/dev/zero", "--account", "531277"), 3, "not a regular file")


@case
def a_folder_without_exports(ctx: Context) -> Run:
    (ctx.root / "empty").mkdir()
    return Run(update(ctx, str(ctx.root / "empty")), 3, "empty")


@case
def kelvin_sign_hostname(ctx: Context) -> Run:
    # "K" (U+212A) folds into "k": it must not pass for prod-dal10-carrier2-worker-01.
    row = "prod-dal10-carrier2-wor\u212aer-01,Virtual Server,dal10,,,,,2026-01-01,,\n"
    return Run(validate(ctx, export(ctx, row)), 1, "not an ASCII host name")


@case
def line_break_inside_the_hostname(ctx: Context) -> Run:
    row = '"prod-dal10-carrier2-worker-01\nx",Virtual Server,dal10,,,,,2026-01-01,,\n'
    return Run(validate(ctx, export(ctx, row)), 1, "not an ASCII host name")


@case
def terminal_escape_in_a_cell(ctx: Context) -> Run:
    row = "prod-\x1b[31mdal10,Virtual Server,dal10,,,,,2026-01-01,,\n"

    def no_raw_escape(outcome: object, _: Context) -> None:
        assert "\x1b" not in outcome.text  # type: ignore[attr-defined]

    return Run(validate(ctx, export(ctx, row)), 1, "\\x1b[31m", check=no_raw_escape)


@case
def tags_too_long_for_the_rules(ctx: Context) -> Run:
    row = f"prod-dal10-carrier2-worker-01,Virtual Server,dal10,,,,,2026-01-01,,{'t' * 5000}\n"
    return Run(validate(ctx, export(ctx, row)), 1, "longer than 1024 characters")


@case
def extreme_dates(ctx: Context) -> Run:
    rows = (
        "prod-dal10-carrier2-worker-01,Virtual Server,dal10,,,,,9999-12-31T23:59:59-12:00,,\n"
        "prod-dal10-carrier2-worker-02,Virtual Server,dal10,,,,,0001-01-01T00:00:00+14:00,,\n"
        "prod-dal10-carrier2-worker-03,Virtual Server,dal10,,,,,2026-01-01,99999-01-01,\n"
    )
    return Run(validate(ctx, export(ctx, rows)), 1, "3 invalid")


@case
def ten_thousand_fields(ctx: Context) -> Run:
    return Run(validate(ctx, export(ctx, ",".join(["x"] * 10_000) + "\n")), 1, "has 10000 fields")


@case
def a_million_empty_lines(ctx: Context) -> Run:
    return Run(update(ctx, export(ctx, "\n" * 1_000_000)), 3, "header but no machine")


@case
def hostname_of_300_characters(ctx: Context) -> Run:
    row = f"{'a' * 300},Virtual Server,dal10,,,,,2026-01-01,,\n"
    return Run(validate(ctx, export(ctx, row)), 1, "not an ASCII host name")


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_export(name: str, ctx: Context) -> None:
    run_case(ctx, CASES[name])

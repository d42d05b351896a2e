"""Hostile environments: credentials that cannot be sent, token files, CA bundles. Nothing is written."""

from __future__ import annotations

import pytest

from tests.hostile.cases import registry
from tests.hostile.conftest import run_case
from tests.hostile.harness import CANARY, Context, Run

CASES, case = registry()


def plan(ctx: Context, *extra: str) -> list[str]:
    return ctx.job("plan", *extra)


@case
def no_email(ctx: Context) -> Run:
    return Run(plan(ctx), 2, "SOS_API_EMAIL not set", env=ctx.env(SOS_API_EMAIL=None))


@case
def non_latin1_token(ctx: Context) -> Run:
    return Run(plan(ctx), 2, "cannot be sent in an HTTP header", env=ctx.env(SOS_API_TOKEN=CANARY + "\u20ac"))


@case
def token_with_a_line_break(ctx: Context) -> Run:
    env = ctx.env(SOS_API_TOKEN=CANARY + "\r\nX-Injected: 1")
    return Run(plan(ctx), 2, "cannot be sent in an HTTP header", env=env)


@case
def email_with_a_colon(ctx: Context) -> Run:
    return Run(plan(ctx), 2, "without ':'", env=ctx.env(SOS_API_EMAIL="a:b@example.com"))


@case
def token_file_works(ctx: Context) -> Run:
    token = ctx.write("secrets/token", CANARY + "\n")
    env = ctx.env(SOS_API_TOKEN=None, SOS_API_TOKEN_FILE=str(token))
    return Run(plan(ctx), 1, "change(s) planned", env=env)


@case
def token_file_missing(ctx: Context) -> Run:
    env = ctx.env(SOS_API_TOKEN=None, SOS_API_TOKEN_FILE=str(ctx.root / "nope"))
    return Run(plan(ctx), 2, "SOS_API_TOKEN_FILE", env=env)


@case
def token_file_and_token_both(ctx: Context) -> Run:
    token = ctx.write("token", CANARY)
    return Run(plan(ctx), 2, "keep one", env=ctx.env(SOS_API_TOKEN_FILE=str(token)))


@case
def token_file_is_a_huge_file(ctx: Context) -> Run:
    token = ctx.write("token", b"x" * 1_000_000)
    env = ctx.env(SOS_API_TOKEN=None, SOS_API_TOKEN_FILE=str(token))
    return Run(plan(ctx), 2, "larger than", env=env)


@case
def wrong_token_is_refused_and_not_shown(ctx: Context) -> Run:
    # The canary must not show even in the 401's story: the server is given another token.
    return Run(plan(ctx), 4, "cause: auth_failure", env=ctx.env(SOS_API_EMAIL="nobody@example.com"))


@case
def ca_bundle_missing(ctx: Context) -> Run:
    return Run(plan(ctx, "--ca-bundle", str(ctx.root / "missing.pem")), 2, "no such file")


@case
def ca_bundle_not_pem(ctx: Context) -> Run:
    bundle = ctx.write("bundle.pem", CANARY + "\n")
    return Run(plan(ctx, "--ca-bundle", str(bundle)), 2, "not a PEM file")


@case
def a_devices_path_that_is_a_device(ctx: Context) -> Run:
    return Run(plan(ctx, "--devices", "/dev/urandom", "--account", "531277"), 3, "not a regular file")


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_environment(name: str, ctx: Context) -> None:
    run_case(ctx, CASES[name])

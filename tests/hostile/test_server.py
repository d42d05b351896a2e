"""A hostile inventory on loopback: redirects, lies, floods, hostile text. The job stops, writes nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.hostile.cases import registry
from tests.hostile.conftest import run_case
from tests.hostile.harness import CANARY, Context, Outcome, Run
from tests.hostile.hostile_server import item, page

CASES, case = registry()
PAGE = 4  # the fleet config's page size


def answer(data: Any, status: int = 200) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(data, status=status)

    return handler


def pages(records: list[dict[str, str]], total: int | None = None) -> Any:
    """Query answers paged as the API does, with ``total`` as given (the truth by default)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        number, size = int(request.query["page"]), int(request.query["pageSize"])
        c_code = request.query["c_code"]
        mine = [{**r, "c_code": c_code} for r in records]
        chunk = mine[(number - 1) * size : number * size]
        return web.json_response(page(chunk, len(mine) if total is None else total, number, size))

    return handler


def plan(ctx: Context, *extra: str) -> list[str]:
    return ctx.job("plan", *extra, url=ctx.hostile.url)


def update(ctx: Context, *extra: str) -> list[str]:
    return ctx.job("update", *extra, url=ctx.hostile.url)


def impatient(ctx: Context) -> Path:
    """The fleet's config, with one attempt of 1 s per request."""
    data = yaml.safe_load(ctx.fleet.config.read_text(encoding="utf-8"))
    data["devices"] = str(ctx.fleet.root / "softlayer-data")
    data["inventory"].update(timeout=1, retry={"attempts": 1})
    return ctx.write("impatient.yaml", yaml.safe_dump(data))


def redirect(ctx: Context, status: int) -> Run:
    async def away(request: web.Request) -> web.StreamResponse:
        raise (
            web.HTTPTemporaryRedirect(ctx.other.url + request.path_qs)
            if status == 307
            else web.HTTPFound(ctx.other.url + request.path_qs + "&apikey=leaked")
        )

    ctx.hostile.behave(query=away, applications=away, environments=away)

    def location_masked(outcome: Outcome, _: Context) -> None:
        assert "apikey=leaked" not in outcome.text

    return Run(update(ctx), 4, f"HTTP {status} redirect to {ctx.other.url}", check=location_masked)


@case
def redirect_302(ctx: Context) -> Run:
    return redirect(ctx, 302)


@case
def redirect_307(ctx: Context) -> Run:
    return redirect(ctx, 307)


@case
def sso_login_page(ctx: Context) -> Run:
    async def login(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html><script>alert(1)</script>Sign in</html>", content_type="text/html")

    ctx.hostile.behave(query=login)
    return Run(update(ctx), 4, "not JSON (a login page?)")


@case
def wrong_shape(ctx: Context) -> Run:
    ctx.hostile.behave(query=answer({"records": []}))
    return Run(update(ctx), 4, "is not a query result")


@case
def total_says_zero(ctx: Context) -> Run:
    records = [item(f"prod-dal10-carrier2-worker-0{n}", f"Z{n}") for n in range(1, 4)]
    ctx.hostile.behave(query=pages(records, total=0))
    return Run(update(ctx), 4, "more than the 0 the inventory says it holds")


@case
def total_says_less_than_the_pages(ctx: Context) -> Run:
    records = [item(f"prod-dal10-carrier2-worker-0{n}", f"Z{n}") for n in range(1, 9)]
    ctx.hostile.behave(query=pages(records, total=5))
    return Run(update(ctx), 4, "inventory says it holds")


@case
def total_says_more_than_the_pages(ctx: Context) -> Run:
    records = [item(f"prod-dal10-carrier2-worker-0{n}", f"Z{n}") for n in range(1, 6)]
    ctx.hostile.behave(query=pages(records, total=9))
    return Run(update(ctx), 4, "page 2 holds 1 records and says the inventory holds 9")


@case
def total_of_ten_to_the_twelfth(ctx: Context) -> Run:
    records = [item(f"prod-dal10-carrier2-worker-0{n}", f"Z{n}") for n in range(1, 5)]
    ctx.hostile.behave(query=pages(records, total=10**12))
    return Run(update(ctx, "--query-strategy", "bulk"), 4, "holds 1000000000000 records", seconds=20)


@case
def a_plausible_total_that_lies(ctx: Context) -> Run:
    # Ten million records in pages of 4: 2.5 million pages. A short page 2 ends it within one window.
    records = [item(f"prod-dal10-carrier2-worker-0{n}", f"Z{n}") for n in range(1, 5)]
    ctx.hostile.behave(query=pages(records, total=9_999_999))

    def few_requests(outcome: Outcome, ctx: Context) -> None:
        assert len(ctx.hostile.requests) < 600, len(ctx.hostile.requests)

    args = update(ctx, "--query-strategy", "bulk")
    return Run(args, 4, "page 2 holds 0 records", check=few_requests, seconds=60)


@case
def duplicate_unids_across_pages(ctx: Context) -> Run:
    records = [item(f"prod-dal10-carrier2-worker-0{n}", f"Z{n % 4}") for n in range(1, 9)]
    ctx.hostile.behave(query=pages(records))
    return Run(update(ctx), 4, "record(s) twice (the same unid)")


@case
def a_body_of_200_megabytes(ctx: Context) -> Run:
    async def flood(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * (1 << 20)
        for _ in range(200):
            await response.write(chunk)
        await response.write_eof()
        return response

    ctx.hostile.behave(query=flood)
    return Run(update(ctx), 4, "above the limit of 64 MiB", seconds=30)


@case
def a_declared_length_of_a_terabyte(ctx: Context) -> Run:
    async def declared(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 10**12
        await response.prepare(request)
        await response.write(b"{")
        return response

    ctx.hostile.behave(query=declared)
    return Run(update(ctx), 4, "an answer of 1000000000000 bytes")


@case
def json_nested_a_hundred_thousand_deep(ctx: Context) -> Run:
    async def nested(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")

    ctx.hostile.behave(query=nested)
    return Run(update(ctx), 4, "not JSON")


@case
def hostile_error_message(ctx: Context) -> Run:
    message = "\x1b[2J\x00<script>alert(1)</script>\x07]]>&" + "x" * 1_000_000
    ctx.hostile.behave(query=answer({"error": {"code": "bad\x1b\n<b>", "message": message}}, status=400))

    def tamed(outcome: Outcome, ctx: Context) -> None:
        assert "\x1b" not in outcome.text and "\x00" not in outcome.text
        assert len(outcome.text) < 100_000
        assert "\\x1b[2J" in (ctx.reports / "summary.md").read_text(encoding="utf-8")

    return Run(update(ctx), 4, "HTTP 400 bad\\x1b\\x0a<b>", check=tamed)


@case
def error_message_echoing_the_credentials(ctx: Context) -> Run:
    async def echo(request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        token = header  # the Basic credentials, and the token decoded from them
        decoded = __import__("base64").b64decode(header.split()[-1]).decode().partition(":")[2]
        message = f"refused {token} (token {decoded}) at {request.url}?apikey={decoded}"
        return web.json_response({"error": {"code": "unauthorized", "message": message}}, status=401)

    ctx.hostile.behave(query=echo, applications=echo, environments=echo)

    def masked(outcome: Outcome, _: Context) -> None:
        assert "refused Basic ***" in outcome.text

    return Run(update(ctx), 4, "cause: auth_failure", check=masked)


@case
def kelvin_sign_record(ctx: Context) -> Run:
    # "K" (U+212A) folds into "k": the record must not pass for prod-dal10-carrier2-worker-01.
    ctx.hostile.behave(query=pages([item("prod-dal10-carrier2-wor\u212aer-01", "K1", status="Retired")]))
    return Run(
        update(ctx, "--force", "--reason", "the records are hostile: nothing may match"), 1, "0 change(s)"
    )


@case
def record_name_with_a_line_break(ctx: Context) -> Run:
    ctx.hostile.behave(query=pages([item("prod-dal10-carrier2-worker-01\n", "N1", status="Retired")]))
    return Run(
        update(ctx, "--force", "--reason", "the records are hostile: nothing may match"), 1, "0 change(s)"
    )


@case
def an_answer_a_byte_at_a_time(ctx: Context) -> Run:
    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for char in json.dumps(page([], 0)):
            await response.write(char.encode())
            await asyncio.sleep(0.5)
        return response

    ctx.hostile.behave(query=drip)
    args = ctx.job("update", url=ctx.hostile.url, config=impatient(ctx))
    return Run(args, 4, "no answer within 1s", seconds=15)


@case
def a_webhook_that_never_answers(ctx: Context) -> Run:
    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(60)
        return web.json_response({})

    ctx.hostile.behave(query=answer({"error": {"code": "x", "message": "no"}}, status=400), hook=hang)
    return Run(
        update(ctx, "--notify-url", ctx.hostile.url + "/hook"), 4, "did not answer within 5s", seconds=20
    )


@case
def a_webhook_that_redirects(ctx: Context) -> Run:
    async def away(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(ctx.other.url + "/hook")

    ctx.hostile.behave(query=answer({"error": {"code": "x", "message": "no"}}, status=400), hook=away)
    return Run(update(ctx, "--notify-url", ctx.hostile.url + "/hook"), 4, "webhook answered HTTP 307")


@case
def a_build_url_that_redirects(ctx: Context) -> Run:
    async def away(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(ctx.other.url + "/job/x/1/consoleText")

    ctx.hostile.behave(hook=away)
    env = ctx.env(JENKINS_USER="jenkins", JENKINS_TOKEN=CANARY)
    return Run(
        ["diagnose", ctx.hostile.url + "/hook"], 2, "not followed, so the Jenkins credentials stay", env=env
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_inventory(name: str, ctx: Context) -> None:
    run_case(ctx, CASES[name])

"""Every outbound path under one policy, and bounded memory and time: round 2 of the hostile corpus.

The webhook, the pushgateway and diagnose's Jenkins fetch send as the SOS client does: http(s)
only, TLS verified, no redirect followed, no credential in clear off loopback, one deadline for
all of a run's sends, and user:password of a URL masked wherever it is shown. The rate limiter
keeps the run's deadline. A failing update's oversized answer is read up to the cap and dropped.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from tests.hostile.cases import registry
from tests.hostile.conftest import run_case
from tests.hostile.harness import CANARY, Context, Outcome, Run

CASES, case = registry()
PASSWORD = "hunter2-PASSWORD-9d8c"


def error_400() -> web.Response:
    return web.json_response({"error": {"code": "x", "message": "no"}}, status=400)


async def failing(request: web.Request) -> web.StreamResponse:
    return error_400()


async def hang(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(60)
    return web.json_response({})


def nothing_reached(outcome: Outcome, ctx: Context) -> None:
    assert ctx.hostile.requests == [], ctx.hostile.requests


@case
def a_hanging_webhook_and_twenty_open_alerts(ctx: Context) -> Run:
    # Twenty open alerts, each resolved by a run that fails nothing: twenty messages to a webhook
    # that never answers. One deadline covers all of a run's sends, not five seconds each.
    state = ctx.root / "state"
    state.mkdir()
    opened = {"since": "2026-11-20T00:00:00Z", "last_sent": "2026-11-26T12:00:00Z"}
    (state / "alerts.json").write_text(json.dumps({f"sos_api_error/C{n:02d}": opened for n in range(20)}))
    ctx.hostile.behave(hook=hang)
    args = ctx.job("plan", "--state-dir", str(state), "--notify-url", ctx.hostile.url + "/hook")
    return Run(args, 1, "not sent: the run's sends had", seconds=25)


@case
def a_webhook_that_is_a_file_url(ctx: Context) -> Run:
    ctx.hostile.behave(query=failing)
    args = ctx.job("update", "--notify-url", "file:///etc/passwd", url=ctx.hostile.url)
    return Run(args, 4, "the alert webhook is not an http(s) URL (file:)")


@case
def a_webhook_in_clear_off_loopback(ctx: Context) -> Run:
    # 0.0.0.0 reaches this machine on Linux, but is no loopback name: the webhook URL is the
    # channel's credential, and it would travel in clear.
    ctx.hostile.behave(query=failing, hook=failing)
    hook = f"http://0.0.0.0:{ctx.hostile.port}/hook/T000/B000/{PASSWORD}"

    def only_the_inventory(outcome: Outcome, ctx: Context) -> None:
        assert not [path for _, path in ctx.hostile.requests if path.startswith("/hook")]
        assert PASSWORD not in outcome.text

    args = ctx.job("update", "--notify-url", hook, url=ctx.hostile.url)
    return Run(args, 4, "plain http off loopback", check=only_the_inventory)


@case
def a_pushgateway_that_redirects_elsewhere(ctx: Context) -> Run:
    async def away(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(ctx.other.url + request.path_qs)

    ctx.hostile.behave(hook=away)
    args = ctx.job("plan", "--pushgateway", ctx.hostile.url + "/hook")
    return Run(args, 1, "answered HTTP 302, a redirect to another origin: not followed")


@case
def a_pushgateway_url_with_a_password(ctx: Context) -> Run:
    ctx.hostile.behave(hook=failing)
    gateway = f"http://metrics:{PASSWORD}@127.0.0.1:{ctx.hostile.port}/hook"

    def masked(outcome: Outcome, _: Context) -> None:
        assert PASSWORD not in outcome.text

    args = ctx.job("plan", "--pushgateway", gateway)
    return Run(args, 1, "metrics: could not push to http://metrics:***@127.0.0.1", check=masked)


@case
def jenkins_token_in_clear_off_loopback(ctx: Context) -> Run:
    ctx.hostile.behave(hook=failing)
    env = ctx.env(JENKINS_USER="jenkins", JENKINS_TOKEN=CANARY)
    url = f"http://0.0.0.0:{ctx.hostile.port}/hook/job/x/1/"
    return Run(["diagnose", url], 2, "plain http off loopback", env=env, check=nothing_reached)


@case
def diagnose_url_with_a_password(ctx: Context) -> Run:
    ctx.hostile.behave(hook=failing)
    url = f"http://jenkins:{PASSWORD}@127.0.0.1:{ctx.hostile.port}/hook/job/x/1/"

    def masked(outcome: Outcome, _: Context) -> None:
        assert PASSWORD not in outcome.text

    return Run(["diagnose", url], 2, "http://jenkins:***@127.0.0.1", check=masked)


@case
def diagnose_redirect_on_the_same_origin(ctx: Context) -> Run:
    # No redirect is followed, not even on the same origin: one policy for every sink.
    async def moved(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/hook/moved"):
            return web.Response(text="Finished: SUCCESS\n")
        raise web.HTTPFound("/hook/moved/consoleText")

    ctx.hostile.behave(hook=moved)

    def one_request(outcome: Outcome, ctx: Context) -> None:
        assert len(ctx.hostile.requests) == 1, ctx.hostile.requests

    return Run(["diagnose", ctx.hostile.url + "/hook/job/x/1/"], 2, "a redirect to the same origin: not followed", check=one_request)


@case
def a_rate_limit_that_outlasts_the_deadline(ctx: Context) -> Run:
    # One request every 10 s: the deadline of 5 s passes while the limiter waits.
    args = ctx.job("plan", "--max-rps", "0.1", "--deadline", "5s")
    return Run(args, 4, "deadline", seconds=15)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_outbound(name: str, ctx: Context) -> None:
    run_case(ctx, CASES[name])

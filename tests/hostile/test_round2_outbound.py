"""Every outbound path under one policy, and bounded memory and time: round 2 of the hostile corpus.

The webhook, the pushgateway and diagnose's Jenkins fetch send as the SOS client does: http(s)
only, TLS verified, no redirect followed, no credential in clear off loopback, one deadline for
all of a run's sends, and user:password of a URL masked wherever it is shown. The rate limiter
keeps the run's deadline. A failing update's oversized answer is read up to the cap and dropped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from tests.builders import config_data, row, write_csv
from tests.e2e.conftest import NOW
from tests.hostile.cases import registry
from tests.hostile.conftest import run_case
from tests.hostile.harness import CANARY, CANARY_BASIC, EMAIL, Context, Outcome, Run, run_cli
from tests.hostile.hostile_server import HostileServer, item, page

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
    # The user:password of the URL is the gateway's Basic credentials: sent as such on loopback
    # (the old release looked the whole "metrics:PASSWORD@127.0.0.1" up as a host name), and
    # masked wherever the URL is shown.
    seen: list[str] = []

    async def gateway(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(status=200)

    ctx.hostile.behave(hook=gateway)
    url = f"http://metrics:{PASSWORD}@127.0.0.1:{ctx.hostile.port}/hook"

    def authorized(outcome: Outcome, _: Context) -> None:
        assert seen == ["Basic " + base64.b64encode(f"metrics:{PASSWORD}".encode()).decode()], seen
        assert PASSWORD not in outcome.text

    args = ctx.job("plan", "--pushgateway", url)
    return Run(args, 1, "metrics pushed to http://metrics:***@127.0.0.1", check=authorized)


@case
def a_pushgateway_password_in_clear_off_loopback(ctx: Context) -> Run:
    url = f"http://metrics:{PASSWORD}@0.0.0.0:{ctx.hostile.port}/hook"

    def masked(outcome: Outcome, ctx: Context) -> None:
        nothing_reached(outcome, ctx)
        assert PASSWORD not in outcome.text

    args = ctx.job("plan", "--pushgateway", url)
    return Run(args, 1, "user:password would travel in clear", check=masked)


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

    return Run(
        ["diagnose", ctx.hostile.url + "/hook/job/x/1/"],
        2,
        "a redirect to the same origin: not followed",
        check=one_request,
    )


@case
def a_rate_limit_that_outlasts_the_deadline(ctx: Context) -> Run:
    # One request every 10 s and a deadline of 5 s: the options contradict each other, so the run
    # stops at once, as a usage error (no rerun advice, no ticket for the SOS API team).
    args = ctx.job("plan", "--max-rps", "0.1", "--deadline", "5s")

    def says_what_to_change(outcome: Outcome, ctx: Context) -> None:
        assert "cause: input_error" in outcome.stderr and "raise --deadline" in outcome.stderr, outcome.stderr
        assert "sos_api_error" not in outcome.stderr and "Failed to update" not in outcome.stderr

    fragment = "leaves the next request no turn before the run's deadline"
    return Run(args, 2, fragment, seconds=15, check=says_what_to_change)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_outbound(name: str, ctx: Context) -> None:
    run_case(ctx, CASES[name])


# --- oversized answers to failing updates (these runs write: their own server and folder) -------

ANSWER_MB = 300
#: What one failing update may cost the server at most: the client's cap (2 MiB for an error,
#: 1 MiB for a record) and what the sockets' buffers took before the connection was dropped.
MAX_SENT_PER_UPDATE = 32 << 20
#: Peak RSS of the CLI child, whatever the number of failures (the old release kept ~66 MB each).
MAX_FLAT_RSS_MB = 150
MAX_GROWTH_MB = 40  # between 10 and 100 failures: the sockets in flight vary by about 15 MB


@dataclass
class Flood:
    """A hostile inventory whose every update is answered ``ANSWER_MB`` MB, streamed from one 1 MB
    block (neither the server nor the test holds the body), until the client hangs up."""

    server: HostileServer
    status: int = 400
    sent: int = 0  # bytes the server could write, over every update

    async def update(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=self.status, headers={"Content-Type": "application/json"})
        await response.prepare(request)
        block = b" " * (1 << 20)
        try:
            for _ in range(ANSWER_MB):
                await response.write(block)
                self.sent += len(block)
        except (ConnectionError, RuntimeError):  # the client read up to its cap and left
            return response
        await response.write_eof()
        return response


@pytest.fixture
def flood() -> Iterator[Flood]:
    with HostileServer() as server:
        yield Flood(server)


def failing_updates(root: Path, flood: Flood, count: int) -> Outcome:
    """``update`` of ``count`` machines whose records all need a change, every write answered big."""
    root.mkdir()
    names = [f"prod-dal10-carrier2-worker-{n:03d}" for n in range(count)]
    write_csv(root / "data" / "Acct531277" / "devices.csv", [row(n, provision="2026-01-01") for n in names])
    settings = config_data(
        devices="data",
        accounts={"531277": "ALC"},
        inventory={"url": "http://127.0.0.1:9", "page_size": 1000, "retry": {"attempts": 1}},
        safety={"max_changes": 1000, "max_change_ratio": 1.0},
    )
    (root / "config.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    records = [item(name, f"U{n:03d}") for n, name in enumerate(names)]

    async def query(request: web.Request) -> web.StreamResponse:
        number, size = int(request.query["page"]), int(request.query["pageSize"])
        chunk = records[(number - 1) * size : number * size]
        return web.json_response(page(chunk, len(records), number, size))

    flood.server.behave(query=query, update=flood.update)
    flood.sent = 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOS_", "SSL_CERT", "JENKINS_"))}
    env.update(SOS_API_EMAIL=EMAIL, SOS_API_TOKEN=CANARY)
    args = ["update", "--config", str(root / "config.yaml"), "--inventory-url", flood.server.url]
    args += ["--now", NOW, "--state-dir", str(root / "state"), "--report-dir", str(root / "reports")]
    outcome = run_cli(args, env, root, timeout=120)
    figures = os.environ.get("SOS_HOSTILE_FIGURES")  # as run_case does: exit, time, RSS, bytes sent
    if figures:
        with open(figures, "a", encoding="utf-8") as out:
            line = {"case": f"failing_updates_{flood.status}_x{count}", "exit": outcome.code}
            line |= {"seconds": round(outcome.seconds, 2), "max_rss_mb": round(outcome.max_rss_mb, 1)}
            out.write(
                json.dumps({**line, "sent_mib_per_update": round(flood.sent / count / 2**20, 1)}) + "\n"
            )
    assert "Traceback" not in outcome.text, outcome.text[-3000:]
    assert CANARY not in outcome.text and CANARY_BASIC not in outcome.text
    assert flood.server.writes() == count
    assert flood.sent <= count * MAX_SENT_PER_UPDATE, flood.sent  # cut at the cap, not read whole
    return outcome


@pytest.mark.parametrize(
    ("status", "fragment"),
    [
        (400, "HTTP 400 error: an error answer of more than 2048 KiB, not read further"),
        (200, "an answer above the limit of 1024 KiB (an update answers one record)"),
    ],
)
def test_oversized_answers_to_failing_updates_keep_memory_flat(
    tmp_path: Path, flood: Flood, status: int, fragment: str
) -> None:
    # Each update answered 300 MB, streamed: RSS must not grow with the number of failures.
    flood.status = status
    few = failing_updates(tmp_path / "ten", flood, 10)
    assert (few.code, fragment in few.text) == (1, True), few.text[-3000:]
    # Checked before the long run: a release that keeps each body would need gigabytes for it.
    assert few.max_rss_mb < MAX_FLAT_RSS_MB, few.max_rss_mb
    many = failing_updates(tmp_path / "hundred", flood, 100)
    assert (many.code, fragment in many.text) == (1, True), many.text[-3000:]
    assert many.max_rss_mb < MAX_FLAT_RSS_MB, many.max_rss_mb
    assert many.max_rss_mb - few.max_rss_mb < MAX_GROWTH_MB, (few.max_rss_mb, many.max_rss_mb)
    assert many.seconds < 60, many.seconds


def test_a_failed_update_keeps_no_body_in_its_error(flood: Flood) -> None:
    # What the RSS figures rest on: the error the client raises holds no traceback frame whose
    # locals hold an answer's bytes, and no chained exception (a JSONDecodeError keeps its document).
    from sos_inventory.config import Credentials
    from sos_inventory.errors import SosError
    from sos_inventory.inventory.sos.client import SosClient

    async def one(status: int) -> SosError:
        flood.status = status
        async with SosClient(flood.server.url, Credentials(EMAIL, CANARY)) as client:
            with pytest.raises(SosError) as caught:
                await client.update("ALC", "U1", {"status": "Live"}, hostname="h")
        return caught.value

    flood.server.behave(update=flood.update)
    for status in (400, 200):
        error = asyncio.run(one(status))
        assert error.__cause__ is None and error.__context__ is None
        tb = error.__traceback__
        while tb is not None:
            held = {name: _bytes_in(value) for name, value in tb.tb_frame.f_locals.items()}
            assert max(held.values(), default=0) < 1 << 16, (tb.tb_frame.f_code.co_name, held)
            tb = tb.tb_next


def _bytes_in(value: object) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, list):
        return sum(len(part) for part in value if isinstance(part, bytes | bytearray))
    return 0

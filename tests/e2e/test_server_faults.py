"""Fault injection in the real reference server, over real HTTP on loopback:
injected errors with Retry-After, dropped connections before and after the
write, scripted outages, run-time changes through /_ref/faults, seeded rates,
and the counts in /_ref/stats."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from sos_inventory.server import DEMO_EMAIL, DEMO_TOKEN
from tests.serverutil import Response, RunningServer, api_call, running_server, seed_db

pytestmark = pytest.mark.e2e

AUTHORIZATION = "Basic " + base64.b64encode(f"{DEMO_EMAIL}:{DEMO_TOKEN}".encode()).decode()
SEED = {
    "applications": {"ALC": ["containers-kubernetes", "container-registry"]},
    "environments": {"ALC": ["PROD-US-SOUTH", "STAGE"]},
    "servers": [
        {"c_code": "ALC", "unid": "U01", "hostname": "prod-dal10-infra-01", "status": "Build"},
        {"c_code": "ALC", "unid": "U02", "hostname": "prod-dal10-infra-02", "status": "Build"},
    ],
}
QUERY = "/inventory.nsf/tracker.xsp"
UPDATE = "/inventory.nsf/update.xsp"
DISCONNECTED = (http.client.RemoteDisconnected, ConnectionResetError)


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("faults")
    seed = work / "seed.json"
    seed.write_text(json.dumps(SEED), encoding="utf-8")
    db = work / "seeded.db"
    seed_db(db, seed)
    return db


@pytest.fixture
def db(seeded_db: Path, tmp_path: Path) -> Path:
    """A fresh copy of the seeded database, so writes stay in one test."""
    return Path(shutil.copy(seeded_db, tmp_path / "inventory.db"))


@pytest.fixture
def server(db: Path) -> Iterator[RunningServer]:
    """A server that starts with no faults (tests set them through /_ref/faults)."""
    with running_server(db) as running:
        yield running


def call(server: RunningServer, method: str, path: str, params: dict[str, Any], body: Any = None) -> Response:
    """One API request as the demo user; status, JSON body and headers. A dropped
    connection raises http.client.RemoteDisconnected."""
    data = None if body is None else json.dumps(body).encode()
    return api_call(f"{server.url}{path}?{urlencode(params)}", method, body=data, authorization=AUTHORIZATION)


def query(server: RunningServer) -> Response:
    return call(server, "GET", QUERY, {"c_code": "ALC", "form": "server", "page": 1, "pageSize": 10})


def update(server: RunningServer, unid: str, **fields: str) -> Response:
    return call(server, "POST", UPDATE, {"c_code": "ALC", "form": "server", "unid": unid}, fields)


def statuses(server: RunningServer) -> dict[str, str]:
    """unid -> status, read through an (unfaulted) query."""
    code, body, _ = query(server)
    assert code == 200, body
    return {item["unid"]: item["status"] for item in body["items"]}


def outcome(action: Callable[[], Response]) -> int | str:
    """The status of one request, or "dropped" when the connection closed without one."""
    try:
        return action()[0]
    except DISCONNECTED:
        return "dropped"


def test_injected_503_has_retry_after_and_the_api_error_body(db: Path) -> None:
    with running_server(db, extra_args=["--fail", "503=1", "--retry-after", "2"]) as server:
        status, body, headers = query(server)
        assert status == 503
        assert headers["Retry-After"] == "2"
        assert body == {"error": {"code": "unavailable", "message": body["error"]["message"]}}
        assert "injected" in body["error"]["message"]
        assert update(server, "U01", status="Live")[0] == 503
        # /_ref/* is never faulted, and the refused update wrote nothing.
        assert server.faults()["error_rates"] == {"503": 1.0}
        stats = server.stats()
        assert stats["faults"] == {"error-503": 2}
        assert stats["by_status"] == {"503": 2}
        assert stats["by_kind"]["query"] == stats["by_kind"]["update"] == 1
        server.set_faults()
        assert statuses(server) == {"U01": "Build", "U02": "Build"}
        assert "fault=error-503" in server.stderr_text()
        assert "injecting faults:" in server.stderr_text()


def test_retry_after_as_http_date_and_mixed(server: RunningServer) -> None:
    server.set_faults(error_rates={"429": 1}, retry_after="date:2")
    before = time.time()
    status, body, headers = query(server)
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    ahead = parsedate_to_datetime(headers["Retry-After"]).timestamp() - before
    assert 1 <= ahead <= 4, headers["Retry-After"]

    server.set_faults(error_rates={"503": 1}, retry_after="mix:2")
    forms = [query(server)[2]["Retry-After"] for _ in range(4)]
    assert forms[0] == forms[2] == "2"
    assert parsedate_to_datetime(forms[1]).timestamp() > before

    server.set_faults(error_rates={"500": 1}, retry_after="2")
    status, body, headers = query(server)
    assert (status, body["error"]["code"]) == (500, "internal_error")
    assert "Retry-After" not in headers


def test_drop_before_closes_the_connection_and_writes_nothing(db: Path) -> None:
    args = ["--drop-before", "1.0", "--fault-kinds", "update"]
    with running_server(db, extra_args=args) as server:
        with pytest.raises(http.client.RemoteDisconnected):
            update(server, "U01", status="Live")
        # Queries are not in --fault-kinds, and the server still serves after the drop.
        assert statuses(server) == {"U01": "Build", "U02": "Build"}
        stats = server.stats()
        assert stats["faults"] == {"drop-before": 1}
        assert stats["by_status"] == {"200": 1, "drop-before": 1}
        assert stats["by_kind"]["update"] == 1
        log = [line for line in server.stderr_text().splitlines() if UPDATE in line]
        assert len(log) == 1
        assert " drop-before " in log[0]
        assert log[0].endswith("fault=drop-before")


def test_drop_after_writes_then_loses_the_answer(db: Path) -> None:
    args = ["--drop-after", "1.0", "--fault-kinds", "update"]
    with running_server(db, extra_args=args) as server:
        with pytest.raises(http.client.RemoteDisconnected):
            update(server, "U01", status="Live")
        assert statuses(server) == {"U01": "Live", "U02": "Build"}
        assert server.stats()["faults"] == {"drop-after": 1}
        assert server.stats()["by_status"]["drop-after"] == 1
        assert " drop-after " in server.stderr_text()


def test_an_aiohttp_client_sees_a_server_disconnect(server: RunningServer) -> None:
    server.set_faults(drop_after=1.0, kinds=["update"])

    async def post() -> None:
        url = f"{server.url}{UPDATE}?c_code=ALC&form=server&unid=U02"
        async with (
            aiohttp.ClientSession(headers={"Authorization": AUTHORIZATION}) as session,
            session.post(url, json={"status": "Available"}) as response,
        ):
            await response.read()

    with pytest.raises(aiohttp.ServerDisconnectedError):
        asyncio.run(asyncio.wait_for(post(), 10))
    assert statuses(server)["U02"] == "Available"


def test_an_error_answer_is_dropped_too(server: RunningServer) -> None:
    server.set_faults(drop_after=1.0)
    assert outcome(lambda: update(server, "NOPE", status="Live")) == "dropped"
    assert server.stats()["faults"] == {"drop-after": 1}


def test_an_outage_set_at_run_time_starts_and_ends_on_time(server: RunningServer) -> None:
    sent = time.monotonic()
    server.set_faults(outage=[0.4, 1.2])
    answered = time.monotonic()
    # The server's clock restarted between `sent` and `answered`: the window is
    # [sent + 0.4, answered + 1.6) at the widest and [answered + 0.4, sent + 1.6) surely.
    # 1.2 s wide, so that queries slowed by a busy machine still land inside it.
    seen: list[tuple[float, float, int | str]] = []
    while time.monotonic() < answered + 2.5:
        start = time.monotonic()
        result = outcome(lambda: query(server))
        seen.append((start, time.monotonic(), result))
        time.sleep(0.03)  # a pace for the polling, not a wait for the server
    assert {result for *_, result in seen} == {200, 503}
    for start, end, result in seen:
        if end < sent + 0.4 or start >= answered + 1.6:
            assert result == 200, (start - sent, result)
        elif start >= answered + 0.4 and end < sent + 1.6:
            assert result == 503, (start - sent, result)
    assert server.stats()["faults"]["outage-503"] >= 1


def test_an_outage_from_start_up_in_drop_mode(db: Path) -> None:
    started = time.monotonic()
    with running_server(db, extra_args=["--outage", "0+1", "--outage-mode", "drop"]) as server:
        # The window opened when the server began listening, just now.
        assert outcome(lambda: query(server)) == "dropped"
        first_answer = None
        while first_answer is None and time.monotonic() < started + 8:
            if outcome(lambda: query(server)) == 200:
                first_answer = time.monotonic()
            else:
                time.sleep(0.05)
        assert first_answer is not None, "the outage never ended"
        assert first_answer >= started + 1
        faults = server.stats()["faults"]
        assert set(faults) == {"outage-drop"}
        assert faults["outage-drop"] >= 1
        assert server.stats()["by_status"]["drop-before"] == faults["outage-drop"]


def test_faults_change_at_run_time(server: RunningServer) -> None:
    assert server.faults()["error_rates"] == {}
    assert query(server)[0] == 200
    assert "faults" not in server.stats()  # none injected yet
    assert server.set_faults(error_rates={"502": 1}, kinds=["query"])["error_rates"] == {"502": 1.0}
    assert query(server)[0] == 502
    assert update(server, "U01", status="Live")[0] == 200
    assert server.faults()["kinds"] == ["query"]
    server.set_faults()
    assert query(server)[0] == 200
    assert server.stats()["faults"] == {"error-502": 1}


INVALID_FAULTS = [
    (b"{", "the body is not JSON"),
    (b'{"error_rates": {"503": 2}}', "invalid faults: the rate of 503 must be a number from 0 to 1"),
    (b'{"drop_before": 0.6, "drop_after": 0.6}', "invalid faults: the error and drop rates add up to 1.2"),
    (b'{"outage": "0+1"}', "invalid faults: outage must be"),
    (b'{"kinds": ["delete"]}', "invalid faults: unknown request kinds: delete"),
    (b'{"typo": 1}', "invalid faults: unknown keys typo"),
]


def test_invalid_faults_are_refused_with_400(server: RunningServer) -> None:
    server.set_faults(drop_after=0.5)
    for body, message in INVALID_FAULTS:
        request = urllib.request.Request(f"{server.url}/_ref/faults", data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        with caught.value as error:
            assert error.code == 400
            answer = json.load(error)
        assert answer["error"]["code"] == "bad_request"
        assert answer["error"]["message"].startswith(message), answer
    assert server.faults()["drop_after"] == 0.5  # unchanged


def seeded_run(db: Path) -> list[int | str]:
    with running_server(db, extra_args=["--fail", "503=0.1", "--fault-seed", "42"]) as server:
        results = [outcome(lambda: query(server)) for _ in range(300)]
        stats = server.stats()
    assert stats["requests"] == stats["by_kind"]["query"] == 300
    assert stats.get("faults", {}).get("error-503", 0) == results.count(503)
    return results


def test_a_seeded_rate_is_reproducible(db: Path) -> None:
    first, second = seeded_run(db), seeded_run(db)
    assert set(first) == {200, 503}
    assert 15 <= first.count(503) <= 45
    assert first == second

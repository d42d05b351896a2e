"""The reference SOS server over real HTTP: every route, every error, the stats
endpoints, and its command line (``server run|seed|dump``)."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.serverutil import Response, RunningServer, api_call, running_server, seed_db, server_command

pytestmark = pytest.mark.e2e

EDITOR = ("editor@example.com", "tok-editor-5f2a9c")
READER = ("reader@example.com", "tok-reader-81be07")
NO_ROLE = ("norole@example.com", "tok-norole-3c4d11")
STAR_READER = ("auditor@example.com", "tok-auditor-9e0f72")
TOKENS = [EDITOR[1], READER[1], NO_ROLE[1], STAR_READER[1]]
USERS_YAML = f"""\
users:
  - {{email: {EDITOR[0]}, token: {EDITOR[1]}, roles: {{ALC: editor}}}}
  - {{email: {READER[0]}, token: {READER[1]}, roles: {{ALC: reader}}}}
  - {{email: {NO_ROLE[0]}, token: {NO_ROLE[1]}, roles: {{ALC_FR2: editor}}}}
  - {{email: {STAR_READER[0]}, token: {STAR_READER[1]}, roles: {{"*": reader}}}}
"""
TWIN = "prod-dal10-carrier2-worker-1030"
SEED = {
    "applications": {"ALC": ["containers-kubernetes", "container-registry"], "ALC_FR2": ["satellite-link"]},
    "environments": {"ALC": ["PROD-US-SOUTH", "STAGE"], "ALC_FR2": ["PROD-EU-CENTRAL"]},
    "servers": [
        {"c_code": "ALC", "unid": f"U0{n}", "hostname": f"prod-dal10-infra-{n:02d}", "status": "Live"}
        for n in (3, 1, 5, 2, 4)
    ]
    + [
        {"c_code": "ALC", "unid": unid, "hostname": TWIN.upper(), "device_id": device, "status": "Build"}
        for unid, device in (("U06", "62603497"), ("U07", "62603498"))
    ]
    + [
        {"c_code": "ALC_FR2", "unid": f"F0{n}", "hostname": f"prodfr2-par04-w-{n}", "status": "Live"}
        for n in (1, 2)
    ],
}
ALC_UNIDS = [f"U0{n}" for n in range(1, 8)]


def call(
    server: RunningServer,
    method: str,
    endpoint: str,
    params: dict[str, Any] | None = None,
    *,
    user: tuple[str, str] | None = EDITOR,
    body: bytes | None = None,
    authorization: str | None = None,
) -> Response:
    """One request; returns status, decoded JSON body and headers."""
    url = f"{server.url}{endpoint}" + (f"?{urlencode(params)}" if params else "")
    if user is not None:
        authorization = "Basic " + base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
    return api_call(url, method, body=body, authorization=authorization)


def query(server: RunningServer, user: tuple[str, str] | None = EDITOR, **params: Any) -> Response:
    params = {"c_code": "ALC", "form": "server", "page": 1, "pageSize": 100, **params}
    return call(server, "GET", "/inventory.nsf/tracker.xsp", params, user=user)


def update(
    server: RunningServer, unid: str, body: Any, *, c_code: str = "ALC", user: tuple[str, str] = EDITOR
) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    params = {"c_code": c_code, "form": "server", "unid": unid}
    return call(server, "POST", "/inventory.nsf/update.xsp", params, user=user, body=raw)


def assert_error(response: Response, status: int, code: str) -> str:
    assert response[0] == status, response
    assert set(response[1]) == {"error"}
    assert response[1]["error"]["code"] == code
    message: str = response[1]["error"]["message"]
    assert message
    return message


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("server")
    users = work / "users.yaml"
    users.write_text(USERS_YAML, encoding="utf-8")
    seed = work / "seed.json"
    seed.write_text(json.dumps(SEED), encoding="utf-8")
    db = work / "inventory.db"
    assert "9 servers added" in seed_db(db, seed)
    return {"db": db, "users": users, "seed": seed}


@pytest.fixture(scope="module")
def server(files: dict[str, Path]) -> Iterator[RunningServer]:
    with running_server(files["db"], files["users"]) as running:
        yield running


def test_start_up_announces_the_address_and_the_users(server: RunningServer, files: dict[str, Path]) -> None:
    expected = (
        f"sos-inventory reference server listening on http://127.0.0.1:{server.port} (db: {files['db']})"
    )
    assert server.stdout_text().splitlines() == [expected]
    assert "4 users from" in server.stderr_text()


def test_query_pages_in_unid_order_with_totals(server: RunningServer) -> None:
    pages = [query(server, page=page, pageSize=3) for page in (1, 2, 3, 4)]
    assert all(status == 200 for status, _, _ in pages)
    assert [body["total"] for _, body, _ in pages] == [7, 7, 7, 7]
    assert [len(body["items"]) for _, body, _ in pages] == [3, 3, 1, 0]
    assert [item["unid"] for _, body, _ in pages for item in body["items"]] == ALC_UNIDS
    _, first, _ = pages[0]
    assert {k: first[k] for k in ("c_code", "page", "pageSize")} == {
        "c_code": "ALC",
        "page": 1,
        "pageSize": 3,
    }
    assert set(first["items"][0]) == {
        "unid",
        "c_code",
        "hostname",
        "fqdn",
        "ip_public",
        "ip_private",
        "device_id",
        "application",
        "environment",
        "status",
        "last_modified",
    }


def test_hostname_filter_is_exact_and_case_insensitive(server: RunningServer) -> None:
    _, body, _ = query(server, hostname=TWIN.upper())
    assert body["total"] == 2
    assert [(i["unid"], i["hostname"], i["device_id"]) for i in body["items"]] == [
        ("U06", TWIN, "62603497"),
        ("U07", TWIN, "62603498"),
    ]
    assert query(server, hostname=TWIN[:-1])[1]["total"] == 0


def test_applications_and_environments(server: RunningServer) -> None:
    apps = call(server, "GET", "/inventory.nsf/applications.xsp", {"c_code": "ALC"}, user=READER)
    envs = call(server, "GET", "/inventory.nsf/environments.xsp", {"c_code": "ALC_FR2"}, user=STAR_READER)
    assert apps[:2] == (200, {"items": [{"name": "container-registry"}, {"name": "containers-kubernetes"}]})
    assert envs[:2] == (200, {"items": [{"name": "PROD-EU-CENTRAL"}]})


@pytest.mark.parametrize(
    "params",
    [
        {"c_code": None},
        {"c_code": "A L C"},
        {"form": "person"},
        {"form": None},
        {"page": 0},
        {"page": "one"},
        {"page": None},
        {"pageSize": 0},
        {"pageSize": 1001},
        {"pageSize": "-5"},
        {"pageSize": "2.5"},
        {"hostname": ""},
    ],
)
def test_bad_query_parameters_are_400(server: RunningServer, params: dict[str, Any]) -> None:
    merged = {"c_code": "ALC", "form": "server", "page": 1, "pageSize": 10, **params}
    sent = {k: v for k, v in merged.items() if v is not None}
    assert_error(call(server, "GET", "/inventory.nsf/tracker.xsp", sent), 400, "bad_request")


def test_page_size_limits_are_inclusive(server: RunningServer) -> None:
    assert query(server, pageSize=1000)[0] == 200
    assert len(query(server, pageSize=1)[1]["items"]) == 1


@pytest.mark.parametrize(
    ("user", "authorization"),
    [
        (None, None),
        ((EDITOR[0], "wrong-token"), None),
        (("stranger@example.com", EDITOR[1]), None),
        (None, "Basic !!!not-base64"),
        (None, "Bearer " + EDITOR[1]),
    ],
)
def test_missing_or_bad_credentials_are_401_with_a_challenge(
    server: RunningServer, user: tuple[str, str] | None, authorization: str | None
) -> None:
    params = {"c_code": "ALC", "form": "server", "page": 1, "pageSize": 10}
    response = call(
        server, "GET", "/inventory.nsf/tracker.xsp", params, user=user, authorization=authorization
    )
    assert_error(response, 401, "unauthorized")
    assert response[2]["WWW-Authenticate"] == 'Basic realm="SOS"'
    assert_error(update(server, "U01", {"status": "Live"}, user=(EDITOR[0], "nope")), 401, "unauthorized")


def test_roles_are_enforced_per_c_code(server: RunningServer) -> None:
    assert query(server, user=READER)[0] == 200
    message = assert_error(update(server, "U01", {"status": "Live"}, user=READER), 403, "forbidden")
    assert "Editor" in message
    assert "ALC" in message
    assert_error(query(server, user=NO_ROLE), 403, "forbidden")
    assert_error(query(server, user=EDITOR, c_code="ALC_FR2"), 403, "forbidden")
    assert query(server, user=STAR_READER, c_code="ALC_FR2")[1]["total"] == 2
    assert_error(
        update(server, "F01", {"status": "Live"}, c_code="ALC_FR2", user=STAR_READER), 403, "forbidden"
    )


def test_unknown_paths_and_records_are_404(server: RunningServer) -> None:
    assert_error(call(server, "GET", "/inventory.nsf/nothing.xsp"), 404, "not_found")
    assert_error(call(server, "GET", "/"), 404, "not_found")
    assert_error(update(server, "NOPE", {"status": "Live"}), 404, "not_found")
    # A unid of another C_Code is not found in this one.
    assert_error(update(server, "F01", {"status": "Live"}), 404, "not_found")
    assert_error(call(server, "GET", "/inventory.nsf/update.xsp"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "body",
    [
        {"status": "Retired"},
        {"status": "live"},
        {"application": "satellite-link"},
        {"environment": "PROD-EU-CENTRAL"},
    ],
)
def test_invalid_values_are_422(server: RunningServer, body: dict[str, str]) -> None:
    assert_error(update(server, "U05", body), 422, "invalid_value")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"[]",
        b'"Live"',
        {},
        {"hostname": "x"},
        {"status": "Live", "owner": "me"},
        {"status": 1},
    ],
)
def test_malformed_update_bodies_are_400(server: RunningServer, body: Any) -> None:
    assert_error(update(server, "U05", body), 400, "bad_request")


def test_update_params_are_checked(server: RunningServer) -> None:
    params = {"c_code": "ALC", "form": "person", "unid": "U05"}
    body = b'{"status": "Live"}'
    assert_error(call(server, "POST", "/inventory.nsf/update.xsp", params, body=body), 400, "bad_request")
    del params["unid"]
    params["form"] = "server"
    assert_error(call(server, "POST", "/inventory.nsf/update.xsp", params, body=body), 400, "bad_request")


def test_update_returns_the_record_and_is_repeatable(server: RunningServer) -> None:
    change = {"application": "container-registry", "environment": "STAGE", "status": "Available"}
    status, record, _ = update(server, "U02", change)
    assert status == 200
    assert {k: record[k] for k in change} == change
    assert (record["unid"], record["hostname"]) == ("U02", "prod-dal10-infra-02")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["last_modified"])
    assert query(server, hostname="prod-dal10-infra-02")[1]["items"] == [record]
    again = update(server, "U02", change)
    assert again[0] == 200
    assert {k: again[1][k] for k in change} == change


def test_stats_count_requests_by_kind_c_code_and_status(server: RunningServer) -> None:
    server.reset_stats()
    assert server.stats() == {
        "requests": 0,
        "by_kind": {"query": 0, "query_hostname": 0, "applications": 0, "environments": 0, "update": 0},
        "by_c_code": {},
        "by_status": {},
    }
    query(server)
    query(server, page=2)
    query(server, hostname=TWIN)
    query(server, user=STAR_READER, c_code="ALC_FR2")
    call(server, "GET", "/inventory.nsf/applications.xsp", {"c_code": "ALC"})
    call(server, "GET", "/inventory.nsf/environments.xsp", {"c_code": "ALC"}, user=None)
    update(server, "U03", {"status": "Live"})
    update(server, "U03", {"status": "Gone"})
    call(server, "GET", "/nowhere")
    assert server.stats() == {
        "requests": 9,
        "by_kind": {"query": 3, "query_hostname": 1, "applications": 1, "environments": 1, "update": 2},
        "by_c_code": {"ALC": 7, "ALC_FR2": 1},
        "by_status": {"200": 6, "401": 1, "404": 1, "422": 1},
    }


def test_access_log_has_one_line_per_request_and_no_secret(server: RunningServer) -> None:
    call(server, "GET", "/inventory.nsf/applications.xsp", {"c_code": "ALC", "token": "leaked-in-query"})
    log = server.stderr_text()
    assert re.search(r"GET /inventory\.nsf/applications\.xsp\?c_code=ALC&token=\*\*\* 200 \d+\.\dms", log), (
        log
    )
    assert "leaked-in-query" not in log
    for token in TOKENS:
        assert token not in log
    assert "Authorization" not in log
    assert "Basic " not in log


def test_cli_dump_prints_sorted_json(files: dict[str, Path], server: RunningServer) -> None:
    done = subprocess.run(
        server_command("dump", "--db", str(files["db"]), "--c-code", "ALC"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    dump = json.loads(done.stdout)
    assert [s["unid"] for s in dump["servers"]] == ALC_UNIDS
    assert dump["applications"] == {"ALC": ["container-registry", "containers-kubernetes"]}
    assert done.stdout.startswith('{\n  "servers"')


def test_sigterm_stops_cleanly_and_the_demo_user_works(tmp_path: Path) -> None:
    with running_server(tmp_path / "empty.db") as demo:
        status, body, _ = query(demo, user=("demo@sos.example", "demo-token"), c_code="ANY_CODE")
        assert (status, body["total"]) == (200, 0)
        assert update(demo, "X1", {"status": "Live"}, user=("demo@sos.example", "demo-token"))[0] == 404
        demo.process.terminate()
        assert demo.process.wait(timeout=10) == 0
        stderr = demo.stderr_text()
    assert "demo user demo@sos.example" in stderr
    assert "demo-token" not in stderr


def test_users_can_come_from_the_environment(tmp_path: Path) -> None:
    env = {**os.environ, "SOS_SERVER_USERS": USERS_YAML}
    with running_server(tmp_path / "inventory.db", env=env) as srv:
        assert query(srv, user=READER)[0] == 200
        assert_error(query(srv, user=("demo@sos.example", "demo-token")), 401, "unauthorized")


def test_latency_is_injected(tmp_path: Path) -> None:
    # A latency long enough that a stats call on a busy machine stays well below it.
    with running_server(tmp_path / "inventory.db", extra_args=["--latency-ms", "1000"]) as slow:
        started = time.monotonic()
        assert query(slow, user=("demo@sos.example", "demo-token"))[0] == 200
        assert time.monotonic() - started >= 1.0
        started = time.monotonic()  # an error answer travels the whole round trip too
        assert query(slow, user=("demo@sos.example", "not-the-token"))[0] == 401
        assert time.monotonic() - started >= 1.0
        started = time.monotonic()
        slow.stats()  # /_ref/ is not an API request: no latency
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("users_yaml", "expected"),
    [
        (
            "users:\n  - {email: a@example.com, token: sekrit-value-1, roles: {ALC: admin}}\n",
            "'admin' is not editor",
        ),
        ("users:\n  - {email: a@example.com, token: sekrit-value-1, roles: {ALC: editor\n", "not valid YAML"),
        ("users: []\n", "at least one user"),
        (
            "users:\n  - {email: a@example.com, token: sekrit-value-1, role: {ALC: editor}}\n",
            "unknown key 'role'",
        ),
    ],
)
def test_a_bad_users_file_exits_2_without_echoing_tokens(
    tmp_path: Path, users_yaml: str, expected: str
) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(users_yaml, encoding="utf-8")
    done = subprocess.run(
        server_command("run", "--db", str(tmp_path / "x.db"), "--port", "0", "--users", str(users)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert "sekrit-value-1" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not JSON: line 1"),
        ('{"servers": [{"c_code": "ALC", "hostname": "a", "status": "Up"}]}', "servers[0].status"),
    ],
)
def test_a_bad_seed_file_exits_2_and_writes_nothing(tmp_path: Path, content: str, expected: str) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(content, encoding="utf-8")
    db = tmp_path / "x.db"
    done = subprocess.run(
        server_command("seed", "--db", str(db), str(seed)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    dumped = subprocess.run(
        server_command("dump", "--db", str(db)), capture_output=True, text=True, timeout=30, check=False
    )
    assert json.loads(dumped.stdout or '{"servers": []}')["servers"] == []


def test_a_taken_port_exits_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            server_command("run", "--db", str(tmp_path / "x.db"), "--port", str(port)),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["run", "seed", "dump"])
def test_help_teaches_with_an_example(command: str) -> None:
    done = subprocess.run(
        server_command(command, "--help"), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0
    assert f"sos-inventory server {command} --db" in done.stdout

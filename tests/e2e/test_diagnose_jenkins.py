"""diagnose over many logs: a folder, and --builds N of a Jenkins job (a local imitation of Jenkins' API).

The imitation serves ``<job>/api/json`` and ``<build>/consoleText`` on 127.0.0.1, as
Jenkins does; it also redirects to another origin and drips an answer, to show
that the credentials stay home and that --timeout bounds the command.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.httputil import LocalServer, send_text

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
CLI = [sys.executable, "-m", "sos_inventory"]
SUCCESS = "+ sos-inventory update\n16 device rows, 0 change(s)\nFinished: SUCCESS\n"
DNS = (LOGS / "old_dns.log").read_text(encoding="utf-8")  # resolver 9.0.128.50
API = (LOGS / "old_update_503.log").read_text(encoding="utf-8")
# Oldest first: DNS once in the earlier half, four times in the later half; the 503 only early.
HISTORY = [DNS, API, SUCCESS, SUCCESS, SUCCESS, DNS, SUCCESS, DNS, DNS, DNS]
DAY_MS = 86_400_000
START_MS = 1_764_000_000_000


class FakeJenkins(LocalServer):
    """Jenkins' JSON API and console texts for one job, plus a redirect and a slow answer."""

    def __init__(self, consoles: list[str], redirect_to: str | None = None) -> None:
        self.consoles = consoles  # build 1 is consoles[0]
        self.redirect_to = redirect_to
        self.requests: list[tuple[str, str | None]] = []
        jenkins = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jenkins.requests.append((self.path, self.headers.get("Authorization")))
                path = self.path.split("?")[0]
                if path == "/job/sos/api/json":
                    count = int(self.path.rsplit("{0,", 1)[1].rstrip("}"))
                    numbers = list(range(len(jenkins.consoles), 0, -1))[:count]
                    builds = [
                        {"number": n, "timestamp": START_MS + n * DAY_MS, "result": "X"} for n in numbers
                    ]
                    send_text(self, json.dumps({"_class": "hudson.model.FreeStyleProject", "builds": builds}))
                elif path.startswith("/job/sos/") and path.endswith("/consoleText"):
                    send_text(self, jenkins.consoles[int(path.split("/")[3]) - 1])
                elif path == "/job/moved/1/consoleText" and jenkins.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", f"{jenkins.redirect_to}/job/sos/1/consoleText")
                    self.end_headers()
                elif path == "/job/slow/1/consoleText":
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(600):  # one line every 0.1 s: a minute if nobody stops it
                            self.wfile.write(b"still working\n")
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        pass
                else:
                    self.send_response(404)
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)


@pytest.fixture
def jenkins() -> Iterator[FakeJenkins]:
    with FakeJenkins(HISTORY) as server:
        yield server


def diagnose(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JENKINS_", "SOS_"))}
    return subprocess.run(
        [*CLI, "diagnose", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**base, **(env or {})},
    )


def test_builds_of_a_job_make_a_table_of_causes_over_time(jenkins: FakeJenkins) -> None:
    env = {"JENKINS_USER": "sre", "JENKINS_TOKEN": "jenkins-t0ken-abcdef"}
    result = diagnose("--builds", "10", f"{jenkins.url}/job/sos/", env=env)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("10 run(s), ") and lines[0].endswith(": 6 failed")
    dns = next(line for line in lines if "dns_lookup_failure" in line)
    assert "resolver 9.0.128.50" in dns and " 5 " in dns and "worse (1 -> 4)" in dns
    api = next(line for line in lines if "sos_api_error" in line)
    assert "better (1 -> 0)" in api
    assert "jenkins-t0ken-abcdef" not in result.stdout + result.stderr
    expected = "Basic " + base64.b64encode(b"sre:jenkins-t0ken-abcdef").decode()
    assert {auth for _, auth in jenkins.requests} == {expected}
    assert len([p for p, _ in jenkins.requests if p.endswith("/consoleText")]) == 10


def test_builds_as_json(jenkins: FakeJenkins) -> None:
    result = diagnose("--builds", "4", f"{jenkins.url}/job/sos", "--json")
    assert result.returncode == 1, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    assert [run["primary"] for run in data["runs"]] == [None] + ["dns_lookup_failure"] * 3  # builds 7..10
    assert data["failed"] == 3
    (cause,) = data["causes"]
    assert cause["category"] == "dns_lookup_failure" and cause["subject"] == "resolver 9.0.128.50"
    assert (cause["count"], cause["earlier_half"], cause["later_half"], cause["trend"]) == (3, 1, 2, "worse")
    assert cause["first_seen"] < cause["last_seen"]


def test_a_folder_of_logs(tmp_path: Path) -> None:
    for number, text in enumerate(HISTORY, start=1):
        (tmp_path / f"build-{number:02d}.log").write_text(text, encoding="utf-8")
    result = diagnose(str(tmp_path), "--json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert len(data["runs"]) == 10 and data["failed"] == 6
    assert {c["category"]: c["count"] for c in data["causes"]} == {
        "dns_lookup_failure": 5,
        "sos_api_error": 1,
    }


def test_a_redirect_to_another_origin_is_refused_without_sending_the_credentials() -> None:
    with FakeJenkins(HISTORY) as elsewhere, FakeJenkins([], redirect_to=elsewhere.url) as jenkins:
        env = {"JENKINS_USER": "sre", "JENKINS_TOKEN": "jenkins-t0ken-abcdef"}
        result = diagnose(f"{jenkins.url}/job/moved/1/", env=env)
        assert result.returncode == 2
        assert "another origin" in result.stderr
        assert elsewhere.requests == []  # not even asked, with or without the credentials


def test_the_timeout_bounds_a_server_that_never_finishes(jenkins: FakeJenkins) -> None:
    started = time.monotonic()
    result = diagnose(f"{jenkins.url}/job/slow/1/", "--timeout", "2", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert "no complete answer within 2s" in result.stderr
    assert elapsed < 30  # the drip alone would last a minute

"""diagnose through the real CLI (file, stdin, build URL) and alerts to a local webhook."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Fleet
from tests.httputil import LocalServer, send_text

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
CLI = [sys.executable, "-m", "sos_inventory"]


class Receiver(LocalServer):
    """A local HTTP server that records POSTs (a webhook) and serves a console log."""

    def __init__(self, status: int = 200, console: str = "", auth: str | None = None) -> None:
        self.status = status
        self.console = console
        self.auth = auth
        self.posts: list[dict[str, Any]] = []
        self.gets: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append(
                    {"path": self.path, "type": self.headers.get("Content-Type"), "body": body}
                )
                self.send_response(receiver.status)
                self.end_headers()

            def do_GET(self) -> None:
                receiver.gets.append(self.path)
                if receiver.auth and self.headers.get("Authorization") != receiver.auth:
                    self.send_response(401)
                    self.end_headers()
                    return
                send_text(self, receiver.console)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def diagnose(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "diagnose", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_diagnose_a_file_in_text_and_json() -> None:
    text = diagnose(str(LOGS / "old_dns.log"))
    assert text.returncode == 1
    assert "primary: dns_lookup_failure (line 11, 2026-11-27T09:14:33.911Z): rerun advised" in text.stdout
    assert "resolver_ip=9.0.128.50" in text.stdout
    assert "Assignment Group: SOS API" in text.stdout
    data = json.loads(diagnose(str(LOGS / "old_dns.log"), "--json").stdout)
    assert data["primary"] == "dns_lookup_failure"
    assert data["findings"][0]["facts"]["resolver_ip"] == "9.0.128.50"


def test_diagnose_stdin_of_a_successful_build_exits_0() -> None:
    result = diagnose("-", "--json", stdin=(LOGS / "success_with_error_words.log").read_text())
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert (data["primary"], data["result"], data["findings"], data["verdict"]) == (
        None,
        "SUCCESS",
        [],
        False,
    )


def test_diagnose_usage_errors_exit_2(tmp_path: Path) -> None:
    assert diagnose(str(tmp_path / "missing.log")).returncode == 2
    bad = tmp_path / "rules.yaml"
    bad.write_text("patterns: [{id: x, category: nope, regex: y}]\n")
    result = diagnose(str(LOGS / "old_dns.log"), "--rules", str(bad))
    assert result.returncode == 2
    assert "unknown category 'nope'" in result.stderr


def test_diagnose_a_build_url_with_jenkins_credentials() -> None:
    secret = "jenkins-api-token-5ecr3t"
    expected = "Basic " + base64.b64encode(f"sre:{secret}".encode()).decode()
    with Receiver(console=(LOGS / "old_401.log").read_text(), auth=expected) as jenkins:
        env = {**_env(), "JENKINS_USER": "sre", "JENKINS_TOKEN": secret}
        result = diagnose(f"{jenkins.url}/job/sos-inventory-update/288/", "--json", env=env)
        assert jenkins.gets == ["/job/sos-inventory-update/288/consoleText"]
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["primary"] == "auth_failure"
    assert secret not in result.stdout + result.stderr
    with Receiver(console="x", auth="Basic nope") as jenkins:
        refused = diagnose(f"{jenkins.url}/job/x/1/", env=_env())
    assert refused.returncode == 2
    assert "HTTP 401" in refused.stderr


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("JENKINS_", "SOS_"))}


def test_a_failing_update_diagnoses_itself_and_alerts_once(fleet: Fleet, receiver: Receiver) -> None:
    env = {
        **fleet.env(token="wrong-token-abc"),
        "BUILD_URL": "https://jenkins.example.com/job/sos-inventory-update/288/",
    }
    result = fleet.cli(
        "update",
        "--notify-url",
        f"{receiver.url}/hooks/T0/B0/xyz",
        "--report-dir",
        str(fleet.root / "r"),
        env=env,
    )
    assert result.returncode == 4
    assert "error: SOS inventory returned an error when querying" in result.stderr
    assert "cause: auth_failure" in result.stderr
    assert "action: Renew the access token" in result.stderr  # the 401's own action, not the 403's
    problem = json.loads((fleet.root / "r" / "report.json").read_text())["problems"][0]
    assert problem["category"] == "auth_failure"
    assert problem["transient"] is False
    assert problem["actions"] and problem["action"]
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["path"] == "/hooks/T0/B0/xyz" and post["type"] == "application/json"
    text = json.loads(post["body"])["text"]
    assert text.startswith(
        "Error during updating the SOS Inventory metadata used to track security compliance."
    )
    assert "https://jenkins.example.com/job/sos-inventory-update/288/" in text
    assert "`auth_failure`" in text and "*Action:*" in text
    assert "wrong-token-abc" not in text + result.stdout + result.stderr
    assert "hooks/T0/B0/xyz" not in result.stdout + result.stderr  # the webhook URL is a secret too


def test_a_failing_webhook_never_changes_the_exit_code(fleet: Fleet) -> None:
    with Receiver(status=500) as broken:
        result = fleet.cli("update", "--notify-url", broken.url, env=fleet.env(token="wrong"))
        assert len(broken.posts) == 1
    assert result.returncode == 4
    assert "the alert webhook answered HTTP 500" in result.stderr
    unreachable = fleet.cli("update", "--notify-url", "http://127.0.0.1:9/hook", env=fleet.env(token="wrong"))
    assert unreachable.returncode == 4


def test_no_alert_for_a_run_that_only_found_ambiguous_or_invalid_rows(
    fleet: Fleet, receiver: Receiver
) -> None:
    result = fleet.cli("update", "--notify-url", receiver.url)
    assert result.returncode == 1  # the crafted fleet has one ambiguous machine and one bad row
    assert receiver.posts == []

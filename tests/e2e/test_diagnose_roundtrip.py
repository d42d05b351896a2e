"""The round trip: the real job fails for each reason it can end with, and diagnose reads its log back.

Each test runs ``sos-inventory update`` against the real reference server (or a
closed port, an unresolvable name, a bad token...), with stdout and stderr
merged as Jenkins shows them, then feeds that log to the real ``diagnose``
command. The primary finding must be the job's own ``cause:``, whatever other
problem lines the log holds.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.builders import PLANTED_DEFECT
from tests.e2e.conftest import EMAIL, NOW, TOKEN, write_fleet, write_seed, write_users
from tests.serverutil import RunningServer, running_server, seed_db

CLI = [sys.executable, "-m", "sos_inventory"]
# Retries on, but short: the transient categories are still retried before they are reported.
FAST_RETRY = {"attempts": 2, "base_delay": 0.01, "max_delay": 0.02, "max_retry_after": 0.05}


@dataclass
class Job:
    root: Path
    config: Path
    server: RunningServer

    def env(self, token: str = TOKEN) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOS_", "JENKINS_"))}
        return {**env, "SOS_API_EMAIL": EMAIL, "SOS_API_TOKEN": token}

    def command(self, *args: str, url: str | None = None, config: Path | None = None) -> list[str]:
        # The job's own state folder: never the one of the folder the tests run in.
        command = [
            "update",
            "--config",
            str(config or self.config),
            "--now",
            NOW,
            "--state-dir",
            str(self.root / "state"),
        ]
        return [*CLI, *command, "--inventory-url", url or self.server.url, *args]

    def run(
        self,
        *args: str,
        url: str | None = None,
        token: str = TOKEN,
        config: Path | None = None,
        command: list[str] | None = None,
    ) -> Path:
        """Run the job as Jenkins does (2>&1) and keep its console log; return the log's path."""
        result = subprocess.run(
            command or self.command(*args, url=url, config=config),
            env=self.env(token),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        return self.console(result.stdout, result.returncode)

    def console(self, output: str, code: int) -> Path:
        """The console log Jenkins keeps of a run that printed ``output`` and exited with ``code``."""
        log = self.root / "consoleText.log"
        log.write_text(
            f"+ sos-inventory update\n{output}ERROR: script returned exit code {code}\nFinished: FAILURE\n",
            encoding="utf-8",
        )
        return log


def _job(root: Path, server_args: Sequence[str] = ()) -> Iterator[Job]:
    config = write_fleet(root, inventory={"url": "http://127.0.0.1:9", "page_size": 4, "retry": FAST_RETRY})
    db = root / "inventory.db"
    seed_db(db, write_seed(root / "seed.json"))
    with running_server(db, write_users(root / "users.yaml"), server_args) as server:
        yield Job(root, config, server)


@pytest.fixture
def job(tmp_path: Path) -> Iterator[Job]:
    yield from _job(tmp_path)


@pytest.fixture
def slow_job(tmp_path: Path) -> Iterator[Job]:
    yield from _job(tmp_path, ["--latency-ms", "300"])


def diagnose(log: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = subprocess.run(
        [*CLI, "diagnose", str(log), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 1, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def assert_round_trip(log: Path, expected: str) -> dict[str, Any]:
    """The job said ``cause: expected``, and diagnose's primary finding says the same."""
    text = log.read_text(encoding="utf-8")
    causes = re.findall(r"^cause: (\w+)$", text, re.MULTILINE)
    assert causes and causes[-1] == expected, text
    data = diagnose(log)
    assert data["primary"] == expected, (data, text)
    assert data["verdict"] is True
    primary = data["findings"][0]
    lines = text.splitlines()
    verdict = max(i for i, line in enumerate(lines) if line.startswith("cause: "))
    head = next(line for line in reversed(lines[:verdict]) if line.startswith(("error: ", "interrupted (")))
    assert primary["evidence"].startswith(head.removeprefix("error: ")[:100])
    assert all(action.endswith((".", ")")) for action in primary["actions"])
    return data


def test_dns_failure_of_an_unresolvable_name(job: Job) -> None:
    # https: a plain http:// URL to another host is refused before any lookup (docs/security.md).
    data = assert_round_trip(job.run(url="https://sos-inventory.invalid:8742"), "dns_lookup_failure")
    assert data["findings"][0]["facts"]["host"] == "sos-inventory.invalid"


def test_network_failure_on_a_closed_port(job: Job) -> None:
    data = assert_round_trip(job.run(url="http://127.0.0.1:9"), "network_timeout")
    facts = data["findings"][0]["facts"]
    assert facts["remote_ip"] == "127.0.0.1" and facts["port"] == "9"
    assert "SOS API: 127.0.0.1:9" in data["findings"][0]["ticket"]


def test_sos_api_error_of_a_failing_server(job: Job) -> None:
    job.server.set_faults(error_rates={"500": 1})
    data = assert_round_trip(job.run(), "sos_api_error")
    primary = data["findings"][0]
    assert primary["facts"]["status"] == "500"
    assert "HTTP status: 500" in primary["ticket"]
    assert "C_Code: ALC" in primary["ticket"]
    assert f"Request: GET {job.server.url}/inventory.nsf/" in primary["ticket"]
    assert re.search(r"at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", primary["ticket"])  # the time of the error


def test_auth_failure_of_a_bad_token(job: Job) -> None:
    data = assert_round_trip(job.run(token="not-the-token-1234"), "auth_failure")
    assert data["findings"][0]["facts"]["status"] == "401"


def test_the_job_s_json_log_lines_are_read_back_too(job: Job) -> None:
    log = job.run("--log-format", "json", token="not-the-token-1234")
    assert '"event": "cause: auth_failure"' in log.read_text()
    data = diagnose(log)
    assert (data["primary"], data["verdict"]) == ("auth_failure", True)
    primary = data["findings"][0]
    assert primary["evidence"].startswith(
        "SOS inventory returned an error when querying (C_Code ALC): HTTP 401"
    )
    assert primary["facts"]["time"].startswith("20")  # the JSON line's own time


def test_rate_limited_by_the_server(job: Job) -> None:
    job.server.set_faults(error_rates={"429": 1}, retry_after="0")
    assert_round_trip(job.run(), "rate_limited")


def test_safety_guard_wins_over_the_duplicate_hostname_listed_before_it(job: Job) -> None:
    log = job.run("--max-changes", "1")
    assert "[duplicate_hostname]" in log.read_text()  # the problem list comes before the verdict
    data = assert_round_trip(log, "safety_guard")
    secondary = {f["category"] for f in data["findings"][1:]}
    assert {"duplicate_hostname", "input_error"} <= secondary


def test_duplicate_hostname_of_a_run_that_finished_with_problems(job: Job) -> None:
    data = assert_round_trip(job.run(), "duplicate_hostname")
    assert data["findings"][0]["facts"]["hostname"] == "prod-dal10-carrier2-worker-10"


def test_input_error_of_an_unreadable_export(job: Job) -> None:
    (job.root / "softlayer-data" / "Acct531277" / "devices.csv").write_bytes(b"\xff\xfe not a csv \x00\n")
    assert_round_trip(job.run(), "input_error")


def test_config_error(job: Job) -> None:
    bad = job.root / "bad.yaml"
    bad.write_text(job.config.read_text() + "\nlifecycle: {build_window: soon}\n", encoding="utf-8")
    data = assert_round_trip(job.run(config=bad), "input_error")
    assert "build_window" in data["findings"][0]["evidence"]


def test_the_job_s_token_never_reaches_diagnose_output(job: Job) -> None:
    token = "leaky-token-0123456789"
    basic = base64.b64encode(f"{EMAIL}:{token}".encode()).decode()
    log = job.run(token=token)
    text = log.read_text(encoding="utf-8")
    # As if a debug dump had printed the credentials in an evidence line (a secondary finding).
    leak = (
        f"Failed to update SOS inventory (C_Code ALC): GET {job.server.url}/x?apikey={token} "
        f"Authorization: Basic {basic} SOS_API_TOKEN={token}\n"
    )
    log.write_text(leak + text, encoding="utf-8")
    env = job.env(token=token)
    for extra in ((), ("--json",)):
        result = subprocess.run(
            [*CLI, "diagnose", str(log), *extra],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert result.returncode == 1
        assert "Failed to update SOS inventory" in result.stdout  # the leaky line is shown, masked
        assert token not in result.stdout + result.stderr
        assert basic not in result.stdout + result.stderr


def test_code_defect_of_an_internal_error(job: Job) -> None:
    # A defect planted in the planner by the test's harness: the job ends with exit 70.
    command = [sys.executable, "-c", PLANTED_DEFECT, *job.command("--report-dir", str(job.root / "r"))[3:]]
    log = job.run(command=command)
    assert "ERROR: script returned exit code 70" in log.read_text()
    data = assert_round_trip(log, "code_defect")
    assert "ZeroDivisionError" in data["findings"][0]["evidence"]


def test_interrupted_by_sigterm(slow_job: Job) -> None:
    job = slow_job
    run = subprocess.Popen(
        job.command("--concurrency", "1"),
        env=job.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while job.server.stats()["requests"] < 1:  # the run is under way: it has asked the inventory
        assert time.monotonic() < deadline and run.poll() is None, "the run never reached the inventory"
        time.sleep(0.02)
    run.send_signal(signal.SIGTERM)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM, output
    data = assert_round_trip(job.console(output, run.returncode), "interrupted")
    evidence = data["findings"][0]["evidence"]
    assert evidence.startswith("interrupted (") and "SIGTERM" in evidence
    assert data["findings"][0]["rerun_advised"] is True


def test_tls_failure_of_a_certificate_no_bundle_vouches_for(tmp_path: Path) -> None:
    """The reference server on HTTPS with a private CA's certificate; the job is not given that CA."""
    authority = trustme.CA()
    server_pem = tmp_path / "server.pem"
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    for job in _job(tmp_path, ["--tls-cert", str(server_pem)]):
        url = job.server.url.replace("http://", "https://")
        env = {k: v for k, v in job.env().items() if k != "SSL_CERT_FILE"}
        result = subprocess.run(
            job.command(url=url), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert result.returncode == 4, result.stdout
        data = assert_round_trip(job.console(result.stdout, result.returncode), "tls_failure")
        assert data["findings"][0]["transient"] is False
        assert any("--ca-bundle" in action for action in data["findings"][0]["actions"])

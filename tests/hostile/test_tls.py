"""HTTPS end to end: the reference server with a certificate of a private CA (made by trustme)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.e2e.conftest import NOW, running_fleet
from tests.hostile.harness import CANARY, Context, run_cli


@dataclass
class TlsFleet:
    root: Path
    config: Path
    url: str
    ca: Path


@pytest.fixture(scope="module")
def tls_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsFleet]:
    root = tmp_path_factory.mktemp("tls-fleet")
    authority = trustme.CA()
    server_pem, ca_pem = root / "server.pem", root / "ca.pem"
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    authority.cert_pem.write_to_path(str(ca_pem))
    with running_fleet(root, ["--tls-cert", str(server_pem)]) as fleet:
        assert "listening on https://" in fleet.server.stdout_text()
        yield TlsFleet(root, fleet.config, f"https://127.0.0.1:{fleet.server.port}", ca_pem)


def _plan(fleet: TlsFleet, *extra: str) -> list[str]:
    return ["plan", "--config", str(fleet.config), "--inventory-url", fleet.url, "--now", NOW, "-q", *extra]


def test_https_with_the_ca_bundle_works(tls_fleet: TlsFleet, tmp_path: Path) -> None:
    env = Context.env(None, SSL_CERT_FILE=None)  # type: ignore[arg-type]
    outcome = run_cli(_plan(tls_fleet, "--ca-bundle", str(tls_fleet.ca)), env, tmp_path, timeout=60)
    assert outcome.code == 1, outcome.text  # the fleet's ambiguous machine and invalid row
    assert "11 change(s) planned" in outcome.text


def test_ssl_cert_file_is_honoured(tls_fleet: TlsFleet, tmp_path: Path) -> None:
    env = Context.env(None, SSL_CERT_FILE=str(tls_fleet.ca))  # type: ignore[arg-type]
    outcome = run_cli(_plan(tls_fleet), env, tmp_path, timeout=60)
    assert outcome.code == 1, outcome.text


def test_an_unknown_ca_stops_at_once_as_tls_failure(tls_fleet: TlsFleet, tmp_path: Path) -> None:
    env = Context.env(None, SSL_CERT_FILE=None)  # type: ignore[arg-type]
    started = time.monotonic()
    outcome = run_cli(_plan(tls_fleet, "-vv"), env, tmp_path, timeout=60)
    assert time.monotonic() - started < 15
    assert outcome.code == 4, outcome.text
    assert "cause: tls_failure" in outcome.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.stderr
    assert "retry" not in outcome.stderr.lower().replace("no retries", "")
    assert "Install the CA bundle" in outcome.stderr
    assert CANARY not in outcome.text
    assert "Traceback" not in outcome.text


def test_a_ca_bundle_that_is_not_pem_is_a_usage_error(tls_fleet: TlsFleet, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n", encoding="utf-8")
    env = Context.env(None)  # type: ignore[arg-type]
    outcome = run_cli(_plan(tls_fleet, "--ca-bundle", str(garbage)), env, tmp_path, timeout=60)
    assert outcome.code == 2, outcome.text
    assert "not a PEM file" in outcome.stderr
    assert "Traceback" not in outcome.text

"""diagnose on logs it was not written for: tracebacks, Go's CSV reader, TLS, login pages, junk, big logs."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sos_inventory.diagnose.logs import MAX_FINDINGS, Scanner, diagnose_stream, diagnose_text
from sos_inventory.diagnose.needles import required_literals
from sos_inventory.redact import mask, secret_forms
from sos_inventory.runbook import default_knowledge

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
HELDOUT = LOGS / "heldout"
EXPECTED: dict[str, str | None] = yaml.safe_load((HELDOUT / "expected.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_held_out_logs(name: str) -> None:
    diagnosis = diagnose_text((HELDOUT / name).read_text(encoding="utf-8"))
    assert (diagnosis.primary.category.value if diagnosis.primary else None) == EXPECTED[name]


def test_the_held_out_set_is_complete() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in HELDOUT.glob("*.log"))


TRACEBACK_DNS = """\
[2026-11-29T06:00:03.412Z] Traceback (most recent call last):
[2026-11-29T06:00:03.412Z]   File "/opt/venv/lib/python3.11/site-packages/aiohttp/connector.py", line 1301, in _resolve_host
[2026-11-29T06:00:03.412Z]     addrs = await self._resolver.resolve(host, port, family=self._family)
[2026-11-29T06:00:03.413Z]   File "/usr/lib/python3.11/socket.py", line 962, in getaddrinfo
[2026-11-29T06:00:03.413Z]     for res in _socket.getaddrinfo(host, port, family, type, proto, flags):
[2026-11-29T06:00:03.413Z] socket.gaierror: [Errno -3] Temporary failure in name resolution
[2026-11-29T06:00:03.413Z]
[2026-11-29T06:00:03.413Z] The above exception was the direct cause of the following exception:
[2026-11-29T06:00:03.413Z]
[2026-11-29T06:00:03.414Z] Traceback (most recent call last):
[2026-11-29T06:00:03.414Z]   File "/srv/sync.py", line 12, in <module>
[2026-11-29T06:00:03.414Z]     raise SyncFailed("inventory query failed") from exc
[2026-11-29T06:00:03.414Z] sync.SyncFailed: inventory query failed
ERROR: script returned exit code 1
Finished: FAILURE
"""


def test_a_traceback_ending_in_a_dns_error_is_a_dns_failure() -> None:
    diagnosis = diagnose_text(TRACEBACK_DNS)
    primary = diagnosis.primary
    assert primary is not None
    assert primary.category.value == "dns_lookup_failure"
    assert primary.line == 1  # the block is one finding, at its start
    assert primary.evidence.startswith("sync.SyncFailed: inventory query failed (caused by socket.gaierror")
    assert primary.facts["time"] == "2026-11-29T06:00:03.412Z"
    assert len(diagnosis.findings) == 1  # the frames are not findings of their own


def test_a_traceback_of_an_unknown_exception_is_a_code_defect_with_its_final_line() -> None:
    log = "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n    d['k']\nKeyError: 'k'\nFinished: FAILURE\n"
    primary = diagnose_text(log).primary
    assert primary is not None
    assert (primary.category.value, primary.evidence) == ("code_defect", "KeyError: 'k'")


@pytest.mark.parametrize(
    "line",
    [
        "2026/11/28 03:00:02 read devices: record on line 1432: wrong number of fields",
        '2026/11/28 03:00:02 read devices: parse error on line 88, column 41: bare " in non-quoted-field',
        '2026/11/28 03:00:02 read devices: record on line 7; parse error on line 9, column 3: extraneous or missing " in quoted-field',
        "2026/11/28 03:00:02 open softlayer-data/Acct531277/devices.csv: no such file or directory",
    ],
)
def test_go_csv_reader_errors_and_a_missing_export_are_input_errors(line: str) -> None:
    primary = diagnose_text(f"{line}\nexit status 1\nFinished: FAILURE\n").primary
    assert primary is not None
    assert primary.category.value == "input_error"
    assert primary.to_dict()["transient"] is False


@pytest.mark.parametrize(
    "line",
    [
        "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "Hostname mismatch, certificate is not valid for 'w3.sos.ibm.com'. (_ssl.c:1006)",
        "Failed to query SOS inventory (C_Code ALC): cannot connect to https://w3.sos.ibm.com: Cannot connect "
        "to host w3.sos.ibm.com:443 ssl:True [SSLCertVerificationError: (1, '[SSL: CERTIFICATE_VERIFY_FAILED] "
        "certificate verify failed: unable to get local issuer certificate (_ssl.c:1006)')]",
        'Get "https://w3.sos.ibm.com/x": x509: certificate is valid for a.example.com, not w3.sos.ibm.com',
    ],
)
def test_certificate_failures_are_tls_failures_not_transient(line: str) -> None:
    primary = diagnose_text(f"{line}\nFinished: FAILURE\n").primary
    assert primary is not None
    data = primary.to_dict()
    assert data["category"] == "tls_failure"
    assert data["rerun_advised"] is False
    assert any("--ca-bundle" in action for action in data["actions"])


def test_a_login_page_instead_of_json_is_an_auth_failure_not_transient() -> None:
    line = (
        "error: SOS inventory returned an error when querying (C_Code ALC): HTTP 200 with a body that is not "
        "JSON: b'<!DOCTYPE html><html><head><title>IBM w3id Sign in</title>'"
    )
    primary = diagnose_text(f"{line}\nFinished: FAILURE\n").primary
    assert primary is not None
    assert primary.category.value == "auth_failure"
    assert primary.to_dict()["rerun_advised"] is False
    # A proxy's HTML error page with an error status is the API failing, not a login page.
    proxy = "SOS inventory returned an error when querying: HTTP 502 bad_gateway: <html><title>502 Bad Gateway</title>"
    assert diagnose_text(f"{proxy}\nFinished: FAILURE\n").primary.category.value == "sos_api_error"  # type: ignore[union-attr]


def test_ticket_drafts_carry_the_facts_of_the_log() -> None:
    log = (
        "[2026-11-27T09:14:33.911Z] Failed to query SOS inventory c_code=ALC_FR2: GET "
        "https://w3.sos.ibm.com/inventory.nsf/tracker.xsp?c_code=ALC_FR2&page=2 returned HTTP 503\n"
        "Finished: FAILURE\n"
    )
    ticket = diagnose_text(log).primary.to_dict()["ticket"]  # type: ignore[union-attr]
    assert "C_Code: ALC_FR2" in ticket
    assert "at 2026-11-27T09:14:33.911Z" in ticket
    assert "Request: GET https://w3.sos.ibm.com/inventory.nsf/tracker.xsp?c_code=ALC_FR2&page=2" in ticket
    assert "HTTP status: 503" in ticket
    assert "(see the console log)" not in ticket and "(not in the log)" not in ticket


def test_secrets_are_masked_in_evidence_facts_and_tickets() -> None:
    token = "s3cr3t-t0ken-value"
    basic = secret_forms(token, "sre@example.com")[1]
    log = (
        f"Failed to update SOS inventory c_code=ALC: POST https://w3.sos.ibm.com/u?apikey=k-123456&token={token} "
        f"Authorization: Basic {basic} password=hunter22 https://sre:pa55word@w3.sos.ibm.com/\n"
        "Finished: FAILURE\n"
    )
    data = diagnose_text(log, secrets=secret_forms(token, "sre@example.com")).to_dict()
    text = str(data)
    for secret in (token, basic, "k-123456", "hunter22", "pa55word"):
        assert secret not in text
    assert "Failed to update SOS inventory" in data["findings"][0]["evidence"]
    assert mask("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert mask("nothing secret here: status 500") == "nothing secret here: status 500"


# Pieces of real evidence for the property test to splice into arbitrary text.
_FRAGMENTS = [
    "Traceback (most recent call last):",
    '  File "x.py", line 1, in f',
    "socket.gaierror: [Errno -3] Temporary failure in name resolution",
    "The above exception was the direct cause of the following exception:",
    "error: Failed to query SOS inventory (C_Code ALC): HTTP 503",
    "cause: sos_api_error",
    "cause: nonsense",
    "action: rerun",
    "  - a list item",
    "interrupted (stopped by SIGTERM): nothing written",
    "Finished: FAILURE",
    "Finished: SUCCESS",
    "",
]


def _all_logs() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(LOGS.rglob("*.log"))] + [TRACEBACK_DNS]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reading_in_blocks_gives_what_reading_line_by_line_gives(seed: int) -> None:
    rng = random.Random(seed)
    for text in _all_logs():
        data = text.encode()
        cuts = sorted(rng.sample(range(1, len(data)), k=min(5, len(data) - 1)))
        blocks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        whole = Scanner()
        for line in text.splitlines():
            whole.feed(line)
        split = Scanner()
        split.feed_blocks(blocks)
        assert split.diagnosis() == whole.diagnosis()


def test_needles_never_hide_a_line_a_pattern_matches() -> None:
    for pattern in default_knowledge().patterns:
        needles = required_literals(pattern.regex)
        assert needles is not None, pattern.id  # every shipped pattern has a fast path
        for text in _all_logs():
            for line in text.splitlines():
                if pattern.regex.search(line):
                    assert any(n in line.lower() for n in needles), (pattern.id, line)


def test_random_binary_input_is_read_quickly_and_finds_nothing() -> None:
    junk = random.Random(5).randbytes(8 * 1024 * 1024)
    started = time.monotonic()
    diagnosis = diagnose_stream(io.BytesIO(junk))
    assert time.monotonic() - started < 30  # generous for a busy machine; about a second when idle
    assert diagnosis.lines > 1000
    one_line = diagnose_stream(io.BytesIO(b"x" * (20 * 1024 * 1024) + b"\nFinished: FAILURE\n"))
    assert one_line.result == "FAILURE" and one_line.lines == 2


def test_distinct_findings_are_bounded() -> None:
    lines = [
        f"Failed to query SOS inventory for prod-dal10-carrier2-worker-{i}: HTTP 503" for i in range(5000)
    ]
    diagnosis = diagnose_text("\n".join(lines) + "\nFinished: FAILURE\n")
    assert len(diagnosis.findings) == MAX_FINDINGS
    assert diagnosis.omitted == 5000 - MAX_FINDINGS


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=40), max_size=30))
def test_any_text_is_read_without_error_and_the_same_in_blocks(parts: list[str]) -> None:
    text = "\n".join(parts)
    whole = diagnose_text(text)
    blocks = Scanner()
    blocks.feed_blocks([text.encode()[:7], text.encode()[7:]])
    assert blocks.diagnosis().primary == whole.primary


def test_a_big_log_read_through_the_cover_finds_what_the_line_by_line_reading_finds() -> None:
    rng = random.Random(3)
    noise = [
        f"[2026-11-27T10:00:{i % 60:02d}.000Z]   ALC  prod-dal10-carrier2-worker-{rng.randrange(9999):04d}  applied  "
        "status: Build -> Live"
        for i in range(12000)
    ]
    text = "\n".join(
        noise[:5000]
        + TRACEBACK_DNS.splitlines()[:-2]
        + noise[5000:9000]
        + ["[x] HTTP 503 Service Unavailable"]
    )
    text += (
        "\n"
        + "\n".join(noise[9000:])
        + "\nerror: stopped (C_Code ALC)\ncause: dns_lookup_failure\nFinished: FAILURE\n"
    )
    data = text.encode()
    assert len(data) > 1_000_000
    whole = Scanner()
    for line in text.split("\n")[:-1]:
        whole.feed(line)
    blocks = Scanner()
    blocks.feed_blocks(data[i : i + 600_000] for i in range(0, len(data), 600_000))
    assert blocks.diagnosis() == whole.diagnosis()
    assert len(blocks._scan or ()) < len(blocks._needles or ())  # the cover was used, not every needle
    found = blocks.diagnosis()
    assert [f.category.value for f in found.findings] == [
        "dns_lookup_failure",
        "dns_lookup_failure",
        "sos_api_error",
    ]
    assert found.findings[1].line == 5001  # the traceback, at its first line

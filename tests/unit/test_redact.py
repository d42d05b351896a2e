"""redact.py: secrets masked wherever they are written, outside text tamed."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest

from sos_inventory.redact import (
    RedactingStream,
    forget_secrets,
    mask_url,
    printable,
    redact,
    register_credentials,
    untrusted,
)

TOKEN = "tok-CANARY-1234"


@pytest.fixture(autouse=True)
def _secrets() -> Iterator[None]:
    forget_secrets()
    register_credentials("sre@example.com", TOKEN)
    yield
    forget_secrets()


def test_the_token_and_the_basic_credentials_are_masked() -> None:
    basic = base64.b64encode(f"sre@example.com:{TOKEN}".encode()).decode()
    assert redact(f"token {TOKEN}, header Basic {basic}.") == "token ***, header Basic ***."


def test_query_values_are_masked_but_the_apis_own_parameters() -> None:
    url = "https://sos.example.com/inventory.nsf/tracker.xsp?c_code=ALC&page=2&apikey=s3cret&x"
    assert mask_url(url) == "https://sos.example.com/inventory.nsf/tracker.xsp?c_code=ALC&page=2&apikey=***&x"
    assert redact(f'see "{url}"') == f'see "{mask_url(url)}"'


def test_a_stream_masks_a_secret_written_in_pieces_and_keeps_the_progress_bar_drawing() -> None:
    target = io.StringIO()
    stream = RedactingStream(target)
    stream.write("a tok-CAN")
    stream.write("ARY-1234 b\r\x1b[K\n")
    stream.write("tail " + TOKEN)
    stream.flush()
    assert target.getvalue() == "a *** b\r\x1b[K\ntail ***"


def test_untrusted_text_is_capped_and_escaped() -> None:
    assert untrusted("a\nb\x00c", 100) == "a\\x0ab\\x00c"
    assert untrusted("a\nb", 100, keep_newlines=True) == "a\nb"
    assert untrusted("x" * 1000, 10) == "x" * 9 + "…"
    assert printable("tab\tok\x7f") == "tab\tok\\x7f"


def test_a_urls_password_is_masked_and_nothing_past_the_url() -> None:
    assert redact("GET http://jenkins:hunter2@ci.example/job/x") == "GET http://jenkins:***@ci.example/job/x"
    assert redact("https://u:p%40ss;w=rd@gw.example:9091/x") == "https://u:***@gw.example:9091/x"
    # A ledger row's JSON: a port, then an e-mail further on; neither is a userinfo.
    row = '{"inventory_url":"http://127.0.0.1:45501","now":"2026-11-27T12:00:00Z","user":"demo@sos.example"}'
    assert redact(row) == row
    assert (
        redact("https://sos.example.com:8443 and ops@example.com")
        == "https://sos.example.com:8443 and ops@example.com"
    )

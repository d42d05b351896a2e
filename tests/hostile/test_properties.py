"""Properties: on any input, the export reader and the config loader raise only their own errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sos_inventory.config import config_from_mapping, load_config
from sos_inventory.errors import ConfigError, InputError
from sos_inventory.redact import SHORT_SECRET, forget_secrets, redact, register_credentials
from sos_inventory.sync.devices import DevicesFile, load_devices
from tests.builders import HEADER, make_config

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
CELL = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    [
        "prod-dal10-carrier2-worker-01",
        "2026-01-01",
        "10.0.0.1",
        "",
        "N/A",
        "\u212a",
        '"',
        "\x00",
        "9999-12-31",
    ]
)
ROW = st.lists(CELL, min_size=0, max_size=len(HEADER) + 2).map(",".join)
EXPORT = st.lists(ROW, max_size=8).map(lambda rows: "\n".join([",".join(HEADER), *rows]).encode())
YAML_TEXT = st.text(alphabet=st.sampled_from(list("abc:-[]{}&*!|>'\"#\n 0123456789.,?%@`")), max_size=200)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["devices", "accounts", "inventory", "lifecycle", "exclude", "ownership", "safety", "columns", "url"]
)


@SETTINGS
@given(content=st.binary(max_size=3000) | EXPORT)
def test_the_export_reader_raises_only_input_errors(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "Acct531277" / "devices.csv"
        path.parent.mkdir()
        path.write_bytes(content)
        config = make_config(Path(work))
        try:
            device_set = load_devices([DevicesFile(path, "531277")], config)
        except InputError:
            return
        for device in device_set.devices:
            assert device.hostname.isascii() and device.hostname == device.hostname.lower()


@SETTINGS
@given(content=st.binary(max_size=2000) | YAML_TEXT.map(str.encode))
def test_the_config_loader_raises_only_config_errors(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "config.yaml"
        path.write_bytes(content)
        problems: list[str] = []
        try:
            load_config(path)
        except ConfigError as error:
            problems = error.problems
        assert all(len(problem) < 2000 for problem in problems)


@SETTINGS
@given(data=st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_parsed_config_is_a_config_or_a_config_error(data: dict[str, object]) -> None:
    problems: list[str] = []
    try:
        config_from_mapping(data, base=Path("."), origin="c.yaml")
    except ConfigError as error:
        problems = error.problems
    assert all(len(problem) < 2000 for problem in problems)


@SETTINGS
@given(token=st.text(min_size=SHORT_SECRET, max_size=40), text=st.text(max_size=200))
def test_a_registered_token_never_survives_redaction(token: str, text: str) -> None:
    forget_secrets()
    try:
        register_credentials("sre@example.com", token)
        assert token not in redact(text[:100] + token + text[100:]) or token in "***"
    finally:
        forget_secrets()


@SETTINGS
@given(
    token=st.text(st.characters(categories=("L", "N")), min_size=1, max_size=SHORT_SECRET - 1),
    text=st.text(max_size=200),
)
def test_a_token_too_short_to_be_real_garbles_nothing(token: str, text: str) -> None:
    """A token this short is refused off loopback; on loopback (a demo) it is not masked, so that
    "wrong" does not turn "the wrong token" into "the *** token"."""
    forget_secrets()
    try:
        register_credentials("sre@example.com", token)
        assert redact(f"{text} the {token} word").endswith(f" the {token} word")
    finally:
        forget_secrets()

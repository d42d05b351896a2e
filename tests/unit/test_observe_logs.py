"""Log lines: JSON objects with run_id and context fields; secrets masked in both forms."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator

import pytest

from sos_inventory.observe.logs import (
    JsonFormatter,
    JsonLines,
    TextFormatter,
    configure,
    secret_values,
)

TOKEN = "tok-0123456789-SECRET"
EMAIL = "sre@example.com"


def _record(message: str, *args: object, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("sos_inventory.sync.engine", level, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_time_level_event_run_id_and_context() -> None:
    line = JsonFormatter("RUN-1").format(
        _record("%s: read %d records", "ALC", 20, c_code="ALC", hostname="h1")
    )
    data = json.loads(line)
    assert data["event"] == "ALC: read 20 records"
    assert data["level"] == "info"
    assert data["run_id"] == "RUN-1"
    assert data["c_code"] == "ALC" and data["hostname"] == "h1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["time"])


def test_secrets_are_masked_in_both_forms() -> None:
    basic = secret_values(EMAIL, TOKEN)[1]
    record = _record("header Basic %s, token %s", basic, TOKEN, detail=f"again {TOKEN}")
    for formatter in (
        JsonFormatter("R", secret_values(EMAIL, TOKEN)),
        TextFormatter(secret_values(EMAIL, TOKEN)),
    ):
        text = formatter.format(record)
        assert TOKEN not in text and basic not in text
        assert "***" in text


def test_an_exception_is_one_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = JsonFormatter("R").format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, stderr = list(root.handlers), root.level, sys.stderr
    yield
    sys.stderr = stderr
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("restored_logging")
def test_printed_lines_become_json_whatever_the_level() -> None:
    out = io.StringIO()
    configure(logging.WARNING, "json", "RUN-2", secret_texts=[TOKEN], stream=out)
    assert isinstance(sys.stderr, JsonLines)
    print("error: the inventory refused", file=sys.stderr)
    print("sos-inventory plan: error: argument --concurrency: invalid int value: 'x'", file=sys.stderr)
    print(f"action: renew the token {TOKEN}\n", file=sys.stderr, end="")
    sys.stderr.write("partial line")
    sys.stderr.flush()
    logging.getLogger("sos_inventory.x").info("filtered out by -q")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(d["level"], d["event"]) for d in lines] == [
        ("error", "error: the inventory refused"),
        ("error", "sos-inventory plan: error: argument --concurrency: invalid int value: 'x'"),
        ("info", "action: renew the token ***"),
        ("info", "partial line"),
    ]
    assert {d["run_id"] for d in lines} == {"RUN-2"}


@pytest.mark.usefixtures("restored_logging")
def test_configured_twice_the_last_form_holds_and_lines_are_not_doubled() -> None:
    real = sys.stderr
    configure(logging.WARNING, "json", "EARLY")
    configure(logging.INFO, "json", "LATER", stream=io.StringIO())
    assert isinstance(sys.stderr, JsonLines) and sys.stderr.original is real
    configure(logging.INFO, "text", "TEXT", stream=io.StringIO())
    assert sys.stderr is real  # type: ignore[comparison-overlap]  # configure() rebinds it: mypy keeps the narrowing above

"""Each report format escapes what came from the inputs, in one step: markup from a reviewed plan's
hostname or C_Code, backticks from a config path, control characters from the inventory."""

from __future__ import annotations

from dataclasses import replace

from sos_inventory.model import Change
from sos_inventory.report import console, escape, html, markdown
from sos_inventory.report.escape import csv_cell, markdown_code
from sos_inventory.sync.apply import Outcome
from tests.unit.observe_sample import sample_report

IMG = '<img src=x onerror="alert(1)">'
SCRIPT = "<script>alert(2)</script>"
CONTROL = "\x1b[2J\x1b]0;owned\x07\r\x00"
RAW = {"\x1b", "\x07", "\r", "\x00"}


def _hostile_report() -> object:
    report = sample_report()
    change = Change(SCRIPT, f"prod-{IMG}", "U1", {"application": f"a{CONTROL}"}, {"application": "b"})
    report.outcomes = [*report.outcomes, Outcome(change, "applied")]
    report.c_codes = [*report.c_codes, SCRIPT]
    return replace(report, config_path="cfg`</code><script>x</script>`.yaml", api_user=f"x`{IMG}")


def test_markdown_holds_no_markup_or_backtick_from_input() -> None:
    text = markdown.render(_hostile_report())  # type: ignore[arg-type]
    assert "<img" not in text and "<script" not in text.lower()
    assert "&lt;img" in text and "&lt;script>alert(2)" in text
    assert "cfg\\`&lt;/code>&lt;script>x&lt;/script>\\`.yaml" in text  # not a code span it could close
    assert not RAW & set(text)
    assert "\\x1b[2J" in text


def test_html_and_console_hold_no_raw_control_character() -> None:
    report = _hostile_report()
    for text in (html.render(report), console.render(report, verbose=True)):  # type: ignore[arg-type]
        assert "\x1b" not in text and "\x07" not in text and "\x00" not in text and "\r" not in text
        assert "\\x1b[2J" in text
    assert "<img" not in html.render(report)  # type: ignore[arg-type]


def test_a_tab_from_a_value_never_reaches_the_console_raw() -> None:
    assert escape.console("app\tname | next\n") == "app\\x09name | next\n"


def test_csv_cells_that_a_spreadsheet_would_run_are_text() -> None:
    for formula in ("=HYPERLINK(1)", "+cmd|x", "-2+3", "@SUM(1)", "\t=1", "\r=1"):
        assert csv_cell(formula) == "'" + formula
    assert csv_cell("containers-kubernetes") == "containers-kubernetes"
    assert csv_cell(12) == 12


def test_plain_values_keep_their_code_span() -> None:
    assert markdown_code("20261127T120000Z-1a2b") == "`20261127T120000Z-1a2b`"
    assert markdown_code("https://sos.example.com/x") == "`https://sos.example.com/x`"
    assert not markdown_code("a`b").startswith("`")

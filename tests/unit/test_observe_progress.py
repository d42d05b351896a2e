"""Progress: a plain line every few seconds off a terminal, a bar redrawn in place on one."""

from __future__ import annotations

import io
import logging

import pytest

from sos_inventory.observe.progress import Bar, Lines


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_every_interval_and_at_the_end_of_a_long_phase(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    lines = Lines(logging.getLogger("test.progress"), interval=5, clock=clock)
    caplog.set_level(logging.INFO, "test.progress")
    for done in range(0, 101, 10):
        clock.now = done / 10  # 1 s per 10 changes: 10 s in all
        lines("applying", done, 100)
    assert [r.getMessage() for r in caplog.records] == ["applying: 50/100 (50%)", "applying: 100/100 (100%)"]
    assert caplog.records[0].__dict__["phase"] == "applying"


def test_a_short_phase_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    lines = Lines(logging.getLogger("test.progress"), interval=5, clock=clock)
    caplog.set_level(logging.INFO, "test.progress")
    lines("planning", 0, 10)
    clock.now = 1
    lines("planning", 10, 10)
    assert caplog.records == []


def test_a_long_phase_told_only_its_start_and_end_says_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    lines = Lines(logging.getLogger("test.progress"), interval=5, clock=clock)
    caplog.set_level(logging.INFO, "test.progress")
    lines("planning", 0, 1000)
    clock.now = 20
    lines("planning", 1000, 1000)
    assert [r.getMessage() for r in caplog.records] == ["planning: 1000/1000 (100%)"]


def test_an_unknown_total_shows_the_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    lines = Lines(logging.getLogger("test.progress"), interval=5, clock=clock)
    caplog.set_level(logging.INFO, "test.progress")
    lines("reading exports", 0, None)
    clock.now = 6
    lines("reading exports", 40000, None)
    assert [r.getMessage() for r in caplog.records] == ["reading exports: 40000"]


def test_the_bar_redraws_in_place_and_a_finished_phase_keeps_its_line() -> None:
    out, clock = io.StringIO(), Clock()
    bar = Bar(out, clock=clock)
    bar("applying", 0, 4)
    bar("applying", 1, 4)  # too soon after the last draw: skipped
    clock.now = 1
    bar("applying", 2, 4)
    bar("applying", 4, 4)  # the end is always drawn
    text = out.getvalue()
    assert text.count("\r") == 3
    assert "[" + "#" * 15 + "." * 15 + "] 2/4 (50%)" in text
    assert text.endswith("] 4/4 (100%)\x1b[K\n")


def test_a_log_line_first_erases_the_bar() -> None:
    out = io.StringIO()
    bar = Bar(out)
    bar("reading inventory", 3, 10)
    assert bar.clear() is True
    assert out.getvalue().endswith("\r\x1b[K")
    bar.clear()  # nothing showing: nothing written
    assert out.getvalue().count("\r\x1b[K") == 1

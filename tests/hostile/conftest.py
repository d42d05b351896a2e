"""Fixtures of the hostile corpus: one crafted fleet and its reference server for the whole corpus
(no case may write, so it never changes), two scripted hostile servers, and a folder per case."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Fleet, running_fleet
from tests.hostile.harness import CANARY, CANARY_BASIC, MAX_RSS_MB, Context, Run, check_reports, run_cli
from tests.hostile.hostile_server import HostileServer


@pytest.fixture(scope="session")
def corpus_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("hostile-fleet")) as fleet:
        yield fleet


@pytest.fixture(scope="session")
def hostile_pair() -> Iterator[tuple[HostileServer, HostileServer]]:
    with HostileServer() as hostile, HostileServer() as other:
        yield hostile, other


@pytest.fixture
def ctx(tmp_path: Path, corpus_fleet: Fleet, hostile_pair: tuple[HostileServer, HostileServer]) -> Context:
    hostile, other = hostile_pair
    hostile.behave()
    other.behave()
    corpus_fleet.server.reset_stats()
    return Context(tmp_path, corpus_fleet, hostile, other)


def run_case(ctx: Context, make: Callable[[Context], Run]) -> None:
    """Run one case and check everything a case must hold."""
    case = make(ctx)
    outcome = run_cli(case.args, case.env or ctx.env(), ctx.root, timeout=case.seconds + 30)
    figures = os.environ.get("SOS_HOSTILE_FIGURES")  # a JSON-lines file of each case's exit, time, RSS
    if figures:
        with open(figures, "a", encoding="utf-8") as out:
            line = {"case": make.__name__, "exit": outcome.code, "seconds": round(outcome.seconds, 2)}
            out.write(json.dumps({**line, "max_rss_mb": round(outcome.max_rss_mb, 1)}) + "\n")
    text = outcome.text
    assert "Traceback" not in text, text[-3000:]
    assert outcome.code == case.exit, (outcome.code, text[-3000:])
    assert case.fragment in text, (case.fragment, text[-3000:])
    assert outcome.seconds < case.seconds, outcome.seconds
    assert outcome.max_rss_mb < MAX_RSS_MB, outcome.max_rss_mb
    assert CANARY not in text and CANARY_BASIC not in text, "the token reached the output"
    assert ctx.fleet.server.stats()["by_kind"]["update"] == 0, "the reference server got a write"
    assert ctx.hostile.writes() == 0, "the hostile server got a write"
    assert ctx.other.requests == [], f"another origin was reached: {ctx.other.requests}"
    check_reports(ctx.reports)
    if case.check is not None:
        case.check(outcome, ctx)

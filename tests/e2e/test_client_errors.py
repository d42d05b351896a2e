"""The client meeting every error class of SPEC 4.5 from the real reference server's fault injector.

Each test injects one kind of fault into the small fleet's server and runs the real
``update``. What the server counted (``/_ref/stats``) shows whether the client
retried; the inventory afterwards shows what was written. Seeded draws and one
request at a time make each request's fate the same on every run, however busy the machine.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Fleet
from tests.e2e.small_fleet import HOSTS, report, small_fleet, write_small_config

__all__ = ["small_fleet"]

CHANGES = len(HOSTS)


def converged(fleet: Fleet) -> bool:
    return {status for _, _, status in fleet.state().values()} == {"Live"}


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_failing_service_is_retried_and_the_run_heals(small_fleet: Fleet, status: int) -> None:
    small_fleet.server.set_faults(error_rates={str(status): 0.3}, kinds=["update"], seed=3)
    out = small_fleet.root / "out"
    result = small_fleet.cli("update", "--concurrency", "1", "--report-dir", str(out))
    assert result.returncode == 0, result.stderr
    stats = small_fleet.server.stats()
    assert stats["faults"][f"error-{status}"] > 0
    assert stats["by_kind"]["update"] == CHANGES + stats["faults"][f"error-{status}"]  # each one retried
    assert report(out)["requests"]["retries"] == stats["faults"][f"error-{status}"]
    assert converged(small_fleet)


def test_a_service_that_keeps_failing_opens_the_breaker_with_exit_4(small_fleet: Fleet) -> None:
    small_fleet.server.set_faults(error_rates={"500": 1.0}, kinds=["update"])
    result = small_fleet.cli("update", "--concurrency", "1", "--report-dir", str(small_fleet.root / "out"))
    assert result.returncode == 4, result.stderr
    assert "requests in a row failed" in report(small_fleet.root / "out")["stopped"]
    # Five changes tried four times each, then the breaker stopped the run.
    assert small_fleet.server.stats()["by_kind"]["update"] == 5 * 4
    assert not converged(small_fleet)


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_rejected_write_is_not_retried_and_the_others_go_on(small_fleet: Fleet, status: int) -> None:
    small_fleet.server.set_faults(error_rates={str(status): 0.5}, kinds=["update"], seed=5)
    out = small_fleet.root / "out"
    result = small_fleet.cli("update", "--concurrency", "1", "--report-dir", str(out))
    assert result.returncode == 1, result.stderr
    stats = small_fleet.server.stats()
    rejected = stats["faults"][f"error-{status}"]
    assert 0 < rejected < CHANGES
    assert stats["by_kind"]["update"] == CHANGES  # one request per change: no retry
    data = report(out)
    assert data["counts"]["failed"] == rejected
    assert data["counts"]["applied"] == CHANGES - rejected
    assert f"HTTP {status}" in result.stderr


def test_a_rejected_read_stops_the_run_before_any_write(small_fleet: Fleet) -> None:
    small_fleet.server.set_faults(error_rates={"400": 1.0}, kinds=["query"])
    result = small_fleet.cli("update", "--concurrency", "1")
    assert result.returncode == 4, result.stderr
    stats = small_fleet.server.stats()
    assert stats["by_kind"]["update"] == 0
    assert stats["by_kind"]["query"] == 1  # not retried
    assert not converged(small_fleet)


def test_429_without_retry_after_is_retried_with_backoff(small_fleet: Fleet) -> None:
    small_fleet.server.set_faults(error_rates={"429": 0.3}, kinds=["update"], seed=3)
    result = small_fleet.cli("update", "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    stats = small_fleet.server.stats()
    assert stats["faults"]["error-429"] > 0
    assert stats["by_kind"]["update"] == CHANGES + stats["faults"]["error-429"]
    assert converged(small_fleet)


@pytest.mark.parametrize("form", ["1", "date:1"])
def test_429_with_retry_after_waits_as_long_as_asked(small_fleet: Fleet, form: str) -> None:
    # Backoff off, so any wait is the server's: at least a second (a load only adds to it).
    write_small_config(small_fleet.root, retry={"base_delay": 0, "max_delay": 0, "max_retry_after": 5})
    # Seed 3 at 0.2 meets two 429s: enough to see the waits add up, few enough to wait little.
    small_fleet.server.set_faults(error_rates={"429": 0.2}, kinds=["update"], seed=3, retry_after=form)
    started = time.monotonic()
    result = small_fleet.cli("update", "--concurrency", "1")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    met = small_fleet.server.stats()["faults"]["error-429"]
    assert met >= 2
    assert elapsed >= met * 1.0 - 0.5  # one at a time: the waits add up (HTTP-dates round to seconds)
    assert converged(small_fleet)


def test_a_drop_before_the_write_is_retried(small_fleet: Fleet) -> None:
    small_fleet.server.set_faults(drop_before=0.3, kinds=["update"], seed=3)
    result = small_fleet.cli("update", "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    stats = small_fleet.server.stats()
    assert stats["by_status"]["drop-before"] > 0
    assert stats["by_kind"]["update"] == CHANGES + stats["by_status"]["drop-before"]
    assert converged(small_fleet)


def test_a_drop_after_the_write_is_retried_and_harmless(small_fleet: Fleet) -> None:
    # Written, answer lost: the client cannot know, tries again, and the value is the same.
    small_fleet.server.set_faults(drop_after=0.3, kinds=["update"], seed=3)
    result = small_fleet.cli("update", "--concurrency", "1", "--report-dir", str(small_fleet.root / "out"))
    assert result.returncode == 0, result.stderr
    stats = small_fleet.server.stats()
    assert stats["by_status"]["drop-after"] > 0
    assert stats["by_kind"]["update"] == CHANGES + stats["by_status"]["drop-after"]
    assert report(small_fleet.root / "out")["counts"]["applied"] == CHANGES
    assert converged(small_fleet)

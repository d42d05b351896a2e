from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sos_inventory.model import Status
from sos_inventory.sync.lifecycle import build_ends, lifecycle_status
from tests.builders import NOW
from tests.builders import make_device as device

W = timedelta(hours=48)


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (timedelta(0), Status.BUILD),
        (W - timedelta(microseconds=1), Status.BUILD),
        (W, Status.LIVE),  # exactly the window is Live
        (W + timedelta(seconds=1), Status.LIVE),
        (-timedelta(days=3), Status.BUILD),  # provision date in the future
    ],
)
def test_lifecycle_boundaries(age: timedelta, expected: Status) -> None:
    assert lifecycle_status(device(provision_date=NOW - age), NOW, W) is expected


@pytest.mark.parametrize("cancelled", [NOW + timedelta(days=4), datetime(2020, 1, 1, tzinfo=UTC)])
def test_a_cancellation_date_means_available_even_when_new(cancelled: datetime) -> None:
    assert (
        lifecycle_status(device(provision_date=NOW, cancellation_date=cancelled), NOW, W) is Status.AVAILABLE
    )


def test_no_provision_date_leaves_status_undecided() -> None:
    assert lifecycle_status(device(provision_date=None), NOW, W) is None


def test_offset_aware_dates_compare_in_absolute_time() -> None:
    # 2026-11-25T06:00-06:00 is 12:00 UTC: exactly 48 h before NOW.
    provision = datetime(2026, 11, 25, 6, 0, tzinfo=timezone(timedelta(hours=-6)))
    assert lifecycle_status(device(provision_date=provision), NOW, W) is Status.LIVE
    assert lifecycle_status(device(provision_date=provision + timedelta(seconds=1)), NOW, W) is Status.BUILD


def test_build_ends_one_window_after_provisioning() -> None:
    assert build_ends(device(provision_date=NOW), W) == NOW + W
    assert build_ends(device(provision_date=None), W) is None


@given(
    age=st.timedeltas(min_value=timedelta(days=-3650), max_value=timedelta(days=3650)),
    window=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=365)),
)
def test_status_is_build_exactly_while_younger_than_the_window(age: timedelta, window: timedelta) -> None:
    status = lifecycle_status(device(provision_date=NOW - age), NOW, window)
    assert status is (Status.BUILD if age < window else Status.LIVE)


def test_the_default_build_window_is_the_one_the_readme_documents() -> None:
    from pathlib import Path

    from sos_inventory.config import DEFAULT_BUILD_WINDOW, parse_duration

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    documented = readme.split("  build_window: ", 1)[1].split()[0]
    assert parse_duration(documented) == DEFAULT_BUILD_WINDOW

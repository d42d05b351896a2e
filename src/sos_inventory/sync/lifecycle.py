"""A machine's Status from its dates and the build window (README, How it works); nothing else.

With ``age = now - provision date`` and the build window ``W``: a cancellation
date means ``Available``; else ``age < W`` means ``Build`` (a provision date in
the future too); else ``Live`` (an age of exactly ``W`` is ``Live``). A machine
without a provision date (and not marked) has no Status to decide: the
inventory's value is kept.

A new Status rule goes here, with its boundary tests in tests/unit/test_lifecycle.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sos_inventory.model import Device, Status


def build_since(now: datetime, build_window: timedelta) -> datetime:
    """The provision date after which a machine is still in Build at ``now`` (in UTC).

    Raises OverflowError when ``now - build_window`` is before year 1: callers bound
    both (config and ``--now``), so this is a defect if it happens.
    """
    return (now - build_window).astimezone(UTC)


def status_since(device: Device, build_since: datetime) -> Status | None:
    """The Status of ``device`` given :func:`build_since` (the planner's hot path)."""
    # age < W  <=>  provision date > now - W: one comparison per machine, no subtraction
    # (and a fast one: both in UTC, see devices.parse_timestamp).
    if device.cancellation_date is not None:
        return _AVAILABLE
    provision = device.provision_date
    if provision is None:
        return None
    return _BUILD if provision > build_since else _LIVE


def lifecycle_status(device: Device, now: datetime, build_window: timedelta) -> Status | None:
    """The Status (README, How it works) of this machine at ``now`` (None: undecidable, no provision date)."""
    return status_since(device, build_since(now, build_window))


def build_ends(device: Device, build_window: timedelta) -> datetime | None:
    """When a machine in Build becomes Live (None without a provision date)."""
    if device.provision_date is None:
        return None
    return (device.provision_date + build_window).astimezone(UTC)


_AVAILABLE, _BUILD, _LIVE = Status.AVAILABLE, Status.BUILD, Status.LIVE  # an Enum attribute is a slow lookup

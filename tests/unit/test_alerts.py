"""The alert decisions (README, Evidence), with an explicit clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sos_inventory.incidents.alerts import alert_events, next_state
from sos_inventory.model import Category, Problem

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DOWN_ALC = Problem(Category.SOS_API_ERROR, "SOS inventory returned an error when updating", c_code="ALC")
DOWN_FR2 = Problem(Category.SOS_API_ERROR, "SOS inventory returned an error when updating", c_code="ALC_FR2")


def _run(
    state: dict[str, dict[str, str]], failing: list[Problem], now: datetime
) -> tuple[list[str], dict[str, dict[str, str]]]:
    events = alert_events(state, failing, now)
    return [f"{e.kind} {e.key}" for e in events], next_state(state, failing, events, now)


def test_each_category_and_c_code_is_alerted_once_then_daily_then_resolved() -> None:
    said, state = _run({}, [DOWN_ALC, DOWN_ALC], T0)
    assert said == ["alert sos_api_error/ALC"]
    said, state = _run(state, [DOWN_ALC, DOWN_FR2], T0 + timedelta(hours=1))
    assert said == ["alert sos_api_error/ALC_FR2"]
    said, state = _run(state, [DOWN_ALC, DOWN_FR2], T0 + timedelta(hours=23, minutes=59))
    assert said == []
    said, state = _run(state, [DOWN_ALC], T0 + timedelta(hours=24))
    assert said == ["reminder sos_api_error/ALC", "resolved sos_api_error/ALC_FR2"]
    assert state["sos_api_error/ALC"]["since"] == "2026-11-27T12:00:00Z"
    said, state = _run(state, [], T0 + timedelta(hours=25))
    assert said == ["resolved sos_api_error/ALC"] and state == {}


def test_an_alert_that_could_not_be_posted_is_posted_by_the_next_run() -> None:
    events = alert_events({}, [DOWN_ALC], T0)
    state = next_state({}, [DOWN_ALC], [], T0)  # the webhook failed: nothing sent
    assert [e.kind for e in events] == ["alert"] and "last_sent" not in state["sos_api_error/ALC"]
    assert [e.kind for e in alert_events(state, [DOWN_ALC], T0 + timedelta(minutes=5))] == ["alert"]


def test_a_last_sent_without_an_offset_is_utc_and_one_to_come_or_unreadable_reminds_now() -> None:
    open_since = {"since": "2026-11-01T00:00:00Z"}
    for last_sent, due in (
        ("2026-11-27T11:00:00", False),  # naive: UTC, an hour ago
        ("2026-11-26T11:00:00", True),  # naive: UTC, a day and an hour ago
        ("9999-12-31T23:59:59Z", True),  # a time to come would silence the reminders for ever
        ("2026-11-27T12:00:01Z", True),
        ("not a time", True),
    ):
        state = {"sos_api_error/ALC": {**open_since, "last_sent": last_sent}}
        said, after = _run(state, [DOWN_ALC], T0)
        assert said == (["reminder sos_api_error/ALC"] if due else []), last_sent
        if due:
            assert after["sos_api_error/ALC"]["last_sent"] == "2026-11-27T12:00:00Z"

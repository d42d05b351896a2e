"""Alerts without noise (README, Evidence) over several runs, against a local webhook receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sos_inventory.state import open_store
from tests.e2e.conftest import Fleet
from tests.e2e.test_diagnose_notify import Receiver


def _texts(receiver: Receiver) -> list[str]:
    return [json.loads(post["body"])["text"] for post in receiver.posts]


def test_a_failure_is_alerted_once_reminded_daily_and_resolved_once(fleet: Fleet) -> None:
    state = open_store(fleet.root / ".sos-inventory")  # the open alerts live in the state store
    with Receiver() as receiver:
        failing = fleet.env(token="wrong-token")

        def run(env: dict[str, str]) -> int:
            return fleet.cli("update", "--notify-url", receiver.url, env=env).returncode

        assert run(failing) == 4
        [alert] = _texts(receiver)
        assert alert.startswith("Error during updating the SOS Inventory") and "`auth_failure`" in alert
        key = next(iter(state.alert_state()))
        assert key.startswith("auth_failure/")

        assert run(failing) == 4
        assert run(failing) == 4
        assert len(receiver.posts) == 1  # the same failure again: no new message

        # A day later (the state as it is 25 hours after the alert), it is still failing: one reminder.
        opened = state.alert_state()
        opened[key]["last_sent"] = (datetime.now(UTC) - timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
        state.save_alert_state(opened)
        assert run(failing) == 4
        assert run(failing) == 4
        assert len(receiver.posts) == 2
        assert _texts(receiver)[1].startswith(f"Reminder: `{key}` still failing since")

        assert run(fleet.env()) == 1  # fixed: only the crafted fleet's ambiguous machine and bad row remain
        assert len(receiver.posts) == 3
        assert _texts(receiver)[2].startswith(f"Resolved: `{key}`")
        assert run(fleet.env()) == 1
        assert len(receiver.posts) == 3  # resolved once
        assert state.alert_state() == {}
        assert all("wrong-token" not in text for text in _texts(receiver))


def test_a_resolved_message_that_cannot_be_posted_is_tried_again(fleet: Fleet) -> None:
    with Receiver() as receiver:
        assert fleet.cli("update", "--notify-url", receiver.url, env=fleet.env(token="bad")).returncode == 4
        assert fleet.cli("update", "--notify-url", "http://127.0.0.1:9/", env=fleet.env()).returncode == 1
        assert len(receiver.posts) == 1
        assert fleet.cli("update", "--notify-url", receiver.url, env=fleet.env()).returncode == 1
        assert len(receiver.posts) == 2 and _texts(receiver)[1].startswith("Resolved:")

"""Alerts to a Slack-compatible incoming webhook, without noise.

A failure (category and C_Code) is posted when it first appears, reminded at
most once a day while it lasts, and one "resolved" message is posted when a
run no longer has it; the open failures are kept in the state store (state/store.py).

The text starts with the runbook's alert ("Error during updating the SOS
Inventory metadata used to track security compliance"), links the Jenkins
build, and gives the primary problem and its action. A webhook that fails is
logged and never changes the job's exit code. The webhook URL is a secret (it
is the credential of the channel): it is never logged or shown.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sos_inventory.errors import OutboundError
from sos_inventory.model import ExitCode, Problem
from sos_inventory.outbound import SEND_DEADLINE, Deadline, send
from sos_inventory.redact import redact, register_secret
from sos_inventory.report.run import RunReport
from sos_inventory.report.text import summary_line
from sos_inventory.runbook import action_of, default_knowledge
from sos_inventory.state.store import StateStore

log = logging.getLogger(__name__)

ALERT = "Error during updating the SOS Inventory metadata used to track security compliance."


def alert_text(problem: Problem, *, build_url: str | None, exit_code: int, summary: str) -> str:
    """The alert's text (Slack mrkdwn)."""
    info = default_knowledge().info(problem.category, problem.all_facts())
    link = f" See the output of the build here {build_url}" if build_url else ""
    rerun = "a rerun may fix it" if info.transient else "rerunning will not help until it is fixed"
    return "\n".join(
        [
            f"{ALERT}{link}",
            f"*Cause:* `{problem.category.value}`: {info.summary} (exit code {exit_code}; {rerun})",
            f"*Error:* {problem.message[:600]}",
            f"*Action:* {action_of(problem)}",
            f"*Run:* {summary}",
        ]
    )


#: What the webhook's messages carry: the webhook URL is the channel's credential.
CREDENTIALS = "the alert and the webhook URL (the channel's credential)"


def post_alert(url: str, text: str, *, deadline: Deadline | None = None) -> bool:
    """POST ``{"text": ...}`` to the webhook; True when it answered 2xx. Never raises.

    Sent under the one outbound policy (outbound.py): http(s) only, TLS verified, no redirect,
    never in clear off loopback, within what is left of ``deadline`` (the run's one deadline
    for all its sends; a fresh one of SEND_DEADLINE s when not given). The text is redacted
    here, the one way out to the channel.
    """
    register_secret(url)  # the webhook URL is the channel's credential
    body = json.dumps({"text": redact(text)}).encode()
    try:
        status = send(
            "POST",
            url,
            deadline=deadline or Deadline.after(SEND_DEADLINE),
            body=body,
            headers={"Content-Type": "application/json"},
            credentials=CREDENTIALS,
        )
    except OutboundError as exc:
        log.warning("the alert webhook %s; the alert was not delivered", exc)
        return False
    return 200 <= status < 300


# --- alerts without noise (README, Evidence) ----------------------------------------------------------

#: An open failure is posted again at most this often.
REMIND_EVERY = timedelta(days=1)

EventKind = Literal["alert", "reminder", "resolved"]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One message to post: a failure that appeared, one still there a day later, or one gone."""

    kind: EventKind
    key: str  # "category" or "category/C_Code"
    problem: Problem | None  # None for "resolved"
    since: str  # when the failure was first seen


def failure_key(problem: Problem) -> str:
    """What makes two failures the same one: the category and the C_Code."""
    return f"{problem.category.value}/{problem.c_code}" if problem.c_code else problem.category.value


def alert_events(
    state: Mapping[str, Mapping[str, str]], failing: Sequence[Problem], now: datetime
) -> list[AlertEvent]:
    """What to post for this run, given what is open (``state``) and this run's failures."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    events: list[AlertEvent] = []
    current: dict[str, Problem] = {}
    for problem in failing:
        current.setdefault(failure_key(problem), problem)
    for key, problem in current.items():
        known = state.get(key)
        if known is None or not known.get("last_sent"):
            events.append(AlertEvent("alert", key, problem, (known or {}).get("since", stamp)))
        elif _remind(known["last_sent"], now):
            events.append(AlertEvent("reminder", key, problem, known.get("since", stamp)))
    events.extend(
        AlertEvent("resolved", key, None, known.get("since", ""))
        for key, known in state.items()
        if key not in current
    )
    return events


def next_state(
    state: Mapping[str, Mapping[str, str]],
    failing: Sequence[Problem],
    sent: Sequence[AlertEvent],
    now: datetime,
) -> dict[str, dict[str, str]]:
    """The open failures after this run, with when each was last posted (``sent``: the events posted)."""
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    posted = {event.key for event in sent if event.kind != "resolved"}
    out: dict[str, dict[str, str]] = {}
    for problem in failing:
        key = failure_key(problem)
        known = dict(state.get(key, {}))
        known.setdefault("since", stamp)
        if key in posted:
            known["last_sent"] = stamp
        out[key] = known
    # A "resolved" that could not be posted stays open, so the next run tries again.
    resolved = {event.key for event in sent if event.kind == "resolved"}
    out.update({key: dict(known) for key, known in state.items() if key not in out and key not in resolved})
    return out


def event_text(event: AlertEvent, *, build_url: str | None, exit_code: int, summary: str) -> str:
    """The message of one event (Slack mrkdwn)."""
    if event.kind == "resolved":
        link = f" {build_url}" if build_url else ""
        return f"Resolved: `{event.key}` (failing since {event.since}) is gone: the last run no longer has it.{link}"
    assert event.problem is not None
    text = alert_text(event.problem, build_url=build_url, exit_code=exit_code, summary=summary)
    if event.kind == "reminder":
        return f"Reminder: `{event.key}` still failing since {event.since}.\n{text}"
    return text


def _remind(last_sent: str, now: datetime) -> bool:
    """Whether an open failure last posted at ``last_sent`` is due a reminder at ``now``.

    The state is a file on disk, so its times are read as untrusted: one without an offset is
    taken as UTC (the job writes UTC); one that cannot be read, or that lies after ``now`` (a clock
    that was wrong, a hand-edited 9999), would silence the reminders for as long as it lasts, so
    the reminder is due at once (and the state then holds this run's time).
    """
    try:
        sent = datetime.fromisoformat(last_sent.replace("Z", "+00:00"))
    except (ValueError, TypeError, AttributeError):
        return True
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        since = now - sent
    except OverflowError:
        return True
    return since >= REMIND_EVERY or since < timedelta(0)


def notify(
    report: RunReport, store: StateStore, url: str, *, now: datetime, deadline: Deadline | None = None
) -> None:
    """Alerts without noise for one run: a failure when it first appears, a daily reminder while it
    lasts, one "resolved" when a run no longer has it. Never raises; a message not delivered
    (the webhook failed, or ``deadline``, the run's one for all its sends, passed) is tried
    again by the next run."""
    if report.exit_code == ExitCode.LOCKED:
        return  # another run's: this one says nothing of the failures
    deadline = deadline or Deadline.after(SEND_DEADLINE)
    failing = report.failing()
    state = store.alert_state()
    sent = []
    events = alert_events(state, failing, now)
    for number, event in enumerate(events):
        if deadline.remaining() <= 0:
            log.warning(
                "%d alert message(s) not sent: the run's sends had %gs in all; the next run tries again",
                len(events) - number,
                deadline.seconds,
            )
            break
        text = event_text(
            event, build_url=report.build_url, exit_code=report.exit_code, summary=summary_line(report)
        )
        if post_alert(url, text, deadline=deadline):
            sent.append(event)
            log.info("%s posted to the webhook: %s", event.kind, event.key)
    store.save_alert_state(next_state(state, failing, sent, now))

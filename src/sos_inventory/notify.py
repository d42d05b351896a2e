"""Alerts: one message per failed run to a Slack-compatible incoming webhook.

The text starts with the runbook's alert ("Error during updating the SOS
Inventory metadata used to track security compliance"), links the Jenkins
build, and gives the primary problem and its action. A webhook that fails is
logged and never changes the job's exit code. The webhook URL is a secret (it
is the credential of the channel): it is never logged or shown.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request

from sos_inventory.outbound import open_url
from sos_inventory.plan import Problem
from sos_inventory.redact import redact, register_secret
from sos_inventory.runbook import default_knowledge

log = logging.getLogger(__name__)

ALERT = "Error during updating the SOS Inventory metadata used to track security compliance."


def alert_text(problem: Problem, *, build_url: str | None, exit_code: int, summary: str) -> str:
    """The alert's text (Slack mrkdwn)."""
    info = default_knowledge().categories[problem.category]
    link = f" See the output of the build here {build_url}" if build_url else ""
    rerun = "a rerun may fix it" if info.transient else "rerunning will not help until it is fixed"
    return "\n".join(
        [
            f"{ALERT}{link}",
            f"*Cause:* `{problem.category.value}`: {info.summary} (exit code {exit_code}; {rerun})",
            f"*Error:* {problem.message[:600]}",
            f"*Action:* {problem.action}",
            f"*Run:* {summary}",
        ]
    )


#: The whole delivery, connection to answer: an alert must never keep the job from ending.
DEADLINE = 5.0


def post_alert(url: str, text: str, *, deadline: float = DEADLINE) -> bool:
    """POST ``{"text": ...}`` to the webhook; True when it answered 2xx within ``deadline`` s. Never raises.

    urllib's timeout bounds each socket operation, not the whole exchange (a webhook that
    answers a byte at a time would hold the job), so the POST runs in a daemon thread that
    is abandoned at the deadline. The text is redacted here, the one way out to the channel.
    """
    register_secret(url)  # the webhook URL is the channel's credential
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": redact(text)}).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "sos-inventory"},
        method="POST",
    )
    outcome: list[bool] = []
    worker = threading.Thread(target=_deliver, args=(request, deadline, outcome), daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        log.warning("the alert webhook did not answer within %gs; the alert was not delivered", deadline)
        return False
    return bool(outcome and outcome[0])


def _deliver(request: urllib.request.Request, timeout: float, outcome: list[bool]) -> None:
    try:
        with open_url(request, timeout) as response:
            status: int = response.status
    except urllib.error.HTTPError as exc:
        log.warning("the alert webhook answered HTTP %d; the alert was not delivered", exc.code)
        outcome.append(False)
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        log.warning("the alert webhook could not be reached (%s); the alert was not delivered", reason)
        outcome.append(False)
        return
    outcome.append(200 <= status < 300)

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
import urllib.error
import urllib.request

from sos_inventory.plan import Problem
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


def post_alert(url: str, text: str, *, timeout: float = 10.0) -> bool:
    """POST ``{"text": ...}`` to the webhook; True when it answered 2xx. Never raises."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "sos-inventory"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status: int = response.status
    except urllib.error.HTTPError as exc:
        log.warning("the alert webhook answered HTTP %d; the alert was not delivered", exc.code)
        return False
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        log.warning("the alert webhook could not be reached (%s); the alert was not delivered", reason)
        return False
    return 200 <= status < 300

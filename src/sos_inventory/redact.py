"""Mask secrets in text that is meant to be shown, pasted into tickets, or stored.

Console logs carry what programs printed, and programs print credentials more
often than they should: an ``Authorization:`` header in a debug dump, a
``token=`` in a URL, a password in a connection string. Anything built from
such text for a person (diagnosis evidence, facts, ticket drafts, JSON) goes
through :func:`mask` first.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

MASK = "***"

# A header line: everything after the scheme word (Basic, Bearer...) is the secret.
_HEADER = re.compile(
    r"(?P<key>\b(?:Proxy-)?Authorization\b['\"]?\s*[:=]\s*['\"]?(?:(?:Basic|Bearer|Token|Digest)\s+)?)"
    r"[^\s'\",;&]+",
    re.IGNORECASE,
)
# key=value and key: value pairs whose key names a secret (query strings, env dumps, JSON, YAML).
# The key's own prefix (SOS_API_, X-Auth-) stays as it is; the key word starts the match, which keeps
# the search fast.
_PAIR = re.compile(
    r"(?P<key>(?:token|password|passwd|pwd|secret|api[_-]?key|credentials?)"
    r"['\"]?\s*(?:=|:\s)\s*['\"]?)"
    r"(?!\*\*\*)[^\s'\",;&<>]+",
    re.IGNORECASE,
)
# user:password@ in a URL.
_USERINFO = re.compile(r"(?P<key>\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+(?=@)", re.IGNORECASE)


def secret_forms(secret: str, user: str | None = None) -> list[str]:
    """The forms in which a secret may show up in a log: itself and, with a user, HTTP Basic's base64."""
    forms = [secret]
    if user:
        forms.append(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return [form for form in forms if len(form) >= 4]  # a 1-3 character "secret" would mask half the log


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets and anything that looks like a credential replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _HEADER.sub(rf"\g<key>{MASK}", text)
    text = _PAIR.sub(rf"\g<key>{MASK}", text)
    return _USERINFO.sub(rf"\g<key>{MASK}", text)

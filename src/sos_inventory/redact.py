"""One place that makes text safe to show: secrets masked, outside text tamed.

Every sink of the job (the console, the log, the reports, the alert) writes
through :func:`redact`: the run's secrets (the API token, the
``base64(email:token)`` of its Authorization header, a webhook URL) are
registered once with :func:`register_secret` when they are read, so a secret
that slipped into an error message, a URL or an exception is masked wherever
it would have been printed. Query values of URLs are masked too (``?apikey=``
is a common habit of API gateways), but for the SOS API's own parameters, and
so is the password of a URL's ``user:password@`` (a pushgateway's, a Jenkins
URL's, a proxy's).

Console logs of other programs carry what they printed, and programs print
credentials more often than they should: an ``Authorization:`` header in a
debug dump, a ``token=`` in a URL, a password in a connection string. Anything
``diagnose`` builds from such text for a person (evidence, facts, ticket
drafts, JSON) goes through :func:`mask`, which also knows those shapes.

:func:`untrusted` caps and escapes text that comes from outside (an error
message of the inventory) before it is kept in a value: control characters
(terminal escapes, NUL, bytes XML cannot hold) become ``\\xNN`` and the length
is bounded.
"""

from __future__ import annotations

import base64
import io
import re
import threading
from collections.abc import Iterable
from typing import TextIO

MASK = "***"
SAFE_PARAMS = frozenset({"c_code", "form", "page", "pageSize", "hostname", "unid"})

# A URL's query: everything between '?' and a space, quote, backslash, '#' or the end. The values
# of the SOS API's own parameters are kept (they say which request failed); any other is masked.
_QUERY = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#'\"<>\\]*\?)(?P<query>[^\s#'\"<>\\]*)")
_QUERY_PAIR = re.compile(r"(?P<key>[^&=;]*)(?P<eq>=?)(?P<value>[^&;]*)")
# The password of a user:password@ in a URL (the user stays: it says which account was used).
#: A URL's ``user:password@``: the characters RFC 3986 allows in a userinfo only (unreserved,
#: percent-encoded, sub-delims), so the match never runs past the URL: in a JSON row the port of
#: ``"http://host:8443","user":"a@b"`` is no password (a quote ends it).
_USERINFO_CHARS = r"[A-Za-z0-9\-._~%!$&'()*+,;=]"
_USERINFO = re.compile(
    rf"(?P<key>\b[a-z][a-z0-9+.-]*://{_USERINFO_CHARS}*:)(?!\*\*\*@)(?:{_USERINFO_CHARS}|:)+(?=@)",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")
_CONTROL_OR_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")


class _Secrets:
    """The secrets of this process, and one expression that finds any of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self.pattern: re.Pattern[str] | None = None

    def add(self, secret: str) -> None:
        with self._lock:
            self._known.add(secret)
            # Longest first, so that a secret containing another is masked whole.
            ordered = sorted(self._known, key=len, reverse=True)
            self.pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def clear(self) -> None:
        with self._lock:
            self._known.clear()
            self.pattern = None


#: A text shorter than this is not masked: a one-letter token masked everywhere garbles every
#: line ("Fi*** the e***port"), a five-letter one every sentence that holds its word ("wrong"). A
#: token that short is no real one: the job refuses it against any inventory off loopback
#: (Credentials.check_for), so only a demo's can be one.
SHORT_SECRET = 8


_secrets = _Secrets()


def register_secret(secret: str) -> None:
    """Mask ``secret`` in every later :func:`redact` (one shorter than SHORT_SECRET is ignored)."""
    if len(secret) >= SHORT_SECRET:
        _secrets.add(secret)


def credential_texts(email: str, token: str) -> list[str]:
    """The token and the Basic credentials that carry it (UTF-8 and, if it differs, Latin-1 form)."""
    texts = [token]
    for encoding in ("utf-8", "latin-1"):
        try:
            pair = base64.b64encode(f"{email}:{token}".encode(encoding)).decode("ascii")
        except UnicodeEncodeError:
            continue
        if pair not in texts:
            texts.append(pair)
    return texts


def register_credentials(email: str, token: str) -> None:
    """Mask the token and the Basic credentials made of it from now on."""
    for text in credential_texts(email, token):
        register_secret(text)


def forget_secrets() -> None:
    """Forget every registered secret (tests; a new run in the same process)."""
    _secrets.clear()


def _mask_query(match: re.Match[str]) -> str:
    query = _QUERY_PAIR.sub(
        lambda pair: (
            pair["key"]
            + pair["eq"]
            + (MASK if pair["value"] and pair["key"] not in SAFE_PARAMS else pair["value"])
        ),
        match["query"],
    )
    return match["head"] + query


def mask_url(url: str) -> str:
    """The URL with the query values masked, but for the SOS API's own parameters."""
    return _QUERY.sub(_mask_query, url)


def mask_userinfo(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` masked."""
    return _USERINFO.sub(rf"\g<key>{MASK}", text)


def redact(text: str) -> str:
    """``text`` with every registered secret, every URL's password and query values masked."""
    pattern = _secrets.pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if "://" in text:
        if "@" in text:
            text = mask_userinfo(text)
        if "?" in text:
            text = _QUERY.sub(_mask_query, text)
    return text


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def untrusted(text: object, limit: int = 300, *, keep_newlines: bool = False) -> str:
    """Outside text, safe to keep and show: control characters escaped, at most ``limit`` characters."""
    value = text if isinstance(text, str) else str(text)
    if len(value) > limit * 4:
        value = value[: limit * 4]  # escaping can only lengthen it: no need to scan megabytes
    value = (_CONTROL if keep_newlines else _CONTROL_OR_BREAK).sub(_escape, value)
    if len(value) > limit:
        value = value[: max(0, limit - 1)] + "…"
    return value


def printable(text: str) -> str:
    """``text`` with control characters other than tab and line break escaped (terminal escapes,
    NUL, and the characters XML 1.0 cannot hold)."""
    return _CONTROL.sub(_escape, text)


class RedactingStream(io.TextIOBase):
    """A text stream that redacts each line before passing it on (for sys.stdout and sys.stderr).

    It leaves control characters alone (the progress bar draws with them): text from outside
    is escaped where it enters (:func:`untrusted`, ``repr``), and each report format escapes
    what it cannot hold.

    Text is held until a line ends (or flush), so that a secret written in pieces is
    still seen whole.
    """

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            complete, _, self._pending = self._pending.rpartition("\n")
            self.target.write(redact(complete) + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.target.write(redact(self._pending))
            self._pending = ""
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")


# -- the shapes of credentials in other programs' logs (diagnose) -----------------

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
    return mask_userinfo(text)


def shown(value: object, limit: int = 60) -> str:
    """A value for an error message: its repr, escaped and capped (a value may be huge or hostile)."""
    if isinstance(value, str):
        text = repr(value[: limit * 2])
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        text = f"an integer of {value.bit_length()} bits"  # repr of a huge int raises ValueError
    elif value is None or isinstance(value, int | float | bool):
        text = repr(value)
    else:
        text = f"a {type(value).__name__}"
    return untrusted(text, limit)

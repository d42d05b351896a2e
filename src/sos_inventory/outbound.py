"""One policy for every request the job sends besides the SOS client's: the alert webhook, the
pushgateway, and diagnose's Jenkins reads.

The same rules as the SOS client (inventory/sos/client.py):

* http(s) URLs only (``file://``, ``ftp://`` and the like are refused before anything is opened);
* TLS verified against the system's CAs (``SSL_CERT_FILE`` honoured), host names checked;
* no redirect followed, not even on the same origin: a 3xx is a failure that says where it
  pointed, so a credential never reaches an address nobody configured;
* no credential in clear off loopback: a send that carries one (the webhook URL is the
  channel's credential, a user:password of the URL, the Jenkins token) over ``http://`` to
  any host but this machine is refused before connecting;
* one :class:`Deadline` for all of a run's sends: each send is given what is left of it (at
  most ``SEND_TIMEOUT``), and a send whose deadline has passed is not tried;
* answers read up to ``MAX_ANSWER`` bytes and dropped;
* URLs shown through :func:`shown` (the one redaction step: user:password and query values
  masked).

Failures are :class:`~sos_inventory.errors.OutboundError`, whose message holds no URL.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

from sos_inventory.errors import OutboundError
from sos_inventory.redact import redact

#: Seconds for all of a run's sends together (alerts, reminders, "resolved", the metrics push).
SEND_DEADLINE = 10.0
#: Seconds one send may take at most, connection to answer.
SEND_TIMEOUT = 5.0
#: Bytes of a sink's answer read at most (the status is what matters; the rest is dropped).
MAX_ANSWER = 64 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` names this machine without a resolver (localhost, 127.0.0.0/8, ::1)."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def shown(url: str) -> str:
    """The URL as it may be shown: user:password and query values masked."""
    return redact(url)


@dataclass(slots=True)
class Deadline:
    """A moment (``time.monotonic()``) after which no send starts; ``seconds`` is its budget."""

    seconds: float
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.at - time.monotonic()


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the policy: its parts, and the Basic credentials of its user:password."""

    url: str
    parts: SplitResult
    authorization: str | None  # the Basic credentials of the URL's user:password
    credentials: str | None  # what the send carries that is secret, in words (None: nothing)

    @property
    def origin(self) -> tuple[str, str, int]:
        return _origin(self.parts)

    @property
    def path(self) -> str:
        return (self.parts.path or "/") + (f"?{self.parts.query}" if self.parts.query else "")


def target(url: str, *, credentials: str | None = None) -> Target:
    """``url`` checked against the policy; ``credentials`` names what the send carries (None:
    nothing secret but what the URL's own user:password may be). Raises OutboundError."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises ValueError here
    except ValueError:
        raise OutboundError("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError(f"is not an http(s) URL ({parts.scheme or 'no scheme'}:); not sent")
    authorization = None
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        authorization = "Basic " + b64encode(pair.encode()).decode()
        credentials = credentials or "the URL's user:password"
    if credentials and parts.scheme == "http" and not is_loopback(parts.hostname):
        raise OutboundError(
            f"is plain http off loopback: {credentials} would travel in clear; refused (use https)"
        )
    return Target(url, parts, authorization, credentials)


def _connection(where: Target, timeout: float) -> http.client.HTTPConnection:
    host, port = where.parts.hostname or "", where.origin[2]
    if where.parts.scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    return http.client.HTTPConnection(host, port, timeout=timeout)


@dataclass(slots=True)
class Exchange:
    """An answer being read: the connection, the response, and the socket under both."""

    connection: http.client.HTTPConnection
    response: http.client.HTTPResponse
    sock: socket.socket | None

    def close(self) -> None:
        self.response.close()
        self.connection.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate did not verify ({exc.verify_message})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "did not answer in time"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"could not be reached ({text})"


def open_exchange(
    method: str,
    where: Target,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> Exchange:
    """Send one request under the policy and return its answer's exchange, status below 300.

    A redirect (never followed) or an error status raises OutboundError, the connection closed.
    """
    sent = {"User-Agent": "sos-inventory", **(headers or {})}
    if where.authorization and "Authorization" not in sent:
        sent["Authorization"] = where.authorization
    connection = _connection(where, timeout)
    try:
        connection.request(method, where.path, body=body, headers=sent)
        sock = connection.sock  # an answer that ends with the connection takes the socket over
        response = connection.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise OutboundError(_reason(exc)) from None
    status = response.status
    if status < 300:
        return Exchange(connection, response, sock)
    location = response.getheader("Location")
    connection.close()
    if status in REDIRECTS and location:
        elsewhere = target_origin(urljoin(where.url, location)) != where.origin
        so = f", so {where.credentials} stay where they belong" if where.credentials else ""
        raise OutboundError(
            f"answered HTTP {status}, a redirect to {'another' if elsewhere else 'the same'} origin: "
            f"not followed{so}"
        )
    raise OutboundError(f"answered HTTP {status} {response.reason}".rstrip())


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL's parts, the port its scheme's default when none is given;
    ValueError for a port that is not a number."""
    return (
        parts.scheme,
        (parts.hostname or "").lower(),
        parts.port or (443 if parts.scheme == "https" else 80),
    )


def target_origin(url: str) -> tuple[str, str, int]:
    """The origin (scheme, host, port) of ``url``; ("", "", 0) when it has none."""
    try:
        return _origin(urlsplit(url))
    except ValueError:
        return "", "", 0


def send(
    method: str,
    url: str,
    *,
    deadline: Deadline,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    credentials: str | None = None,
) -> int:
    """One request under the policy, within what is left of ``deadline`` (at most SEND_TIMEOUT s).

    Returns the 2xx status; the answer is read up to MAX_ANSWER bytes and dropped. Raises
    OutboundError. The exchange runs in a daemon thread abandoned when its time is up: a
    socket timeout bounds each read, not an answer dripped a byte at a time.
    """
    left = deadline.remaining()
    if left <= 0:
        raise OutboundError(f"was not tried: the run's sends had {deadline.seconds:g}s in all")
    where = target(url, credentials=credentials)
    allowed = min(SEND_TIMEOUT, left)
    outcome: list[int | OutboundError] = []

    def exchange() -> None:
        try:
            answer = open_exchange(method, where, timeout=allowed, headers=headers, body=body)
            try:
                answer.response.read(MAX_ANSWER)
            finally:
                answer.close()
            outcome.append(answer.response.status)
        except OutboundError as exc:
            outcome.append(exc)
        except (OSError, http.client.HTTPException) as exc:
            outcome.append(OutboundError(_reason(exc)))

    worker = threading.Thread(target=exchange, name="outbound-send", daemon=True)
    worker.start()
    worker.join(allowed)
    if worker.is_alive() or not outcome:
        raise OutboundError(f"did not answer within {round(allowed, 1):g}s")
    result = outcome[0]
    if isinstance(result, OutboundError):
        raise result
    return result

"""Console logs and build lists from a Jenkins server, within a deadline and without leaking credentials.

``diagnose BUILD_URL`` reads ``<build>/consoleText``; ``diagnose --builds N JOB_URL``
reads the job's last N builds from Jenkins' JSON API (``<job>/api/json``) and
then their console texts. Everything runs against one overall deadline (a
server that answers one byte a minute cannot hold the command), under the one
outbound policy (outbound.py): the credentials go only to the origin (scheme,
host, port) the user named, never in clear off loopback, and no redirect is
followed (one to another origin would hand them over).
"""

from __future__ import annotations

import http.client
import json
import time
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sos_inventory.errors import DiagnoseError, OutboundError
from sos_inventory.outbound import Exchange, Target, open_exchange, shown, target

_MAX_JSON = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Build:
    """One build of a Jenkins job."""

    number: int
    url: str
    time: str | None  # ISO 8601, UTC
    result: str | None  # SUCCESS, FAILURE, ... (None: still running)


def _target(url: str, credentials: str | None = None) -> Target:
    try:
        return target(url, credentials=credentials)
    except OutboundError as exc:
        raise DiagnoseError(f"{shown(url)}: {exc}") from None


def build_time(stamp: object) -> str | None:
    """A build's ``timestamp`` (milliseconds since the epoch) as UTC text; None when there is none
    or it names no instant a datetime holds (1e30, a negative year): the log's own times speak."""
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        return None
    try:
        return datetime.fromtimestamp(stamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return None


class Jenkins:
    """A reader of one Jenkins origin, with Basic auth if given, bounded by one deadline.

    Every request goes out under the one outbound policy (outbound.py): http(s) only, TLS
    verified, no redirect followed, and the credentials never in clear off loopback.
    """

    def __init__(
        self,
        url: str,
        user: str | None,
        token: str | None,
        timeout: float = 60.0,
        deadline: float | None = None,
    ) -> None:
        self._auth = None
        self._credentials = None
        if user and token:
            self._auth = "Basic " + b64encode(f"{user}:{token}".encode()).decode()
            self._credentials = "the Jenkins credentials"
        self.origin = _target(url, self._credentials).origin
        self.timeout = timeout
        # One deadline (time.monotonic()) may be shared by several readers: the command's own.
        self.deadline = time.monotonic() + timeout if deadline is None else deadline

    def _remaining(self, url: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DiagnoseError(f"{shown(url)}: no complete answer within {self.timeout:g}s")
        return left

    def _open(self, url: str) -> Exchange:
        where = _target(url, self._credentials)
        if where.origin != self.origin:
            # Build URLs are made from the job URL; one elsewhere would hand the credentials over.
            raise DiagnoseError(
                f"{shown(url)}: on another origin than {self.origin[0]}://{self.origin[1]}:{self.origin[2]}; "
                "not followed, so the Jenkins credentials stay where they belong"
            )
        headers = {"User-Agent": "sos-inventory-diagnose"}
        if self._auth:
            headers["Authorization"] = self._auth
        try:
            return open_exchange("GET", where, timeout=self._remaining(url), headers=headers)
        except OutboundError as exc:
            self._remaining(url)  # a timeout at the deadline says so
            raise DiagnoseError(f"{shown(url)}: {exc}") from None

    def blocks(self, url: str, size: int = 1024 * 1024) -> Iterator[bytes]:
        """The body at ``url`` in blocks of bytes, read under the deadline."""
        exchange = self._open(url)
        try:
            while True:
                if exchange.sock is not None:
                    exchange.sock.settimeout(self._remaining(url))
                try:
                    block = exchange.response.read1(size)
                except (OSError, http.client.HTTPException) as exc:
                    self._remaining(url)  # a timeout at the deadline says so
                    raise DiagnoseError(f"{shown(url)}: the answer broke off: {exc}") from None
                if not block:
                    return
                yield block
        finally:
            exchange.close()

    def console(self, build_url: str) -> Iterator[bytes]:
        """The console log of a build (``<build>/consoleText``), in blocks."""
        url = build_url.rstrip("/")
        if not url.endswith("/consoleText"):
            url += "/consoleText"
        return self.blocks(url)

    def builds(self, job_url: str, count: int) -> list[Build]:
        """The job's last ``count`` builds, newest first, from Jenkins' JSON API."""
        base = job_url.rstrip("/")
        url = f"{base}/api/json?tree=builds[number,timestamp,result]{{0,{count}}}"
        body = bytearray()
        for block in self.blocks(url):
            body += block
            if len(body) > _MAX_JSON:
                raise DiagnoseError(f"{shown(url)}: answer larger than {_MAX_JSON} bytes")
        try:
            data = json.loads(bytes(body))
            items = data["builds"]
            builds = []
            for item in items[:count]:
                number = int(item["number"])
                when = build_time(item.get("timestamp"))
                # The build URL is made from the job URL, not taken from the answer: same origin by construction.
                builds.append(Build(number, f"{base}/{number}/", when, item.get("result")))
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise DiagnoseError(f"{shown(url)}: not a Jenkins job's JSON ({exc})") from None
        return builds

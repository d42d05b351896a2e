"""Console logs and build lists from a Jenkins server, within a deadline and without leaking credentials.

``diagnose BUILD_URL`` reads ``<build>/consoleText``; ``diagnose --builds N JOB_URL``
reads the job's last N builds from Jenkins' JSON API (``<job>/api/json``) and
then their console texts. Everything runs against one overall deadline (a
server that answers one byte a minute cannot hold the command), and the
credentials go only to the origin (scheme, host, port) the user named: a
redirect to another origin is refused rather than followed with them.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from sos_inventory.errors import DiagnoseError

_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_JSON = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Build:
    """One build of a Jenkins job."""

    number: int
    url: str
    time: str | None  # ISO 8601, UTC
    result: str | None  # SUCCESS, FAILURE, ... (None: still running)


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DiagnoseError(f"{url}: not an http(s) URL")
    return parts.scheme, parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80)


class Jenkins:
    """A reader of one Jenkins origin, with Basic auth if given, bounded by one deadline."""

    def __init__(
        self,
        url: str,
        user: str | None,
        token: str | None,
        timeout: float = 60.0,
        deadline: float | None = None,
    ) -> None:
        self.origin = _origin(url)
        self.timeout = timeout
        # One deadline (time.monotonic()) may be shared by several readers: the command's own.
        self.deadline = time.monotonic() + timeout if deadline is None else deadline
        self._auth = None
        if user and token:
            self._auth = "Basic " + b64encode(f"{user}:{token}".encode()).decode()

    def _remaining(self, url: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DiagnoseError(f"{url}: no complete answer within {self.timeout:g}s")
        return left

    def _open(self, url: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, socket.socket]:
        for _ in range(5):
            origin = _origin(url)
            if origin != self.origin:
                # Following would hand the Jenkins credentials (or at least the request) to another host.
                raise DiagnoseError(
                    f"{url}: on another origin than {self.origin[0]}://{self.origin[1]}:{self.origin[2]}; "
                    "not followed, so the Jenkins credentials stay where they belong"
                )
            scheme, host, port = origin
            kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = kind(host, port, timeout=self._remaining(url))
            parts = urlsplit(url)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            headers = {"User-Agent": "sos-inventory-diagnose"}
            if self._auth:
                headers["Authorization"] = self._auth
            try:
                connection.request("GET", target, headers=headers)
                # Kept: for an answer that ends with the connection, the response takes the socket over.
                sock = connection.sock
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if time.monotonic() >= self.deadline:
                    raise DiagnoseError(f"{url}: no complete answer within {self.timeout:g}s") from None
                raise DiagnoseError(f"{url}: cannot fetch: {exc}") from None
            if response.status in _REDIRECTS and response.getheader("Location"):
                url = urljoin(url, response.getheader("Location") or "")
                connection.close()
                continue
            if response.status >= 300:
                connection.close()
                raise DiagnoseError(f"{url}: HTTP {response.status} {response.reason}")
            return connection, response, sock
        raise DiagnoseError(f"{url}: too many redirects")

    def blocks(self, url: str, size: int = 1024 * 1024) -> Iterator[bytes]:
        """The body at ``url`` in blocks of bytes, read under the deadline."""
        connection, response, sock = self._open(url)
        try:
            while True:
                sock.settimeout(self._remaining(url))
                try:
                    block = response.read1(size)
                except (OSError, http.client.HTTPException) as exc:
                    self._remaining(url)  # a timeout at the deadline says so
                    raise DiagnoseError(f"{url}: the answer broke off: {exc}") from None
                if not block:
                    return
                yield block
        finally:
            response.close()
            connection.close()

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
                raise DiagnoseError(f"{url}: answer larger than {_MAX_JSON} bytes")
        try:
            data = json.loads(bytes(body))
            items = data["builds"]
            builds = []
            for item in items[:count]:
                number = int(item["number"])
                stamp = item.get("timestamp")
                when = None
                if isinstance(stamp, int | float):
                    when = datetime.fromtimestamp(stamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                # The build URL is made from the job URL, not taken from the answer: same origin by construction.
                builds.append(Build(number, f"{base}/{number}/", when, item.get("result")))
        except (ValueError, KeyError, TypeError) as exc:
            raise DiagnoseError(f"{url}: not a Jenkins job's JSON ({exc})") from None
        return builds

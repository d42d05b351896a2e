"""The SOS inventory wire format (docs/sos-api.md): auth, paged queries, metadata lists, updates.

Every HTTP detail of the SOS API lives here, so a team can adapt the job to
the real service by changing this one module. Nothing else imports aiohttp.
Transport and HTTP failures are translated into :mod:`sos_inventory.errors`
types at this boundary, with the context a diagnosis needs and no secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from sys import intern
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import aiohttp

from sos_inventory.config import DEFAULT_MAX_BODY_MB, Credentials, RetryPolicy
from sos_inventory.errors import (
    ConfigError,
    Operation,
    SosConnectError,
    SosDnsError,
    SosError,
    SosProtocolError,
    SosTimeoutError,
    SosTlsError,
    detached,
    http_error_class,
)
from sos_inventory.inventory.resilience import RateLimiter, Resilience, gather_or_cancel
from sos_inventory.model import WRITABLE_FIELDS, ServerRecord
from sos_inventory.redact import mask_url, untrusted

log = logging.getLogger(__name__)

QUERY_PATH = "/inventory.nsf/tracker.xsp"
APPLICATIONS_PATH = "/inventory.nsf/applications.xsp"
ENVIRONMENTS_PATH = "/inventory.nsf/environments.xsp"
UPDATE_PATH = "/inventory.nsf/update.xsp"
MAX_PAGE_SIZE = 1000
#: The most records one C_Code's inventory is believed to hold: a ``total`` above it is a lie
#: (the whole fleet is about a million machines), and paging on it would never end.
MAX_RECORDS = 10_000_000
#: Pages asked for at once after page 1: enough to keep every connection busy (the requests
#: wait for one of the ``concurrency`` slots), few enough to bound what a lying ``total`` costs.
PAGE_WINDOW = 256
#: Bytes of an error answer read at most: the API's error object is small, and its message is
#: kept capped (300 characters); a proxy's 300 MB error page is cut here, not at max_body_mb.
MAX_ERROR_BODY = 2 << 20
#: Bytes of an answer that is one record (an update's) read at most.
MAX_RECORD_ANSWER = 1 << 20


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def record_from_item(item: object, c_code: str) -> ServerRecord:
    """A ServerRecord from one ``items`` entry; raises ValueError if it lacks the essentials."""
    if not isinstance(item, Mapping):
        raise ValueError(f"item is not an object: {item!r:.80}")
    unid, hostname = item.get("unid"), item.get("hostname")
    if not isinstance(unid, str) or not unid or not isinstance(hostname, str) or not hostname:
        raise ValueError(f"item without unid or hostname: {dict(item)!r:.120}")
    # Positional, in ServerRecord order, without the NamedTuple's Python-level __new__ and without
    # a loop: a million records are built per fleet-scale run. The low-cardinality fields (C_Code,
    # owners, status, stamps) are interned to share one string.
    get = item.get
    return _new_record(
        ServerRecord,
        (
            unid,
            intern(_text(get("c_code")) or c_code),
            _folded(hostname),
            _text(get("fqdn")),
            _text(get("ip_public")),
            _text(get("ip_private")),
            _text(get("device_id")),
            intern(_text(get("application"))),
            intern(_text(get("environment"))),
            intern(_text(get("status"))),
            intern(_text(get("last_modified"))),
        ),
    )


_new_record = tuple.__new__  # (tests/unit/test_records.py checks the field order)


def _folded(hostname: str) -> str:
    """The hostname in lower case, if it is ASCII; as it is otherwise, so that it matches no machine.

    Unicode case folding maps some letters onto ASCII ones (the Kelvin sign onto 'k'): a record
    named with one must not pass for the machine whose name it imitates.
    """
    if hostname.islower() or not hostname.isascii():  # str.lower always copies
        return hostname
    return hostname.lower()


def _text(value: object) -> str:
    return value if type(value) is str else "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class _Call:
    """One API call, and the context its errors carry."""

    method: str
    path: str
    params: Mapping[str, str | int]
    operation: Operation
    c_code: str
    body: Mapping[str, str] | None = None
    hostname: str | None = None
    unid: str | None = None

    def context(self, url: str | None = None) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "c_code": self.c_code,
            "url": url,
            "hostname": self.hostname,
            "unid": self.unid,
        }


class SosClient:
    """An async client of one SOS inventory service.

    Use as ``async with SosClient(url, credentials) as client: ...``. At most
    ``concurrency`` requests are in flight at once, over keep-alive connections.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        concurrency: int = 8,
        page_size: int = MAX_PAGE_SIZE,
        timeout: float = 15.0,
        resilience: Resilience | None = None,
        max_rps: float | None = None,
        ca_bundle: str | None = None,
        max_body: int = DEFAULT_MAX_BODY_MB << 20,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self._credentials = credentials
        self._concurrency = concurrency
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(concurrency)
        # Without a policy (tests of the wire format), every request is tried once.
        self.resilience = resilience or Resilience(RetryPolicy(attempts=1))
        # The limiter keeps the run's deadline: its waits never outlast it.
        self._limiter = RateLimiter(max_rps, deadline=self.resilience.deadline) if max_rps else None
        self._ca_bundle = ca_bundle
        self.max_body = max_body

    async def __aenter__(self) -> SosClient:
        # Loading the system's CAs takes tens of milliseconds: only for an https:// inventory.
        tls = tls_context(self._ca_bundle) if self.base_url.startswith("https:") else True
        connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=self._concurrency, ssl=tls)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auth=aiohttp.BasicAuth(self._credentials.email, self._credentials.token),
            timeout=aiohttp.ClientTimeout(total=self._timeout, connect=min(self._timeout, 5.0)),
            headers={"Accept": "application/json", "User-Agent": "sos-inventory"},
            raise_for_status=False,
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, call: _Call) -> Any:
        """One API call, retried by the run's resilience policy."""
        return await self.resilience.call(lambda: self._attempt(call), call.operation)

    async def _attempt(self, call: _Call) -> Any:
        """One try of ``call``. An error leaves detached: it keeps its message and fields, never
        the frames or the causes that held the answer's body (memory stays flat however many
        requests fail, whatever they were answered)."""
        try:
            return await self._exchange(call)
        except SosError as exc:
            raise detached(exc) from None

    async def _exchange(self, call: _Call) -> Any:
        if self._session is None:
            raise RuntimeError("SosClient used outside 'async with'")
        # The URL carries no credential (they travel in the Authorization header), so it is safe in errors.
        url = f"{self.base_url}{call.path}?{urlencode(call.params)}"
        context = call.context(url)
        if self._limiter is not None:
            await self._limiter.wait()
        try:
            # Redirects are never followed: the Authorization header would go to wherever they point.
            async with (
                self._slots,
                self._session.request(call.method, url, json=call.body, allow_redirects=False) as response,
            ):
                status = response.status
                if 300 <= status < 400:
                    location = untrusted(mask_url(response.headers.get("Location", "(none)")), 200)
                    raise SosProtocolError(
                        f"HTTP {status} redirect to {location}: redirects are not followed, so that the "
                        "credentials never reach another address; set inventory.url to the final address",
                        **context,
                    )
                retry_after = response.headers.get("Retry-After")
                if status >= 400:
                    code, message = await self._error_of(response)
                else:
                    payload = await self._body(response, call, context)
        except aiohttp.ClientConnectorDNSError as exc:
            raise SosDnsError(f"cannot resolve {exc.host}: {exc.os_error}", **context) from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            raise SosTlsError(
                f"the TLS certificate of {self.base_url} did not verify: {exc.certificate_error}", **context
            ) from exc
        except aiohttp.ClientSSLError as exc:
            raise SosTlsError(f"no TLS session with {self.base_url}: {exc}", **context) from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                raise SosConnectError(
                    f"cannot connect to {self.base_url}: connection refused by {exc.host} port {exc.port} "
                    "(nothing listens there)",
                    reason="refused",
                    **context,
                ) from exc
            raise SosConnectError(f"cannot connect to {self.base_url}: {exc}", **context) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise SosConnectError(f"cannot connect to {self.base_url}: {exc}", **context) from exc
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise SosTimeoutError(
                f"no answer within {self._timeout:g}s from {self.base_url}", **context
            ) from exc
        except aiohttp.ClientError as exc:  # its text may quote what the server sent: tamed
            raise SosConnectError(
                f"connection to {self.base_url} failed: {type(exc).__name__}: {untrusted(exc, 200)}",
                **context,
            ) from exc
        if status >= 400:
            raise http_error_class(status)(
                f"HTTP {status} {code}: {message}",
                status=status,
                code=code,
                retry_after=parse_retry_after(retry_after),
                **context,
            )
        try:
            return json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise SosProtocolError(
                f"HTTP {status} with a body that is not JSON (a login page?): {_excerpt(payload)}", **context
            ) from exc

    async def _body(self, response: aiohttp.ClientResponse, call: _Call, context: dict[str, Any]) -> bytes:
        """The whole body, or SosProtocolError as soon as it passes the call's limit: ``max_body``
        bytes (inventory.max_body_mb), or MAX_RECORD_ANSWER for an answer that is one record."""
        if call.operation == "update" and self.max_body > MAX_RECORD_ANSWER:
            limit, named = MAX_RECORD_ANSWER, f"{MAX_RECORD_ANSWER >> 10} KiB (an update answers one record)"
        else:
            limit, named = self.max_body, f"{self.max_body >> 20} MiB (inventory.max_body_mb)"
        declared = response.content_length
        if declared is not None and declared > limit:
            raise SosProtocolError(f"an answer of {declared} bytes, above the limit of {named}", **context)
        body, complete = await _read_up_to(response, limit)
        if not complete:
            raise SosProtocolError(f"an answer above the limit of {named}", **context)
        return body

    async def _error_of(self, response: aiohttp.ClientResponse) -> tuple[str, str]:
        """(code, message) of an error answer, read up to MAX_ERROR_BODY bytes; a larger one is
        not read further (the connection is dropped) and its start stands for the message."""
        limit = min(self.max_body, MAX_ERROR_BODY)
        declared = response.content_length
        if declared is not None and declared > limit:
            return "error", f"an error answer of {declared} bytes, not read (more than {limit >> 10} KiB)"
        body, complete = await _read_up_to(response, limit)
        if not complete:
            read = f"an error answer of more than {limit >> 10} KiB, not read further"
            excerpt = _excerpt(body)
            return "error", f"{read}: {excerpt}" if excerpt else read
        return _error_body(body)

    async def page(self, c_code: str, number: int, size: int | None = None) -> tuple[int, list[ServerRecord]]:
        """One page of a C_Code's inventory: (total records, the page's records)."""
        size = size or self.page_size
        params: dict[str, str | int] = {"c_code": c_code, "form": "server", "page": number, "pageSize": size}
        call = _Call("GET", QUERY_PATH, params, "query", c_code)
        data = await self._request(call)
        where = call.context(f"{self.base_url}{QUERY_PATH}?{urlencode(params)}")
        try:
            total = data["total"]
            items = data["items"]
            if type(total) is not int or not isinstance(items, list):
                raise TypeError("'total' is not an integer or 'items' not a list")
            records = [record_from_item(item, c_code) for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise SosProtocolError(
                f"page {number} is not a query result: {untrusted(exc, 200)}", **where
            ) from exc
        if not 0 <= total <= MAX_RECORDS:
            raise SosProtocolError(f"page {number} says the inventory holds {total} records", **where)
        if len(records) > size:
            raise SosProtocolError(f"page {number} holds {len(records)} records, more than {size}", **where)
        if (number - 1) * size + len(records) > total:
            raise SosProtocolError(
                f"page {number} of {size} holds {len(records)} records, more than the {total} the "
                "inventory says it holds",
                **where,
            )
        # Page 1 tells what the others may be: a short page is the last one.
        if number == 1 and len(records) < size and total != len(records):
            raise SosProtocolError(
                f"page 1 holds {len(records)} of {size} records, so the inventory has {len(records)}, "
                f"but it says {total}",
                **where,
            )
        return total, records

    async def fetch_inventory(
        self,
        c_code: str,
        first: tuple[int, list[ServerRecord]] | None = None,
        on_page: Callable[[], None] | None = None,
    ) -> list[ServerRecord]:
        """Every server record of a C_Code: page 1 (unless given), then the other pages concurrently.

        The pages must add up: a record twice (the same unid) or a count other than
        ``total`` is a protocol error, since a plan made of them could write on a lie.

        ``on_page`` is called as each of the other pages arrives (for the progress).
        """
        started = time.monotonic()
        total, records = first or await self.page(c_code, 1)
        pages = max(1, math.ceil(total / self.page_size))

        async def page(number: int) -> tuple[int, list[ServerRecord]]:
            result = await self.page(c_code, number)
            if on_page is not None:
                on_page()
            return result

        by_unid = {record.unid: record for record in records}
        read = len(records)
        # The pages are asked for in windows, so that a ``total`` that lies costs one window of
        # requests (a short page inside it ends the run), never millions of pending requests.
        for start in range(2, pages + 1, PAGE_WINDOW):
            numbers = range(start, min(pages, start + PAGE_WINDOW - 1) + 1)
            window = await gather_or_cancel(*(page(number) for number in numbers))
            for number, (page_total, more) in zip(numbers, window, strict=True):
                if page_total != total or (number < pages and len(more) < self.page_size):
                    raise SosProtocolError(
                        f"page {number} holds {len(more)} records and says the inventory holds "
                        f"{page_total}; page 1 said {total} in pages of {self.page_size}",
                        operation="query",
                        c_code=c_code,
                    )
                by_unid.update((record.unid, record) for record in more)
                read += len(more)
        if read != len(by_unid):
            raise SosProtocolError(
                f"the inventory's pages hold {read - len(by_unid)} record(s) twice (the same unid)",
                operation="query",
                c_code=c_code,
            )
        if read != total:
            raise SosProtocolError(
                f"the inventory said {total} records but its {pages} page(s) held {read}; "
                "nothing was planned on them (if records were being added or removed, rerun)",
                operation="query",
                c_code=c_code,
            )
        log.info(
            "%s: read %d records in %d page(s) in %.1fs",
            c_code,
            len(by_unid),
            pages,
            time.monotonic() - started,
            extra={"c_code": c_code},
        )
        return list(by_unid.values())

    async def records_of(self, c_code: str, hostname: str) -> list[ServerRecord]:
        """The records of one short hostname (a per-host query; for small runs on big inventories)."""
        params: dict[str, str | int] = {
            "c_code": c_code,
            "form": "server",
            "page": 1,
            "pageSize": MAX_PAGE_SIZE,
            "hostname": hostname,
        }
        data = await self._request(_Call("GET", QUERY_PATH, params, "query", c_code, hostname=hostname))
        try:
            records = [record_from_item(item, c_code) for item in data["items"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise SosProtocolError(
                f"hostname query is not a query result: {exc}",
                operation="query",
                c_code=c_code,
                hostname=hostname,
            ) from exc
        if len({record.unid for record in records}) != len(records):
            raise SosProtocolError(
                "hostname query holds a record twice (the same unid)",
                operation="query",
                c_code=c_code,
                hostname=hostname,
            )
        return records

    async def _names(self, path: str, c_code: str) -> frozenset[str]:
        data = await self._request(_Call("GET", path, {"c_code": c_code}, "query", c_code))
        try:
            return frozenset(_text(item["name"]) for item in data["items"])
        except (KeyError, TypeError) as exc:
            raise SosProtocolError(
                f"{path} answer is not a list of names", operation="query", c_code=c_code
            ) from exc

    async def applications(self, c_code: str) -> frozenset[str]:
        """The application names the C_Code's inventory accepts."""
        return await self._names(APPLICATIONS_PATH, c_code)

    async def environments(self, c_code: str) -> frozenset[str]:
        """The environment names the C_Code's inventory accepts."""
        return await self._names(ENVIRONMENTS_PATH, c_code)

    async def update(
        self, c_code: str, unid: str, fields: Mapping[str, str], *, hostname: str
    ) -> ServerRecord:
        """Write absolute metadata values to one record; return the record as the API now has it."""
        unknown = set(fields) - set(WRITABLE_FIELDS)
        if unknown:
            raise ValueError(f"only {WRITABLE_FIELDS} may be written, not {sorted(unknown)}")
        params: dict[str, str | int] = {"c_code": c_code, "form": "server", "unid": unid}
        call = _Call("POST", UPDATE_PATH, params, "update", c_code, dict(fields), hostname, unid)
        data = await self._request(call)
        try:
            return record_from_item(data, c_code)
        except ValueError as exc:
            raise SosProtocolError(
                f"update answer is not a record: {untrusted(exc, 200)}", **call.context()
            ) from exc


async def _read_up_to(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """(the body, True), or (its first 200 bytes, False) as soon as it passes ``limit`` bytes:
    the rest is never read (leaving the ``async with`` drops the connection) and what was read
    is let go."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            return (chunks[0] if chunks else chunk)[:200], False
        chunks.append(chunk)
    return b"".join(chunks), True


def _error_body(payload: bytes) -> tuple[str, str]:
    """(code, message) from an error body, capped and escaped: the server's text is not trusted."""
    try:
        error = json.loads(payload)["error"]
        return untrusted(error.get("code", "error"), 64), untrusted(error.get("message", ""), 300)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return "error", _excerpt(payload) if payload.strip() else "(empty body)"


def _excerpt(payload: bytes) -> str:
    """The start of a body that is not the API's, for a message: short and escaped."""
    return untrusted(payload[:200].decode("utf-8", "replace").strip(), 120)


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """Verify certificates against the system's CAs (or SSL_CERT_FILE's), plus ``ca_bundle``'s.

    Raises ConfigError when the bundle cannot be read as PEM certificates.
    """
    context = ssl.create_default_context()
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"CA bundle {ca_bundle}: not a PEM file of certificates ({exc})") from None
    return context


__all__ = ["SosClient", "SosError", "parse_retry_after", "record_from_item"]

"""The reference SOS server's HTTP side: the routes of docs/sos-api.md, over a
:class:`~sos_inventory.server.store.Store`.

A request passes through, outermost first::

    observe    access log line + request statistics (sees every final status,
               and every fault an inner middleware reports with note_fault)
    errors     ApiError / aiohttp HTTP errors / crashes -> {"error": {...}} body
    extra      e.g. fault injection (server/faults.py): its errors get the API
               shape above and are counted, and it runs before any real work
    latency    --latency-ms, API routes only: half before the handler, half after
    handler    authenticate (401), parse C_Code (400), authorize (403), the rest

``/_ref/stats`` and ``/_ref/stats/reset`` belong to the reference server only:
they need no auth (they hold no secret) and are not counted. The runner
(``server/runner.py``) adds ``/_ref/faults`` the same way.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Literal, NamedTuple, TextIO
from urllib.parse import urlencode

from aiohttp import BasicAuth, hdrs, web
from aiohttp.typedefs import Handler, Middleware

from sos_inventory.server.auth import Role, Users
from sos_inventory.server.openapi import MAX_BODY, document
from sos_inventory.server.store import (
    UPDATABLE_FIELDS,
    InvalidValue,
    RecordNotFound,
    Store,
    is_c_code,
)

__all__ = ["API_KINDS", "ApiError", "Dropped", "RequestStats", "create_app", "note_fault", "request_kind"]

API_KINDS = ("query", "query_hostname", "applications", "environments", "update")
MAX_PAGE_SIZE = 1000
# Query parameters whose values may appear in the access log; any other
# parameter's value is masked, in case a client puts a secret there.
_LOGGABLE_PARAMS = frozenset({"c_code", "form", "page", "pageSize", "hostname", "unid"})
_DIGITS = re.compile(r"[0-9]{1,9}")
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_value",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "gateway_timeout",
}


class ApiError(Exception):
    """An error answer in the API's shape; raise it from a handler or middleware."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.headers = dict(headers or {})


class RequestStats:
    """Counts of API requests by kind, by C_Code, by status and by injected fault."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every count."""
        self.requests = 0
        self.by_kind: Counter[str] = Counter(dict.fromkeys(API_KINDS, 0))
        self.by_c_code: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def record(
        self, kind: str | None, c_code: str | None, status: int | str, fault: str | None = None
    ) -> None:
        """Count one finished request; ``kind``, ``c_code`` and ``fault`` are None when unknown
        or absent. ``status`` is the HTTP status, or a word when no answer was sent."""
        self.requests += 1
        self.by_status[str(status)] += 1
        if kind is not None:
            self.by_kind[kind] += 1
        if c_code is not None:
            self.by_c_code[c_code] += 1
        if fault is not None:
            self.faults[fault] += 1

    def as_json(self) -> dict[str, Any]:
        """The counts as a JSON-ready dict (see the module docstring of ``server``)."""
        counts: dict[str, Any] = {
            "requests": self.requests,
            "by_kind": dict(self.by_kind),
            "by_c_code": dict(sorted(self.by_c_code.items())),
            "by_status": dict(sorted(self.by_status.items())),
        }
        # Only once a fault was injected, so that without faults the shape stays as it was.
        if self.faults:
            counts["faults"] = dict(sorted(self.faults.items()))
        return counts


Dropped = Literal["drop-before", "drop-after"]


class _Injected(NamedTuple):
    name: str
    dropped: Dropped | None


# The fault injected into the current request, for the observe middleware. aiohttp
# runs every request in a task of its own and middlewares are nested awaits in that
# task, so a context variable is per request; it saves a string key in the request
# (which aiohttp 3.14 warns about) and a RequestKey (which aiohttp 3.11 lacks).
_INJECTED: ContextVar[_Injected | None] = ContextVar("sos_injected_fault", default=None)


def note_fault(name: str, dropped: Dropped | None = None) -> None:
    """Report, from a middleware inside ``observe``, a fault injected into this request.

    ``name`` is counted under ``faults`` in /_ref/stats and logged as ``fault=NAME``.
    ``dropped`` says the connection was closed with no answer: the access log and
    ``by_status`` then show that word instead of a status the client never saw.
    """
    _INJECTED.set(_Injected(name, dropped))


STORE = web.AppKey("store", Store)
USERS = web.AppKey("users", Users)
STATS = web.AppKey("stats", RequestStats)


def create_app(
    store: Store,
    users: Users,
    *,
    latency_ms: int = 0,
    access_log: TextIO | None = None,
    extra_middlewares: Sequence[Middleware] = (),
) -> web.Application:
    """The server as an aiohttp application.

    ``access_log`` gets one line per request (None: no log). ``extra_middlewares``
    run between error mapping and latency (see the module docstring).
    """
    app = web.Application(
        middlewares=[_observe(access_log), _errors(access_log), *extra_middlewares, _latency(latency_ms)],
        client_max_size=MAX_BODY,  # a larger body is answered 413 before it is read
    )
    app[STORE] = store
    app[USERS] = users
    app[STATS] = RequestStats()
    app.router.add_get("/inventory.nsf/tracker.xsp", _query, name="query")
    app.router.add_get("/inventory.nsf/applications.xsp", _applications, name="applications")
    app.router.add_get("/inventory.nsf/environments.xsp", _environments, name="environments")
    app.router.add_post("/inventory.nsf/update.xsp", _update, name="update")
    app.router.add_get("/openapi.json", _openapi, name="openapi")
    app.router.add_get("/_ref/stats", _stats, name="ref_stats")
    app.router.add_post("/_ref/stats/reset", _stats_reset, name="ref_stats_reset")
    return app


# -- middlewares ---------------------------------------------------------------


def request_kind(request: web.Request) -> str | None:
    """The API kind of a request, or None for /_ref/ and unknown routes."""
    name = request.match_info.route.name
    if name == "query" and "hostname" in request.query:
        return "query_hostname"
    return name if name in API_KINDS else None


def _observe(log: TextIO | None) -> Middleware:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        # If the handler is cancelled (client gone) no status was sent; 499 as nginx does.
        status: int | str = 499
        token = _INJECTED.set(None)
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            injected = _INJECTED.get()
            _INJECTED.reset(token)
            fault = None
            if injected is not None:
                fault = injected.name
                status = injected.dropped or status
            if not request.path.startswith("/_ref/"):
                c_code = request.query.get("c_code")
                kind = request_kind(request)
                counted_c_code = c_code if kind is not None and c_code and is_c_code(c_code) else None
                request.app[STATS].record(kind, counted_c_code, status, fault)
            if log is not None:
                elapsed_ms = (time.monotonic() - started) * 1000
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                print(
                    f"{stamp} {request.remote} {request.method} {_loggable_target(request)}"
                    f" {status} {elapsed_ms:.1f}ms" + (f" fault={fault}" if fault else ""),
                    file=log,
                    flush=True,
                )

    return observe


def _loggable_target(request: web.Request) -> str:
    """Path and query with the values of unexpected parameters masked."""
    params = [(k, v if k in _LOGGABLE_PARAMS else "***") for k, v in request.query.items()]
    return request.path + (f"?{urlencode(params, safe='*')}" if params else "")


def _errors(log: TextIO | None) -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return _error_response(exc.status, exc.code, exc.message, exc.headers)
        except web.HTTPException as exc:
            # aiohttp's own answers: unknown path (404), wrong method (405), body too big.
            if exc.status < 400:
                raise
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            message = {
                404: f"no such endpoint: {request.path}",
                405: f"{request.method} is not allowed on {request.path}",
            }.get(exc.status, exc.reason)
            return _error_response(exc.status, _CODES.get(exc.status, "error"), message, headers)
        except Exception:
            if log is not None:
                print(f"internal error on {request.method} {request.path}:", file=log)
                traceback.print_exc(file=log)
            return _error_response(500, "internal_error", "the reference server failed; see its log", {})

    return errors


def _error_response(status: int, code: str, message: str, headers: Mapping[str, str]) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _latency(latency_ms: int) -> Middleware:
    @web.middleware
    async def latency(request: web.Request, handler: Handler) -> web.StreamResponse:
        # A network round trip: half the latency on the way in, half on the way back. (All of
        # it before the handler, as first written, made this single-threaded server handle the
        # requests that woke together one after the other, as a real multi-threaded service
        # does not: 16 requests in flight then took ~30 ms, not ~21, per round at 20 ms.)
        if latency_ms > 0 and request_kind(request) is not None:
            await asyncio.sleep(latency_ms / 2000)
            try:
                response = await handler(request)
            except Exception:  # an error answer travels back too (a cancellation does not wait)
                await asyncio.sleep(latency_ms / 2000)
                raise
            await asyncio.sleep(latency_ms / 2000)
            return response
        return await handler(request)

    return latency


# -- request parsing and auth ----------------------------------------------------


def _param(request: web.Request, name: str) -> str:
    """The one value of a required query parameter, else 400."""
    values = request.query.getall(name, [])
    if not values:
        raise ApiError(400, f"missing query parameter {name}")
    if len(values) > 1:
        raise ApiError(400, f"query parameter {name} given more than once")
    return values[0]


def _int_param(request: web.Request, name: str, low: int, high: int) -> int:
    text = _param(request, name)
    value = int(text) if _DIGITS.fullmatch(text) else None
    if value is None or not low <= value <= high:
        raise ApiError(400, f"{name} must be an integer from {low} to {high}, not {text!r}")
    return value


def _require_server_form(request: web.Request) -> None:
    if (form := _param(request, "form")) != "server":
        raise ApiError(400, f"form must be 'server', not {form!r}")


def _authorize(request: web.Request, need: Role) -> str:
    """Authenticate (401), read the C_Code (400), check the role (403); return the C_Code."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    challenge = {"WWW-Authenticate": 'Basic realm="SOS"'}
    if header is None:
        raise ApiError(401, "credentials required (HTTP Basic: email and token)", headers=challenge)
    try:
        credentials = BasicAuth.decode(header, encoding="utf-8")
    except ValueError:
        raise ApiError(401, "malformed Authorization header", headers=challenge) from None
    user = request.app[USERS].authenticate(credentials.login, credentials.password)
    if user is None:
        raise ApiError(401, "unknown user or wrong token", headers=challenge)
    c_code = _param(request, "c_code")
    if not is_c_code(c_code):
        raise ApiError(400, f"c_code {c_code!r} is not a C_Code")
    allowed = user.may_edit(c_code) if need is Role.EDITOR else user.may_read(c_code)
    if not allowed:
        role = "Editor" if need is Role.EDITOR else "Reader"
        raise ApiError(403, f"user {user.email} lacks the {role} role for C_Code {c_code}")
    return c_code


# -- handlers --------------------------------------------------------------------
# The SQLite calls below block the event loop on purpose: they are indexed
# lookups of a few milliseconds, and one thread keeps the connection safe.


async def _query(request: web.Request) -> web.Response:
    c_code = _authorize(request, Role.READER)
    _require_server_form(request)
    page = _int_param(request, "page", 1, 10**9)
    page_size = _int_param(request, "pageSize", 1, MAX_PAGE_SIZE)
    hostname = _param(request, "hostname") if "hostname" in request.query else None
    if hostname is not None and not hostname.strip():
        raise ApiError(400, "hostname must not be empty")
    total, items = request.app[STORE].query_json(c_code, page, page_size, hostname)
    # The page's JSON text comes from the store, ready-made: a 1000-record page is ~370 kB.
    head = json.dumps({"c_code": c_code, "page": page, "pageSize": page_size, "total": total})
    return web.Response(text=f'{head[:-1]}, "items": {items}}}', content_type="application/json")


async def _applications(request: web.Request) -> web.Response:
    c_code = _authorize(request, Role.READER)
    return web.json_response({"items": [{"name": n} for n in request.app[STORE].applications(c_code)]})


async def _environments(request: web.Request) -> web.Response:
    c_code = _authorize(request, Role.READER)
    return web.json_response({"items": [{"name": n} for n in request.app[STORE].environments(c_code)]})


async def _update(request: web.Request) -> web.Response:
    c_code = _authorize(request, Role.EDITOR)
    _require_server_form(request)
    unid = _param(request, "unid")
    try:
        fields = json.loads(await request.read())
    except ValueError:
        raise ApiError(400, "the body is not JSON") from None
    except RecursionError:
        raise ApiError(400, "the body nests too deeply") from None
    if not isinstance(fields, dict) or not fields:
        raise ApiError(400, f"the body must be a JSON object with some of {', '.join(UPDATABLE_FIELDS)}")
    unknown = sorted(set(fields) - set(UPDATABLE_FIELDS))
    if unknown:
        raise ApiError(400, f"unknown fields {', '.join(unknown)}; only {', '.join(UPDATABLE_FIELDS)}")
    if not all(isinstance(value, str) for value in fields.values()):
        raise ApiError(400, "field values must be strings")
    try:
        record = request.app[STORE].update(c_code, unid, fields)
    except RecordNotFound as exc:
        raise ApiError(404, str(exc)) from None
    except InvalidValue as exc:
        raise ApiError(422, str(exc)) from None
    return web.json_response(record)


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATS].as_json())


async def _stats_reset(request: web.Request) -> web.Response:
    request.app[STATS].reset()
    return web.json_response(request.app[STATS].as_json())

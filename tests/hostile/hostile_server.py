"""A hostile SOS inventory on 127.0.0.1: an aiohttp server in a thread, whose answers each test scripts.

    with HostileServer() as server:
        server.behave(query=lambda request: web.json_response({...}))
        server.url          # "http://127.0.0.1:<port>"
        server.requests     # [(method, path_qs), ...] every request it received
        server.writes()     # how many update requests reached it

Applications and environments answer the names the crafted fleet uses, unless
scripted otherwise; any other path answers 404. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.e2e.conftest import APPS, ENVS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _names_of(names: list[str]) -> web.Response:
    return web.json_response({"items": [{"name": name} for name in names]})


class HostileServer:
    """One scripted server; ``behave`` replaces its answers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self._handlers: dict[str, Handler] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def behave(self, **handlers: Handler) -> None:
        """Script the answers: keys ``query``, ``applications``, ``environments``, ``update``, and
        ``hook`` (any path under /hook: a webhook, a Jenkins build)."""
        self._handlers = dict(handlers)
        self.requests.clear()

    def writes(self) -> int:
        return sum(1 for method, path in self.requests if method == "POST" and "update.xsp" in path)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        kinds = {
            "/inventory.nsf/tracker.xsp": "query",
            "/inventory.nsf/applications.xsp": "applications",
            "/inventory.nsf/environments.xsp": "environments",
            "/inventory.nsf/update.xsp": "update",
        }
        kind = kinds.get(request.path) or ("hook" if request.path.startswith("/hook") else None)
        handler = self._handlers.get(kind or "")
        if handler is not None:
            return await handler(request)
        if kind == "applications":
            return await _names_of(APPS)
        if kind == "environments":
            return await _names_of(ENVS)
        return web.json_response({"error": {"code": "not_found", "message": "no"}}, status=404)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    def __enter__(self) -> HostileServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=15)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=15)


def page(items: list[dict[str, Any]], total: int, number: int = 1, size: int = 4) -> dict[str, Any]:
    """A query answer in the API's shape."""
    return {"c_code": "ALC", "page": number, "pageSize": size, "total": total, "items": items}


def item(hostname: str, unid: str, **fields: str) -> dict[str, str]:
    """One record in the API's shape."""
    return {
        "unid": unid,
        "c_code": "ALC",
        "hostname": hostname,
        "fqdn": f"{hostname}.alchemy.ibm.com",
        "application": "containers-kubernetes",
        "environment": "PROD-US-SOUTH",
        "status": "Build",
        **fields,
    }

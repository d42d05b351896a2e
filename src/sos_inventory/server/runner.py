"""Run the reference SOS server: load the users, open the store, build the app
(with its fault injector) and serve until SIGTERM or SIGINT.

Kept apart from ``app`` so that ``app`` knows nothing of ``faults``: the
injector reaches the app only as an extra middleware and two ``/_ref/`` routes.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import sys
from pathlib import Path

from aiohttp import web

from sos_inventory.private import write_private
from sos_inventory.server.app import create_app
from sos_inventory.server.auth import DEMO_EMAIL, Users, load_users
from sos_inventory.server.faults import FaultInjector, Faults
from sos_inventory.server.store import Store

__all__ = ["run"]


def run(
    db: str | Path,
    host: str = "127.0.0.1",
    port: int = 8742,
    *,
    users_path: str | Path | None = None,
    port_file: str | Path | None = None,
    latency_ms: int = 0,
    faults: Faults | None = None,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
) -> int:
    """Serve until SIGTERM or SIGINT; return the exit code (0).

    ``port=0`` picks a free port. Once listening, prints one line to stdout and
    writes the port to ``port_file`` (atomically; removed again on exit).
    ``faults`` are injected from the start (see :mod:`.faults`); ``/_ref/faults``
    changes them at run time. Raises UsersError for bad users and OSError when
    the address is taken or the certificate cannot be loaded (ssl.SSLError is one).
    With ``tls_cert`` and ``tls_key`` (PEM files) it serves HTTPS.
    """
    users = load_users(users_path)
    tls = None
    if tls_cert is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(tls_cert), None if tls_key is None else str(tls_key))
    return asyncio.run(
        _serve(
            db=Path(db),
            host=host,
            port=port,
            users=users,
            port_file=port_file,
            latency_ms=latency_ms,
            faults=faults or Faults(),
            tls=tls,
        )
    )


async def _serve(
    *,
    db: Path,
    host: str,
    port: int,
    users: Users,
    port_file: str | Path | None,
    latency_ms: int,
    faults: Faults,
    tls: ssl.SSLContext | None = None,
) -> int:
    if users.demo:
        print(
            f"no --users file and no $SOS_SERVER_USERS: accepting only the demo user {DEMO_EMAIL}"
            " (editor on every C_Code; its token is in `sos-inventory server run --help`)",
            file=sys.stderr,
        )
    else:
        print(f"{len(users.users)} users from {users.source}", file=sys.stderr)
    if not db.exists():
        print(f"creating an empty database {db}; add data with `sos-inventory server seed`", file=sys.stderr)
    if faults.active:
        print(f"injecting faults: {json.dumps(faults.as_json())}", file=sys.stderr)
    store = Store(db)
    injector = FaultInjector(faults)
    app = create_app(
        store, users, latency_ms=latency_ms, access_log=sys.stderr, extra_middlewares=[injector.middleware()]
    )
    injector.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port, shutdown_timeout=5, ssl_context=tls)
        await site.start()
        # The outage clock counts from the moment clients can connect, not from start-up.
        injector.set(faults)
        actual_port = int(runner.addresses[0][1])
        shown_host = f"[{host}]" if ":" in host else host
        print(
            f"sos-inventory reference server listening on {'https' if tls else 'http'}://{shown_host}:"
            f"{actual_port} (db: {db})",
            flush=True,
        )
        if port_file is not None:
            write_private(Path(port_file), f"{actual_port}\n")  # atomic: a reader polling never sees half
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        print("stopping", file=sys.stderr, flush=True)
    finally:
        await runner.cleanup()
        store.close()
        if port_file is not None:
            Path(port_file).unlink(missing_ok=True)
    return 0

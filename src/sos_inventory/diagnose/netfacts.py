"""The addresses a connectivity ticket asks for: the inventory's, the resolver's, the agent's own.

The runbook's TaaS ticket wants "the IP addresses involved". They are looked up once, when a
run ends with a DNS or network cause, each step bounded and none able to fail the run: the
inventory host's address (the system resolver, when DNS works), the first resolver of
``/etc/resolv.conf``, and the agent's own address toward the inventory (the source address the
kernel picks for a UDP socket connected there: no packet is sent).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

RESOLV_CONF = Path("/etc/resolv.conf")
#: The longest a lookup of the inventory's address may take when the run has already failed.
LOOKUP_TIMEOUT = 2.0


def first_resolver(path: Path = RESOLV_CONF) -> str | None:
    """The first ``nameserver`` of resolv.conf (None: no file, or none listed)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[:200]
    except OSError:
        return None
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                return str(ipaddress.ip_address(words[1].split("%")[0]))
            except ValueError:
                continue
    return None


def _address_of(host: str, port: int, timeout: float) -> str | None:
    """The first address ``host`` resolves to, within ``timeout`` (getaddrinfo has no timeout of its own)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    found: list[str] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        if infos:
            found.append(str(infos[0][4][0]))

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    return found[0] if found else None


def local_address_toward(remote: str, port: int) -> str | None:
    """The agent's own address on the route to ``remote`` (no packet is sent)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(remote).version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((remote, port))
            return str(probe.getsockname()[0])
    except (OSError, ValueError):
        return None


def network_facts(url: str, *, resolve: bool, timeout: float = LOOKUP_TIMEOUT) -> dict[str, str]:
    """``host``, ``port``, ``remote_ip``, ``resolver_ip`` and ``local_ip`` of the inventory at ``url``,
    as far as they can be known; ``resolve`` False when DNS itself failed (a lookup would only wait)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 443
    facts = {"host": host, "port": str(port)} if host else {}
    resolver = first_resolver()
    if resolver:
        facts["resolver_ip"] = resolver
    remote = _address_of(host, port, timeout) if host and resolve else None
    if remote:
        facts["remote_ip"] = remote
    toward = remote or resolver
    local = local_address_toward(toward, port if remote else 53) if toward else None
    if local:
        facts["local_ip"] = local
    return facts

"""A client of the reference server's own endpoints (``/_ref/...``): statistics and faults.

For tests, benchmarks and scripts that drive a running reference server; the
standard library only. A class that knows the server's ``url`` inherits these
calls (``tests/serverutil.RunningServer``, ``bench/benchlib.Server``).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any


class ReferenceControl:
    """``stats``, ``reset_stats``, ``faults`` and ``set_faults`` of the server at ``url``."""

    control_timeout = 10.0  # seconds per call

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _call(self, path: str, body: bytes | None = None) -> dict[str, Any]:
        method = "GET" if body is None else "POST"
        request = urllib.request.Request(f"{self.url}{path}", data=body, method=method)
        with urllib.request.urlopen(request, timeout=self.control_timeout) as response:
            result: dict[str, Any] = json.load(response)
        return result

    def stats(self) -> dict[str, Any]:
        """The server's request statistics (GET /_ref/stats)."""
        return self._call("/_ref/stats")

    def reset_stats(self) -> None:
        """Zero the server's request statistics (POST /_ref/stats/reset)."""
        self._call("/_ref/stats/reset", b"")

    def faults(self) -> dict[str, Any]:
        """The faults in force (GET /_ref/faults)."""
        return self._call("/_ref/faults")

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Replace the faults (POST /_ref/faults): keys left out take their defaults,
        so ``set_faults()`` clears them. Returns the faults now in force."""
        return self._call("/_ref/faults", json.dumps(settings).encode())

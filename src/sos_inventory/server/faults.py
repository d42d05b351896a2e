"""Fault injection for the reference SOS server, for chaos tests and benchmarks.

:class:`Faults` says what to inject; :class:`FaultInjector` holds the live value
(replaceable through ``/_ref/faults``), the outage clock and the random source,
and provides the middleware. It touches only API requests of ``Faults.kinds``
(never ``/_ref/*``), each at most once: inside the outage window ``outage-503``
or ``outage-drop``; otherwise one random draw picks ``error-<status>``,
``drop-before``, ``drop-after`` or nothing. Those names are the keys of
``faults`` in ``/_ref/stats`` and the ``fault=`` word of the access log.

Errors answer before the handler runs, in the API's error shape, with
``Retry-After`` on 429 and 503. A drop closes the connection's transport (a
FIN) and leaves aiohttp a response it cannot write, which aiohttp takes for a
client gone away: the client sees the connection close with no HTTP answer
(aiohttp ``ServerDisconnectedError``, http.client ``RemoteDisconnected``), the
log shows ``drop-before``/``drop-after`` for the status, other connections go on.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sos_inventory.server.app import API_KINDS, ApiError, Dropped, note_fault, request_kind

__all__ = ["Fault", "FaultInjector", "Faults"]

OutageMode = Literal["503", "drop"]
_OUTAGE_MODES = ("503", "drop")
_RETRY_AFTER = re.compile(r"(?:(date|mix):)?([0-9]{1,5})")
_MAX_RETRY_AFTER = 86400
_STATUS = re.compile(r"[0-9]{3}")
# Float sums such as 0.7 + 0.2 + 0.1 land a hair above 1.
_EPSILON = 1e-9
_KEYS = ("error_rates", "retry_after", "drop_before", "drop_after", "outage", "outage_mode", "kinds", "seed")


def _rate(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a number from 0 to 1, not {value!r}")  # NaN fails too
    return float(value)


def _status(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise ValueError(f"an error status must be an integer from 400 to 599, not {value!r}")
    return value


@dataclass(frozen=True)
class Faults:
    """What the reference server injects; the default injects nothing.

    ``error_rates`` maps a status (400..599) to the probability that an API
    request is answered with it; ``drop_before``/``drop_after`` are the
    probabilities of closing the connection before the handler runs (nothing
    written) or after it (written, answer lost). These probabilities add up to
    at most 1. ``retry_after`` (429 and 503 only) is ``"N"`` seconds,
    ``"date:N"`` (an HTTP-date N s ahead) or ``"mix:N"`` (alternately each).
    ``outage`` is ``(start, duration)`` in seconds after the faults were set,
    during which every request fails as ``outage_mode`` says. ``kinds`` are the
    request kinds hit; ``seed`` makes the draws reproducible. Invalid values
    raise ValueError.
    """

    error_rates: Mapping[int, float] = field(default_factory=dict)
    retry_after: str | None = None
    drop_before: float = 0.0
    drop_after: float = 0.0
    outage: tuple[float, float] | None = None
    outage_mode: OutageMode = "503"
    kinds: frozenset[str] = frozenset(API_KINDS)
    seed: int | None = None

    def __post_init__(self) -> None:
        # Normalise as well as check, so equal settings compare equal and stay immutable.
        rates = {_status(s): _rate(r, f"the rate of {s}") for s, r in self.error_rates.items()}
        object.__setattr__(self, "error_rates", MappingProxyType(dict(sorted(rates.items()))))
        object.__setattr__(self, "drop_before", _rate(self.drop_before, "drop_before"))
        object.__setattr__(self, "drop_after", _rate(self.drop_after, "drop_after"))
        total = sum(rates.values()) + self.drop_before + self.drop_after
        if total > 1 + _EPSILON:
            raise ValueError(f"the error and drop rates add up to {total:g}; at most 1 is possible")
        if self.retry_after is not None:
            _retry_after_form(self.retry_after)
        if self.outage is not None:
            object.__setattr__(self, "outage", _outage(self.outage))
        if self.outage_mode not in _OUTAGE_MODES:
            raise ValueError(f"outage_mode must be '503' or 'drop', not {self.outage_mode!r}")
        if isinstance(self.kinds, str) or not all(isinstance(k, str) for k in self.kinds):
            raise ValueError(f"kinds must be a set of request kinds, not {self.kinds!r}")
        kinds = frozenset(self.kinds)
        unknown = sorted(kinds - set(API_KINDS))
        if unknown or not kinds:
            shown = ", ".join(unknown) if unknown else "none"
            raise ValueError(f"unknown request kinds: {shown}; choose from {', '.join(API_KINDS)}")
        object.__setattr__(self, "kinds", kinds)
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"seed must be an integer or null, not {self.seed!r}")

    def __hash__(self) -> int:  # the generated one would choke on the read-only rates mapping
        return hash(json.dumps(self.as_json(), sort_keys=True))

    @property
    def active(self) -> bool:
        """Whether any fault can be injected at all."""
        rates = (*self.error_rates.values(), self.drop_before, self.drop_after)
        return any(rate > 0 for rate in rates) or self.outage is not None

    def as_json(self) -> dict[str, Any]:
        """The settings as the JSON object of ``GET /_ref/faults``; :meth:`from_json` reads it back."""
        return {
            "error_rates": {str(status): rate for status, rate in self.error_rates.items()},
            "retry_after": self.retry_after,
            "drop_before": self.drop_before,
            "drop_after": self.drop_after,
            "outage": list(self.outage) if self.outage is not None else None,
            "outage_mode": self.outage_mode,
            "kinds": sorted(self.kinds),
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, data: object) -> Faults:
        """Faults from a JSON object with some of :meth:`as_json`'s keys (the rest default)."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise ValueError(f"unknown keys {', '.join(map(str, unknown))}; known: {', '.join(_KEYS)}")
        settings = dict(data)
        rates = settings.get("error_rates", {})
        if not isinstance(rates, dict):
            raise ValueError('error_rates must be an object such as {"503": 0.1}')
        bad = [key for key in rates if not _STATUS.fullmatch(key)]
        if bad:
            raise ValueError(f"error_rates keys must be statuses such as '503', not {bad[0]!r}")
        settings["error_rates"] = {int(key): rate for key, rate in rates.items()}
        if "kinds" in settings:
            kinds = settings["kinds"]
            if not isinstance(kinds, list):
                raise ValueError(f"kinds must be a list such as ['query', 'update'], not {kinds!r}")
            settings["kinds"] = frozenset(kinds)
        # The rest (types, ranges, the outage pair) is checked by __post_init__.
        return cls(**settings)


def _retry_after_form(text: str) -> tuple[str, int]:
    """``"2"`` -> ("seconds", 2); ``"date:2"`` -> ("date", 2); ``"mix:2"`` -> ("mix", 2)."""
    match = _RETRY_AFTER.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match[2]) > _MAX_RETRY_AFTER:
        raise ValueError(f"retry_after must be SECONDS, date:SECONDS or mix:SECONDS (0..86400), not {text!r}")
    return match[1] or "seconds", int(match[2])


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _outage(value: object) -> tuple[float, float]:
    if isinstance(value, tuple | list) and len(value) == 2:
        start, duration = _seconds(value[0]), _seconds(value[1])
        if start is not None and duration is not None and start >= 0 and duration > 0:
            return start, duration
    raise ValueError(f"outage must be [start >= 0, duration > 0] in seconds, not {value!r}")


# -- the injector ---------------------------------------------------------------------


class Fault(NamedTuple):
    """One injected fault: its name (stats key, log word) and what it does."""

    name: str
    status: int | None = None
    dropped: Dropped | None = None


_DROP_BEFORE = Fault("drop-before", dropped="drop-before")
_DROP_AFTER = Fault("drop-after", dropped="drop-after")
_OUTAGE = {"503": Fault("outage-503", status=503), "drop": Fault("outage-drop", dropped="drop-before")}


class FaultInjector:
    """The faults a running server injects now, with their clock and random source.

    Decisions are synchronous on the event loop, so with a seed the n-th faultable
    request always meets the same fate, whatever the concurrency.
    """

    def __init__(
        self,
        faults: Faults | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self.set(faults or Faults())

    @property
    def faults(self) -> Faults:
        """The faults in force."""
        return self._faults

    def set(self, faults: Faults) -> None:
        """Replace the faults, restarting the outage clock and the seeded random sequence."""
        self._faults = faults
        self._since = self._clock()
        self._random = random.Random(faults.seed)
        self._retry_after_count = 0

    def outage_active(self) -> bool:
        """Whether the outage window is open now."""
        if self._faults.outage is None:
            return False
        start, duration = self._faults.outage
        return start <= self._clock() - self._since < start + duration

    def decide(self, kind: str) -> Fault | None:
        """The fault for the next request of ``kind``, or None."""
        faults = self._faults
        if kind not in faults.kinds:
            return None
        # Draw even in an outage, so that the fate of the n-th request does not
        # depend on when the outage happened to fall.
        roll = self._random.random()
        if self.outage_active():
            return _OUTAGE[faults.outage_mode]
        for status, rate in faults.error_rates.items():
            if roll < rate:
                return Fault(f"error-{status}", status=status)
            roll -= rate
        if roll < faults.drop_before:
            return _DROP_BEFORE
        if roll - faults.drop_before < faults.drop_after:
            return _DROP_AFTER
        return None

    def retry_after(self, status: int) -> dict[str, str]:
        """The ``Retry-After`` header (if any) for an injected answer with ``status``."""
        if self._faults.retry_after is None or status not in (429, 503):
            return {}
        form, seconds = _retry_after_form(self._faults.retry_after)
        if form == "mix":
            self._retry_after_count += 1
            form = "seconds" if self._retry_after_count % 2 else "date"
        if form == "date":
            # HTTP-dates have whole seconds: round up so that no client waits less than asked.
            return {"Retry-After": formatdate(math.ceil(self._wall_clock()) + seconds, usegmt=True)}
        return {"Retry-After": str(seconds)}

    def middleware(self) -> Middleware:
        """The aiohttp middleware; it must run inside ``observe`` and ``errors`` (see ``app``)."""

        @web.middleware
        async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
            kind = request_kind(request)
            fault = None if kind is None else self.decide(kind)
            if fault is None:
                return await handler(request)
            note_fault(fault.name, fault.dropped)
            if fault.status is not None:
                message = f"fault injected by the reference server ({fault.name})"
                raise ApiError(fault.status, message, headers=self.retry_after(fault.status))
            if fault.dropped == "drop-before":
                await _close(request)
                return web.Response()  # never sent (see the module docstring)
            try:
                response = await handler(request)
            finally:
                # An error answer (or a cancelled one) is lost as surely as a success.
                await _close(request)
            return response

        return inject_faults

    def add_routes(self, app: web.Application) -> None:
        """Serve ``GET /_ref/faults`` (the faults) and ``POST /_ref/faults`` (replace them)."""
        app.router.add_get("/_ref/faults", self._get, name="ref_faults")
        app.router.add_post("/_ref/faults", self._post, name="ref_faults_set")

    async def _get(self, request: web.Request) -> web.Response:
        return web.json_response(self._faults.as_json())

    async def _post(self, request: web.Request) -> web.Response:
        try:
            data = json.loads(await request.read())
        except (ValueError, RecursionError):
            raise ApiError(400, "the body is not JSON, or nests too deeply") from None
        try:
            faults = Faults.from_json(data)
        except ValueError as exc:
            raise ApiError(400, f"invalid faults: {exc}") from None
        self.set(faults)
        return web.json_response(faults.as_json())


async def _close(request: web.Request) -> None:
    """Close the request's connection with no answer (a FIN, not a RST)."""
    # Read any unread body first: closing a socket with unread input makes the
    # kernel send a RST, which clients report as a reset rather than a disconnect.
    with contextlib.suppress(Exception):  # whatever is wrong with it, the connection is going
        await request.read()
    if request.transport is not None:
        request.transport.close()

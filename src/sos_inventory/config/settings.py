"""The values a validated config is made of (load.py builds them), and their defaults."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sos_inventory.config.rules import RuleSet
from sos_inventory.redact import shown

DEFAULT_CONFIG = "sos-inventory.yaml"
DEFAULT_URL = "http://127.0.0.1:8742"
DEFAULT_MAX_BODY_MB = 64
#: ``inventory.api``: the inventory implementations (inventory/__init__.py maps each to its module).
INVENTORY_APIS = ("sos", "memory")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

#: The default build window: a machine younger than this is still being built.
DEFAULT_BUILD_WINDOW = timedelta(hours=48)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one request."""

    attempts: int = 4  # first try included
    base_delay: float = 0.5  # seconds; the n-th retry waits up to base * 2**(n-1)
    max_delay: float = 20.0  # cap of one backoff sleep
    max_retry_after: float = 60.0  # cap of a server-requested wait
    breaker_failures: int = 5  # consecutive final transient failures that open the breaker
    budget: int = 500  # retry tokens
    retry_cost: int = 5
    timeout_retry_cost: int = 10

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**(retry-1))]."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (retry - 1)))


@dataclass(frozen=True, slots=True)
class DevicesSpec:
    """Where devices come from: one folder of ``Acct<N>/devices.csv`` or files."""

    path: Path
    account: str | None = None  # for an explicit file outside an Acct<N> folder


@dataclass(frozen=True, slots=True)
class Safety:
    """Limits that refuse a run before any write (enforced by the resilience work)."""

    max_changes: int = 500
    max_change_ratio: float = 0.2
    min_export_ratio: float = 0.5


@dataclass(frozen=True, slots=True)
class Config:
    """A validated configuration."""

    path: Path | None
    devices: tuple[DevicesSpec, ...]
    accounts: Mapping[str, str]
    inventory_url: str
    build_window: timedelta
    exclude: RuleSet
    application_rules: RuleSet
    environment_rules: RuleSet
    safety: Safety = field(default_factory=Safety)
    columns: Mapping[str, str] = field(default_factory=dict)
    page_size: int = 1000
    # Per attempt. With 4 attempts and capped backoff, a service that accepts connections but
    # never answers is declared down in about a minute, well inside a Jenkins build's patience.
    timeout: float = 15.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    manual_edits: str = "overwrite"  # MANUAL_EDITS: the exports are the truth, or leave hand edits alone
    sha256: str | None = None  # of the config file's bytes, for the reports (None: not from a file)
    allow_insecure_http: bool = False  # http:// to a host that is not loopback (docs/security.md)
    inventory_api: str = "sos"  # INVENTORY_APIS: which implementation reads and writes the inventory
    ca_bundle: Path | None = None  # CA certificates trusted besides the system's
    max_body: int = DEFAULT_MAX_BODY_MB << 20  # bytes of one answer of the inventory

    @property
    def c_codes(self) -> list[str]:
        """Every C_Code the config maps an account to, sorted."""
        return sorted(set(self.accounts.values()))


#: The longest duration any setting takes (a build window, a deadline): ten years.
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: object) -> timedelta:
    """Parse ``48h``, ``2d``, ``90m``, ``30s`` (or a number of hours), at most MAX_DURATION."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {shown(text)}")
    if isinstance(text, int | float):
        seconds = float(text) * 3600
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError(f"not a duration: {shown(text)} (use e.g. 48h, 2d, 90m)")
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not seconds <= MAX_DURATION.total_seconds():  # NaN and inf too
        raise ValueError(f"{shown(text)} is longer than the {MAX_DURATION.days}d this accepts")
    return timedelta(seconds=seconds)

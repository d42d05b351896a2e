"""What a machine should say in the inventory: its owner (README, Config reference) and its Status.

Ownership: two ordered rule lists (application, environment); the first rule
whose every pattern matches gives the value. No match leaves the inventory's
value alone and makes the machine *unowned* for that field. The Status comes
from :mod:`sos_inventory.sync.lifecycle`. ``explain`` says why, in words.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sos_inventory.config import Config, Rule
from sos_inventory.model import Device, Status
from sos_inventory.sync.lifecycle import build_ends, build_since, status_since


class Desired(NamedTuple):
    """The metadata a machine should have; None means "leave as it is"."""

    application: str | None
    environment: str | None
    status: Status | None
    application_rule: Rule | None
    environment_rule: Rule | None

    def fields(self) -> dict[str, str]:
        """The fields the job would write, by name (only those it decides)."""
        out: dict[str, str] = {}
        if self.application is not None:
            out["application"] = self.application
        if self.environment is not None:
            out["environment"] = self.environment
        if self.status is not None:
            out["status"] = self.status.value
        return out


class Owners:
    """The ownership rules and the lifecycle bound to one moment: ``desired(device)`` per machine.

    Built once per run; the planner calls it for every machine (a million at fleet scale).
    """

    __slots__ = ("_application", "_build_since", "_environment")

    def __init__(self, config: Config, now: datetime) -> None:
        self._application = config.application_rules.first_match
        self._environment = config.environment_rules.first_match
        self._build_since = build_since(now, config.build_window)

    def desired(self, device: Device) -> Desired:
        """What the inventory should say about this machine."""
        app_rule = self._application(device)
        env_rule = self._environment(device)
        return _new_desired(
            Desired,
            (
                None if app_rule is None else app_rule.value,
                None if env_rule is None else env_rule.value,
                status_since(device, self._build_since),
                app_rule,
                env_rule,
            ),
        )


_new_desired = tuple.__new__  # skips the NamedTuple's Python-level __new__ (3x the cost)


def desired_metadata(device: Device, config: Config, now: datetime) -> Desired:
    """What the inventory should say about this machine at ``now``."""
    return Owners(config, now).desired(device)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ") if moment.utcoffset() == timedelta(0) else moment.isoformat()


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = f"{days}d {hours}h {minutes}m" if days else f"{hours}h {minutes}m"
    return sign + text


def explanation(device: Device, config: Config, now: datetime) -> dict[str, Any]:
    """Why this machine gets its Application, Environment and Status, as data (``explain --json``)."""
    desired = desired_metadata(device, config, now)
    out: dict[str, Any] = {
        "hostname": device.hostname,
        "fqdn": device.fqdn,
        "source": f"{device.source}:{device.line}",
        "account": device.account,
        "c_code": device.c_code,
        "device_type": device.device_type,
        "location": device.location,
    }
    for label, value, rule, rules in (
        ("application", desired.application, desired.application_rule, config.application_rules),
        ("environment", desired.environment, desired.environment_rule, config.environment_rules),
    ):
        out[label] = {
            "value": value,
            "rule": rule.where if rule else None,
            "condition": rule.describe() if rule else None,
            "unowned": rule is None,
            "rules": len(rules),
        }
    provision, cancelled, window = device.provision_date, device.cancellation_date, config.build_window
    status = desired.status
    if status is Status.AVAILABLE:
        reason = "marked for cancellation; stays Available"
    elif status is Status.BUILD:
        reason = "younger than the build window"
    elif status is Status.LIVE:
        reason = "older than the build window; Available once marked for cancellation"
    else:
        reason = "undecided (no provision date): the inventory's value is kept"
    until = build_ends(device, window) if status is Status.BUILD else None
    out["status"] = {
        "value": status.value if status else None,
        "rule": "lifecycle",
        "reason": reason,
        "provision_date": _iso(provision),
        "cancellation_date": _iso(cancelled),
        "now": _iso(now),
        "age_seconds": (now - provision).total_seconds() if provision else None,
        "build_window_seconds": window.total_seconds(),
        "build_until": _iso(until),
    }
    return out


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def explain(device: Device, config: Config, now: datetime) -> list[str]:
    """Lines saying why this machine gets its Application, Environment and Status."""
    why = explanation(device, config, now)
    lines = [
        f"{device.hostname} ({device.fqdn})",
        f"  source:      {why['source']} (account {device.account}, C_Code {device.c_code})",
        f"  type:        {device.device_type}, {device.location or 'no location'}",
    ]
    for label in ("application", "environment"):
        owner = why[label]
        if owner["unowned"]:
            lines.append(
                f"  {label + ':':<12} unowned: none of the {owner['rules']} rules matches; the inventory's value is kept"
            )
        else:
            lines.append(f"  {label + ':':<12} {owner['value']}  (first match: {owner['condition']})")
    window = config.build_window
    provision, cancelled = device.provision_date, device.cancellation_date
    lines.append(f"  provisioned: {_stamp(provision.astimezone(UTC)) if provision else 'unknown'}")
    lines.append(f"  cancelled:   {_stamp(cancelled) if cancelled else 'not marked'}")
    if provision is not None:
        lines.append(
            f"  age:         {_age(now - provision)} at {_stamp(now.astimezone(UTC))} (build window {_age(window)})"
        )
    status = why["status"]
    if status["value"] == Status.BUILD and (until := build_ends(device, window)) is not None:
        lines.append(f"  status:      Build until {_stamp(until)}, then Live")
    elif status["value"] is None:
        lines.append(f"  status:      {status['reason']}")
    else:
        lines.append(f"  status:      {status['value']} ({status['reason']})")
    return lines

"""Manual edits and fights (README, Evidence): a plan read against what the job wrote before.

A planned field whose desired value is the very value the job last wrote there
(so the exports have not changed since) differs from the record only because
someone edited it by hand in SOS: a *manual edit*. A field the job rewrote in
each of its last runs is a *fight*: something keeps changing it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from sos_inventory.model import Category, Change, Problem
from sos_inventory.sync.plan import Plan

#: A field rewritten in each of this many latest runs is a fight.
FIGHT_RUNS = 3
_LISTED = 20  # hostnames named in a problem's message; the facts hold them all


class Write(Protocol):
    """One value the job wrote to one field (a ledger row)."""

    @property
    def run_id(self) -> str: ...

    @property
    def after(self) -> str: ...

    @property
    def time(self) -> str: ...


WriteKey = tuple[str, str, str]  # (c_code, unid, field)


def review(
    plan: Plan,
    writes: Mapping[WriteKey, Sequence[Write]],
    recent_runs: Sequence[str],
    *,
    respect: bool,
) -> Plan:
    """The plan with manual edits marked (and, with ``respect``, left out) and fights reported.

    ``writes`` holds the job's applied writes of the planned records, oldest first;
    ``recent_runs`` the ids of the job's latest runs that could write, newest first.
    """
    changes: list[Change] = []
    edited: list[tuple[Change, list[str]]] = []
    fights: list[tuple[Change, str]] = []
    fight_runs = set(recent_runs[:FIGHT_RUNS]) if len(recent_runs) >= FIGHT_RUNS else None
    for change in plan.changes:
        manual = []
        for name, value in change.after.items():
            history = writes.get((change.c_code, change.unid, name), ())
            if history and history[-1].after == value:
                manual.append(name)
            if fight_runs and fight_runs <= {w.run_id for w in history}:
                fights.append((change, name))
        if not manual:
            changes.append(change)
            continue
        edited.append((change, manual))
        if not respect:
            changes.append(replace(change, manual_edit=True))
            continue
        kept = {name: value for name, value in change.after.items() if name not in manual}
        if kept:
            changes.append(
                replace(
                    change,
                    before={name: change.before[name] for name in kept},
                    after=kept,
                    rules={name: rule for name, rule in change.rules.items() if name in kept},
                )
            )
    problems = list(plan.problems)
    if edited:
        problems.append(_manual_problem(edited, respect=respect))
    if fights:
        problems.append(_fight_problem(fights, sorted(fight_runs or ())))
    return replace(plan, changes=tuple(changes), problems=tuple(problems))


def _hosts(changes: Sequence[Change]) -> list[str]:
    return sorted({f"{c.c_code}/{c.hostname}" for c in changes})


def _listed(hosts: Sequence[str]) -> str:
    shown = ", ".join(hosts[:_LISTED])
    return shown + (f" and {len(hosts) - _LISTED} more" if len(hosts) > _LISTED else "")


def _manual_problem(edited: Sequence[tuple[Change, list[str]]], *, respect: bool) -> Problem:
    hosts = _hosts([change for change, _ in edited])
    fields = "; ".join(
        f"{c.c_code}/{c.hostname} {name}: {c.before[name]!r} (job wrote {c.after[name]!r})"
        for c, names in edited[:_LISTED]
        for name in names
    )
    fate = (
        "left as edited (drift.manual_edits: respect)" if respect else "overwritten with the exports' value"
    )
    return Problem(
        Category.MANUAL_EDIT,
        f"{len(hosts)} record(s) edited by hand in SOS since this job wrote them, {fate}: {fields}",
        facts={"hostnames": _listed(hosts), "count": str(len(hosts))},
    )


def _fight_problem(fights: Sequence[tuple[Change, str]], runs: Sequence[str]) -> Problem:
    hosts = _hosts([change for change, _ in fights])
    fields = ", ".join(f"{c.c_code}/{c.hostname} {name}" for c, name in fights[:_LISTED])
    return Problem(
        Category.FIGHT,
        f"{len(fights)} field(s) rewritten by this job in each of its last {FIGHT_RUNS} runs "
        f"({', '.join(runs)}) and changed back each time: {fields}",
        facts={"hostnames": _listed(hosts), "runs": ", ".join(runs), "count": str(len(fights))},
    )

"""Hostile evidence, round 2: reviewed plans edited, forged or out of scope, undo and the ledger on
another inventory, plan --out onto a symlink, an oversized run id.

The cases of :data:`CASES` write nothing (the harness checks it); the tests below them need writes
of their own and run the CLI on fleets of their own. Every plan is made by the CLI under test
(``SOS_HOSTILE_PYTHON`` replays the corpus on an older release, in its own plan format); a case
that stands for a forger who knows the digest makes the digest again after its edit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sos_inventory.sync.reviewed import plan_digest
from tests.e2e.conftest import NOW, Fleet, running_fleet
from tests.hostile.cases import registry
from tests.hostile.conftest import run_case
from tests.hostile.harness import CANARY, Context, Outcome, Run, run_cli
from tests.hostile.hostile_server import HostileServer

CASES, case = registry()
Document = dict[str, Any]


def _saved_plan(ctx: Context, config: Path | None = None) -> Document:
    """A plan as the CLI under test saves it (``plan`` writes nothing)."""
    path = ctx.root / "made.json"
    made = run_cli(ctx.job("plan", "--out", str(path), config=config), ctx.env(), ctx.root, 120)
    assert made.code == 1 and path.is_file(), made.stderr[-2000:]
    document: Document = json.loads(path.read_text(encoding="utf-8"))
    ctx.fleet.server.reset_stats()
    return document


def _plan_file(ctx: Context, document: Document, *, forged: bool = True) -> str:
    """The plan file of ``document``; ``forged``: its digest made again (by one who knows how)."""
    if forged and "digest" in document:
        document["digest"] = plan_digest(document)
    return str(ctx.write("PLAN.json", json.dumps(document, indent=2)))


def _change(document: Document, field: str) -> Document:
    """The first change of the plan that writes ``field``."""
    found: Document = next(c for c in document["changes"] if field in c["after"])
    return found


def _apply(
    ctx: Context, path: str, *extra: str, url: str | None = None, config: Path | None = None
) -> list[str]:
    return ctx.job("update", "--plan", path, *extra, url=url, config=config)


def _edited(edit: Callable[[Document], object], *, forged: bool = True) -> Callable[[Context], list[str]]:
    def args(ctx: Context) -> list[str]:
        document = _saved_plan(ctx)
        edit(document)
        return _apply(ctx, _plan_file(ctx, document, forged=forged))

    return args


@case
def plan_edited_after_its_review(ctx: Context) -> Run:
    edit = _edited(lambda d: _change(d, "status")["after"].update(status="Available"), forged=False)
    return Run(edit(ctx), 3, "does not match its digest")


@case
def plan_writes_a_status_that_does_not_exist(ctx: Context) -> Run:
    edit = _edited(lambda d: _change(d, "status")["after"].update(status="Decommissioned"))
    return Run(edit(ctx), 3, "'Decommissioned'")


@case
def plan_writes_an_application_no_rule_gives(ctx: Context) -> Run:
    edit = _edited(lambda d: _change(d, "application")["after"].update(application="evil-app"))
    return Run(edit(ctx), 3, "value(s) the config cannot give")


@case
def plan_writes_an_environment_the_inventory_does_not_know(ctx: Context) -> Run:
    # The config applying the plan has a rule giving PROD-MARS (for no machine); the inventory
    # knows no such environment: the server would refuse it, after the others were written.
    settings = yaml.safe_load(ctx.fleet.config.read_text(encoding="utf-8"))
    settings["ownership"]["environment"].append({"when": {"hostname": "^no-such-"}, "value": "PROD-MARS"})
    config = ctx.write("mars.yaml", yaml.safe_dump(settings))
    document = _saved_plan(ctx)
    _change(document, "environment")["after"]["environment"] = "PROD-MARS"
    return Run(_apply(ctx, _plan_file(ctx, document), config=config), 3, "the inventory does not know")


@case
def plan_made_in_2099(ctx: Context) -> Run:
    return Run(_edited(lambda d: d.update(created_at="2099-01-01T00:00:00Z"))(ctx), 3, "in the future")


@case
def plan_made_at_the_end_of_time(ctx: Context) -> Run:
    edit = _edited(lambda d: d.update(created_at="9999-12-31T23:59:59-14:00"))
    return Run(
        edit(ctx), 3, "PLAN.json: not a valid plan: created_at 9999-12-31T23:59:59-14:00 is out of range"
    )


def _three_writes_of_one_field(document: Document) -> None:
    first = _change(document, "status")
    document["changes"] += [
        {**first, "after": {**first["after"], "status": status}} for status in ("Available", "Build")
    ]


@case
def plan_with_three_changes_of_one_field(ctx: Context) -> Run:
    return Run(_edited(_three_writes_of_one_field)(ctx), 3, "record field(s) changed more than once")


def _no_request(outcome: Outcome, ctx: Context) -> None:
    assert ctx.fleet.server.stats()["by_kind"].get("query_hostname", 0) == 0, (
        "the plan's records were re-read"
    )


@case
def plan_of_20000_changes(ctx: Context) -> Run:
    def many(document: Document) -> None:
        first = _change(document, "status")
        document["changes"] = [
            {**first, "hostname": f"ghost-{n:05d}", "unid": f"G{n:05d}"} for n in range(20_000)
        ]

    return Run(
        _edited(many)(ctx), 3, "20000 changes planned, above the limit of 500", seconds=20, check=_no_request
    )


@case
def plan_nested_100000_deep(ctx: Context) -> Run:
    nested = '{"format": "sos-inventory-plan", "changes": ' + "[" * 100_000 + "]" * 100_000 + "}"
    return Run(
        _apply(ctx, str(ctx.write("PLAN.json", nested))), 3, "PLAN.json: not a valid plan: nested too deeply"
    )


@case
def plan_to_a_c_code_no_account_maps(ctx: Context) -> Run:
    edit = _edited(lambda d: _change(d, "status").update(c_code="ZZZ"))
    return Run(edit(ctx), 2, "changes to C_Code(s) ZZZ that no account of the config maps")


@case
def plan_applied_to_another_inventory(ctx: Context) -> Run:
    path = _plan_file(ctx, _saved_plan(ctx))
    return Run(_apply(ctx, path, url=ctx.hostile.url), 2, f"--inventory-url {ctx.fleet.server.url}")


@case
def plan_out_onto_a_symlink(ctx: Context) -> Run:
    victim = ctx.write("victim.txt", "precious\n")
    link = ctx.root / "PLAN.json"
    link.symlink_to(victim)

    def check(outcome: Outcome, ctx: Context) -> None:
        assert victim.read_text(encoding="utf-8") == "precious\n", "the symlink's target was overwritten"
        assert not link.is_symlink() and json.loads(link.read_text(encoding="utf-8"))["changes"]

    return Run(ctx.job("plan", "--out", str(link)), 1, "change(s)", check=check)


@case
def undo_of_a_run_id_of_100_kb(ctx: Context) -> Run:
    # A ledger with one run that wrote nothing (refused by its guard), then an unknown id.
    refused = run_cli(ctx.job("update", "--max-changes", "0"), ctx.env(), ctx.root, 120)
    assert refused.code == 3, refused.stderr[-2000:]

    def short(outcome: Outcome, ctx: Context) -> None:
        assert len(outcome.text) < 10_000, len(outcome.text)

    return Run(ctx.job("undo", "X" * 100_000), 2, "not in the ledger", check=short)


@pytest.fixture
def own(tmp_path: Path, hostile_pair: tuple[HostileServer, HostileServer]) -> Iterator[Context]:
    """A case's context on a fleet of its own: an older release may write where these cases must
    not, and its writes must not change what the next case finds."""
    hostile, other = hostile_pair
    hostile.behave()
    other.behave()
    with running_fleet(tmp_path / "fleet") as fleet:
        yield Context(tmp_path, fleet, hostile, other)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_evidence(name: str, own: Context) -> None:
    run_case(own, CASES[name])


# --- the cases that write: fleets of their own ----------------------------------------------------


def cli(fleet: Fleet, *args: str, url: str | None = None, config: Path | None = None) -> Outcome:
    """The CLI under test on ``fleet`` (in its folder: its default state folder)."""
    if args[0] in ("plan", "update", "undo"):
        args = (*args, "--config", str(config or fleet.config), "--inventory-url", url or fleet.server.url)
        args = (*args, "--now", NOW)
    outcome = run_cli(args, fleet.env(), fleet.root, 120)
    assert "Traceback" not in outcome.text and CANARY not in outcome.text, outcome.text[-3000:]
    return outcome


def writes(fleet: Fleet) -> int:
    count: int = fleet.server.stats()["by_kind"].get("update", 0)
    return count


def config_with(fleet: Fleet, name: str, edit: Callable[[Document], object]) -> Path:
    settings = yaml.safe_load(fleet.config.read_text(encoding="utf-8"))
    edit(settings)
    path = fleet.root / name
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(tmp_path / "a") as one:
        yield one


@pytest.fixture
def replica(tmp_path: Path) -> Iterator[Fleet]:
    """A second inventory holding what the first holds after an update (made by its own state)."""
    with running_fleet(tmp_path / "b") as other:
        assert cli(other, "update", "--state-dir", str(other.root / "own-state")).code == 1
        other.server.reset_stats()
        yield other


def test_undo_of_a_run_on_another_inventory_is_refused_and_writes_nothing(
    fleet: Fleet, replica: Fleet
) -> None:
    update = cli(fleet, "update", "--json")
    run_id = json.loads(update.stdout)["run_id"]
    refused = cli(fleet, "undo", run_id, "--apply", url=replica.server.url)
    assert refused.code == 2, refused.text[-3000:]
    assert f"was made on the inventory {fleet.server.url}, and this run points at {replica.server.url}" in (
        refused.stderr
    )
    assert f"--inventory-url {fleet.server.url}" in refused.stderr
    assert "An undo puts back what a run wrote on its own inventory only" in refused.stderr
    assert "make and review a new plan" not in refused.stderr  # the advice of a plan, not of an undo
    assert writes(replica) == 0


def test_a_ledger_of_another_inventory_makes_no_manual_edit(fleet: Fleet, tmp_path: Path) -> None:
    # The ledger says what the job wrote to the first inventory; the second one, never written by
    # this job, holds other values: they are not hand edits, and respect must not leave them.
    assert cli(fleet, "update").code == 1
    respect = config_with(fleet, "respect.yaml", lambda s: s.update(drift={"manual_edits": "respect"}))
    with running_fleet(tmp_path / "b") as other:
        other.server.reset_stats()
        update = cli(fleet, "update", "--json", url=other.server.url, config=respect)
        assert update.code == 1, update.text[-3000:]
        report = json.loads(update.stdout)
        assert [p for p in report["problems"] if p["category"] == "manual_edit"] == []
        assert report["counts"]["applied"] == writes(other) == 11


def test_a_reviewed_plan_keeps_to_c_code_and_names_its_sha256(fleet: Fleet) -> None:
    plan_file = fleet.root / "PLAN.json"
    assert cli(fleet, "plan", "--out", str(plan_file)).code == 1
    fleet.server.reset_stats()
    applied = cli(fleet, "update", "--plan", str(plan_file), "--c-code", "ALC", "--report-dir", "reports")
    assert writes(fleet) == 10 and fleet.state()["F01"][2] == "Build"  # ALC_FR2's change left as planned
    assert applied.code == 0, applied.text[-3000:]
    assert "1 change(s) of the plan" in applied.stderr and "to C_Code(s) ALC_FR2 left out" in applied.stderr
    sha256 = hashlib.sha256(plan_file.read_bytes()).hexdigest()
    report = json.loads((fleet.root / "reports" / "report.json").read_text(encoding="utf-8"))
    assert report["plan_sha256"] == sha256 and report["c_codes"] == ["ALC"]
    assert sha256 in (fleet.root / "reports" / "summary.md").read_text(encoding="utf-8")
    assert sha256 in (fleet.root / "reports" / "summary.html").read_text(encoding="utf-8")
    [run] = json.loads(cli(fleet, "runs", "--json").stdout)
    assert run["details"]["plan_sha256"] == sha256


def test_undo_keeps_to_the_config_and_to_c_code_and_says_applied(fleet: Fleet) -> None:
    run_id = json.loads(cli(fleet, "update", "--json").stdout)["run_id"]
    updated = fleet.state()
    fleet.server.reset_stats()
    # The config that undoes it no longer maps ALC_FR2's account: the whole undo is refused.
    without = config_with(fleet, "alc-only.yaml", lambda s: s["accounts"].pop("2051458"))
    refused = cli(fleet, "undo", run_id, "--apply", config=without)
    assert refused.code == 2 and "changes to C_Code(s) ALC_FR2 that no account of the config maps" in (
        refused.stderr
    ), refused.text[-3000:]
    assert writes(fleet) == 0
    undo = cli(fleet, "undo", run_id, "--apply", "--c-code", "ALC")
    assert writes(fleet) == 10 and fleet.state()["F01"] == updated["F01"]
    assert undo.code == 0, undo.text[-3000:]
    assert "to C_Code(s) ALC_FR2 left out" in undo.stderr
    assert "10 change(s): 10 applied, 0 failed" in undo.stdout and " planned" not in undo.stdout
    assert cli(fleet, "audit", "verify").code == 0

"""Manual edits and fights (README, Evidence): records edited by hand in SOS between runs."""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from tests.e2e.conftest import EMAIL, TOKEN, Fleet
from tests.serverutil import api_call


def hand_edit(fleet: Fleet, c_code: str, unid: str, **fields: str) -> None:
    """What a person does in the SOS web UI: set a field of one record."""
    auth = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    url = f"{fleet.server.url}/inventory.nsf/update.xsp?c_code={c_code}&form=server&unid={unid}"
    status, _, _ = api_call(url, "POST", body=json.dumps(fields).encode(), authorization=auth)
    assert status == 200


def plan(fleet: Fleet) -> dict[str, Any]:
    result = fleet.cli("plan", "--json")
    assert result.returncode in (0, 1), result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def set_manual_edits(fleet: Fleet, policy: str) -> None:
    settings = yaml.safe_load(fleet.config.read_text())
    settings["drift"] = {"manual_edits": policy}
    fleet.config.write_text(yaml.safe_dump(settings), encoding="utf-8")


def test_a_hand_edit_between_two_runs_is_flagged_and_respect_leaves_it(fleet: Fleet) -> None:
    assert fleet.cli("update").returncode == 1
    assert plan(fleet)["counts"]["changes"] == 0
    hand_edit(fleet, "ALC", "A05", status="Live")  # the job wrote Available; the exports did not change

    data = plan(fleet)
    [change] = data["changes"]
    assert (change["unid"], change["manual_edit"], change["after"]) == ("A05", True, {"status": "Available"})
    [problem] = [p for p in data["problems"] if p["category"] == "manual_edit"]
    assert "prod-dal10-carrier2-worker-05" in problem["message"] and "overwritten" in problem["message"]

    set_manual_edits(fleet, "respect")
    data = plan(fleet)
    assert data["changes"] == []
    [problem] = [p for p in data["problems"] if p["category"] == "manual_edit"]
    assert "left as edited" in problem["message"]
    update = fleet.cli("update", "--json")
    assert update.returncode == 1, update.stderr
    assert "manual_edit" in [p["category"] for p in json.loads(update.stdout)["problems"]]
    assert fleet.state()["A05"][2] == "Live"  # left alone

    set_manual_edits(fleet, "overwrite")
    assert fleet.cli("update").returncode == 1
    assert fleet.state()["A05"][2] == "Available"


def test_a_change_of_the_exports_is_not_a_hand_edit(fleet: Fleet) -> None:
    assert fleet.cli("update").returncode == 1
    hand_edit(fleet, "ALC", "A15", status="Build")  # never written by the job: plain drift
    changes = plan(fleet)["changes"]
    assert [(c["unid"], c.get("manual_edit", False)) for c in changes] == [("A15", False)]
    assert not [p for p in plan(fleet)["problems"] if p["category"] == "manual_edit"]


def test_a_field_rewritten_in_each_of_the_last_three_runs_is_a_fight(fleet: Fleet) -> None:
    run_ids = []
    for _ in range(3):
        update = fleet.cli("update", "--json")
        run_ids.append(json.loads(update.stdout)["run_id"])
        hand_edit(fleet, "ALC", "A05", status="Live")  # something keeps setting it back
    data = plan(fleet)
    [fight] = [p for p in data["problems"] if p["category"] == "fight"]
    assert "prod-dal10-carrier2-worker-05 status" in fight["message"]
    assert all(run_id in fight["message"] for run_id in run_ids)

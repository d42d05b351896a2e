"""``inventory.api``: the same job over another Inventory implementation, chosen by the config."""

from __future__ import annotations

import json

import yaml

from tests.e2e.conftest import EXPECTED_CHANGES, Fleet


def test_a_plan_against_a_dump_of_the_inventory_matches_the_plan_against_the_server(fleet: Fleet) -> None:
    online = fleet.cli("plan", "--json")
    dump = fleet.root / "dump.json"
    seed = json.loads((fleet.root / "seed.json").read_text(encoding="utf-8"))
    # A `server dump` holds the records; the names the inventory knows come with a SEED.json.
    names = {"applications": seed["applications"], "environments": seed["environments"]}
    dump.write_text(json.dumps({**fleet.dump(), **names}), encoding="utf-8")
    settings = yaml.safe_load(fleet.config.read_text(encoding="utf-8"))
    settings["inventory"] = {"api": "memory", "url": dump.as_uri()}
    fleet.config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    fleet.server.reset_stats()
    offline = fleet.cli("plan", "--json", url=dump.as_uri())
    assert offline.returncode == online.returncode == 1, offline.stderr
    changes = {c["unid"]: c["after"] for c in json.loads(offline.stdout)["changes"]}
    assert set(changes) == EXPECTED_CHANGES
    assert changes == {c["unid"]: c["after"] for c in json.loads(online.stdout)["changes"]}
    assert fleet.server.stats()["requests"] == 0  # nothing asked of the server


def test_an_unknown_api_or_a_memory_inventory_without_a_file_url_is_a_config_error(fleet: Fleet) -> None:
    settings = yaml.safe_load(fleet.config.read_text(encoding="utf-8"))
    for inventory, message in (
        ({"api": "ldap", "url": "https://sos.example.com"}, "inventory.api: must be one of sos, memory"),
        ({"api": "memory", "url": "https://sos.example.com"}, "inventory.api memory reads a dump"),
    ):
        settings["inventory"] = inventory
        fleet.config.write_text(yaml.safe_dump(settings), encoding="utf-8")
        result = fleet.cli("validate")
        assert result.returncode == 2 and message in result.stderr, result.stderr

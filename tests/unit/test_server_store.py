"""The reference server's SQLite store, against a real database file."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sos_inventory.server.store import RECORD_KEYS, InvalidValue, RecordNotFound, Store

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def server(hostname: str, c_code: str = "ALC", **fields: Any) -> dict[str, Any]:
    return {"c_code": c_code, "hostname": hostname, "status": "Live", **fields}


def seed_data() -> dict[str, Any]:
    return {
        "applications": {
            "ALC": ["containers-kubernetes", "container-registry"],
            "ALC_FR2": ["satellite-link"],
        },
        "environments": {"ALC": ["PROD-US-SOUTH", "STAGE"], "ALC_FR2": ["PROD-EU-CENTRAL"]},
        "servers": [
            server("prod-dal10-carrier2-worker-1030", unid="C0", device_id="62603497"),
            server("prod-dal10-registry-docker-03", unid="A0", status="Build"),
            server("stage-dal09-infra-vpn-01", unid="B0", status="Available"),
            server("prod-dal10-carrier2-worker-1030", unid="D0", device_id="62603498"),
            server("prodfr2-par04-carrier1-worker-01", c_code="ALC_FR2", unid="A1"),
        ],
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "inventory.db", clock=lambda: NOW) as store:
        store.seed(seed_data())
        yield store


def test_seed_counts_and_records_have_exactly_the_api_keys(tmp_path: Path) -> None:
    with Store(tmp_path / "inventory.db", clock=lambda: NOW) as store:
        counts = store.seed(seed_data())
        assert counts == {
            "servers_added": 5,
            "servers_replaced": 0,
            "servers_unchanged": 0,
            "applications_added": 3,
            "environments_added": 3,
        }
        _, items = store.query("ALC", 1, 10)
    assert all(tuple(item) == RECORD_KEYS for item in items)
    assert items[0]["last_modified"] == "2026-11-27T12:00:00Z"
    assert items[0]["fqdn"] == ""
    assert items[0]["ip_public"] == ""


def test_seed_normalises_hostname_and_generates_unids(tmp_path: Path) -> None:
    with Store(tmp_path / "inventory.db") as store:
        store.seed(
            {"servers": [server("Prod-DAL10-Carrier2-Worker-1030.Alchemy.IBM.com", device_id=62603497)] * 2}
        )
        total, items = store.query("ALC", 1, 10)
    assert total == 2
    for item in items:
        assert re.fullmatch(r"[0-9A-F]{16}", item["unid"])
        assert item["hostname"] == "prod-dal10-carrier2-worker-1030"
        assert item["fqdn"] == "prod-dal10-carrier2-worker-1030.alchemy.ibm.com"
        assert item["device_id"] == "62603497"
    assert items[0]["unid"] != items[1]["unid"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "must be a JSON object"),
        ({"server": []}, "unknown key 'server'"),
        ({"servers": {}}, "servers: must be a list"),
        ({"servers": [server("a"), "b"]}, "servers[1]: must be an object"),
        ({"servers": [server("a", status="Retired")]}, "servers[0].status: 'Retired' is not one of"),
        ({"servers": [{"c_code": "ALC", "status": "Live"}]}, "servers[0].hostname"),
        ({"servers": [server("a", c_code="A L C")]}, "servers[0].c_code"),
        ({"servers": [server("a", fqdn=3)]}, "servers[0].fqdn: must be a string"),
        ({"servers": [server("a", colour="red")]}, "servers[0]: unknown key 'colour'"),
        ({"servers": [server("a", last_modified="yesterday")]}, "servers[0].last_modified"),
        ({"servers": [server("a", unid="X"), server("b", unid="X")]}, "unid X appears more than once"),
        ({"applications": {"ALC": "containers-kubernetes"}}, "applications.ALC: must be a list"),
        ({"environments": ["STAGE"]}, "environments: must be an object"),
    ],
)
def test_seed_rejects_bad_shapes_naming_the_entry_and_writes_nothing(
    tmp_path: Path, data: Any, expected: str
) -> None:
    with Store(tmp_path / "inventory.db") as store:
        with pytest.raises(ValueError, match=re.escape(expected)):
            store.seed(data)
        assert store.dump() == {"servers": [], "applications": {}, "environments": {}}


def test_seed_reports_every_problem_at_once(tmp_path: Path) -> None:
    with Store(tmp_path / "inventory.db") as store, pytest.raises(ValueError, match="invalid seed") as caught:
        store.seed({"servers": [server("a", status="x"), server("b"), server("c", c_code="")]})
    assert "servers[0].status" in str(caught.value)
    assert "servers[2].c_code" in str(caught.value)


def test_seed_refuses_to_move_a_unid_to_another_c_code(store: Store) -> None:
    with pytest.raises(ValueError, match="A0 already belongs to C_Code ALC"):
        store.seed({"servers": [server("x", c_code="ALC_FR2", unid="A0")]})
    assert store.query("ALC", 1, 10)[0] == 4


def test_query_orders_by_unid_and_pages(store: Store) -> None:
    pages = [store.query("ALC", page, 3) for page in (1, 2, 3)]
    assert [total for total, _ in pages] == [4, 4, 4]
    assert [[item["unid"] for item in items] for _, items in pages] == [["A0", "B0", "C0"], ["D0"], []]


def test_query_keeps_c_codes_apart(store: Store) -> None:
    assert [item["unid"] for item in store.query("ALC_FR2", 1, 10)[1]] == ["A1"]
    assert store.query("NOPE", 1, 10) == (0, [])


def test_hostname_filter_is_exact_and_case_insensitive(store: Store) -> None:
    total, items = store.query("ALC", 1, 10, hostname="PROD-dal10-Carrier2-Worker-1030")
    assert total == 2
    assert [item["unid"] for item in items] == ["C0", "D0"]
    assert store.query("ALC", 1, 10, hostname="prod-dal10-carrier2-worker-103") == (0, [])
    assert store.query("ALC_FR2", 1, 10, hostname="stage-dal09-infra-vpn-01") == (0, [])


def test_applications_and_environments_are_per_c_code_and_sorted(store: Store) -> None:
    assert store.applications("ALC") == ["container-registry", "containers-kubernetes"]
    assert store.environments("ALC_FR2") == ["PROD-EU-CENTRAL"]
    assert store.applications("NOPE") == []


def test_update_sets_fields_and_last_modified(tmp_path: Path) -> None:
    clock = [NOW]
    with Store(tmp_path / "inventory.db", clock=lambda: clock[0]) as store:
        store.seed(seed_data())
        clock[0] = datetime(2026, 11, 28, 8, 30, 5, tzinfo=UTC)
        record = store.update("ALC", "A0", {"status": "Live", "environment": "STAGE"})
        assert record["status"] == "Live"
        assert record["environment"] == "STAGE"
        assert record["last_modified"] == "2026-11-28T08:30:05Z"
        assert store.query("ALC", 1, 1)[1] == [record]
        # Values are absolute: repeating the update gives the same record.
        assert store.update("ALC", "A0", {"status": "Live", "environment": "STAGE"}) == record


@pytest.mark.parametrize(
    ("c_code", "unid"),
    [("ALC", "ZZ"), ("ALC_FR2", "A0")],  # unknown unid; unid of another C_Code
)
def test_update_of_a_missing_record_raises_not_found(store: Store, c_code: str, unid: str) -> None:
    with pytest.raises(RecordNotFound) as caught:
        store.update(c_code, unid, {"status": "Live"})
    assert (caught.value.c_code, caught.value.unid) == (c_code, unid)


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "live"},
        {"application": "satellite-link"},  # known in ALC_FR2 only
        {"environment": "PROD-EU-CENTRAL"},
        {"status": "Live", "environment": "NOPE"},
    ],
)
def test_update_rejects_invalid_values_and_changes_nothing(store: Store, fields: dict[str, str]) -> None:
    before = store.dump()
    with pytest.raises(InvalidValue) as caught:
        store.update("ALC", "A0", fields)
    assert caught.value.field in fields
    assert store.dump() == before


def test_update_rejects_fields_it_does_not_own(store: Store) -> None:
    with pytest.raises(ValueError, match="fields must be some of"):
        store.update("ALC", "A0", {"hostname": "x"})
    with pytest.raises(ValueError, match="fields must be some of"):
        store.update("ALC", "A0", {})


def test_dump_is_sorted_and_filters_by_c_code(store: Store) -> None:
    dump = store.dump()
    assert [(s["c_code"], s["unid"]) for s in dump["servers"]] == [
        ("ALC", "A0"),
        ("ALC", "B0"),
        ("ALC", "C0"),
        ("ALC", "D0"),
        ("ALC_FR2", "A1"),
    ]
    assert dump["environments"] == {"ALC": ["PROD-US-SOUTH", "STAGE"], "ALC_FR2": ["PROD-EU-CENTRAL"]}
    only = store.dump("ALC_FR2")
    assert [s["unid"] for s in only["servers"]] == ["A1"]
    assert only["applications"] == {"ALC_FR2": ["satellite-link"]}


def test_a_dump_reseeds_to_the_same_database_and_reseeding_is_idempotent(
    store: Store, tmp_path: Path
) -> None:
    store.update("ALC", "C0", {"application": "container-registry"})
    dump = store.dump()
    with Store(tmp_path / "copy.db", clock=lambda: datetime(2030, 1, 1, tzinfo=UTC)) as copy:
        copy.seed(dump)
        assert copy.dump() == dump
        counts = copy.seed(dump)
        assert counts["servers_unchanged"] == 5
        assert counts["servers_added"] == counts["servers_replaced"] == 0
        assert counts["applications_added"] == counts["environments_added"] == 0
        assert copy.dump() == dump


def test_reseeding_a_changed_record_replaces_it(store: Store) -> None:
    counts = store.seed({"servers": [server("renamed-01", unid="A0", status="Build")]})
    assert counts["servers_replaced"] == 1
    total, items = store.query("ALC", 1, 10, hostname="renamed-01")
    assert total == 1
    assert items[0]["unid"] == "A0"
    assert store.query("ALC", 1, 10)[0] == 4


def test_data_persists_in_a_wal_database(store: Store) -> None:
    path = store.path
    store.close()
    with Store(path) as reopened:
        assert reopened.query("ALC", 1, 10)[0] == 4
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {row[1] for row in db.execute("PRAGMA index_list(servers)")}
    assert {"servers_by_c_code_unid", "servers_by_c_code_hostname"} <= indexes

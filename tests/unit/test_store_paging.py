"""The store at scale: keyset paging through the page index, and streamed seeds."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sos_inventory.server.store import PAGE_STRIDE, Store

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
# Enough records for several page-index marks in ALC, and a C_Code that interleaves with it.
SIZES = {"ALC": 3 * PAGE_STRIDE + 45, "ALC_FR2": PAGE_STRIDE // 2 + 3}


def servers(c_code: str, count: int, *, start: int = 0) -> Iterator[dict[str, Any]]:
    for index in range(start, start + count):
        # Unids interleave the C_Codes and do not follow the insertion order.
        unid = f"{(index * 7919) % 100_003:06d}{c_code[-1]}"
        yield {"unid": unid, "c_code": c_code, "hostname": f"host-{c_code}-{index}", "status": "Live"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "inventory.db", clock=lambda: NOW) as store:
        for c_code, count in SIZES.items():
            store.seed_servers(servers(c_code, count))
        yield store


def all_unids(store: Store, c_code: str) -> list[str]:
    rows = store._db.execute("SELECT unid FROM servers WHERE c_code = ? ORDER BY unid", [c_code])
    return [row[0] for row in rows]


@pytest.mark.parametrize("page_size", [1, 7, PAGE_STRIDE - 1, PAGE_STRIDE, PAGE_STRIDE + 1, 1000])
@pytest.mark.parametrize("c_code", sorted(SIZES))
def test_pages_are_the_unid_ordered_slices_with_the_total(store: Store, c_code: str, page_size: int) -> None:
    expected = all_unids(store, c_code)
    assert len(expected) == SIZES[c_code]
    pages = -(-len(expected) // page_size)
    read: list[str] = []
    for page in range(1, pages + 2):  # one page past the end: empty, same total
        total, items = store.query(c_code, page, page_size)
        assert total == len(expected)
        assert [item["unid"] for item in items] == expected[(page - 1) * page_size : page * page_size]
        assert all(item["c_code"] == c_code for item in items)
        read += [item["unid"] for item in items]
    assert read == expected
    assert store.query(c_code, 10**9, 1000) == (len(expected), [])


def test_an_empty_or_unknown_c_code_has_no_pages(store: Store) -> None:
    assert store.query("NOPE", 1, 10) == (0, [])


def test_a_seed_by_another_connection_is_seen_at_the_next_query(store: Store) -> None:
    assert store.query("ALC", 1, 5)[0] == SIZES["ALC"]
    with Store(store.path, clock=lambda: NOW) as other:
        other.seed_servers(servers("ALC", 10, start=SIZES["ALC"]))
    total, items = store.query("ALC", 1, 1000)
    assert total == SIZES["ALC"] + 10
    assert [item["unid"] for item in items] == all_unids(store, "ALC")[:1000]


def test_a_seed_through_this_store_is_seen_and_updates_keep_the_pages(store: Store) -> None:
    first = store.query("ALC", 2, 100)
    store.seed({"servers": list(servers("ALC", 3, start=10_000))})
    assert store.query("ALC", 1, 1)[0] == SIZES["ALC"] + 3
    unid = first[1][0]["unid"]
    store.update("ALC", unid, {"status": "Build"})
    total, items = store.query("ALC", 1, 1000)
    assert total == SIZES["ALC"] + 3
    assert next(item for item in items if item["unid"] == unid)["status"] == "Build"


def test_seed_servers_streams_batches_and_counts_like_seed(tmp_path: Path) -> None:
    with Store(tmp_path / "inventory.db", clock=lambda: NOW) as store:
        counts = store.seed_servers(
            servers("ALC", 1200),
            applications={"ALC": ["containers-kubernetes"]},
            environments={"ALC": ["STAGE"]},
        )
        assert counts == {
            "servers_added": 1200,
            "servers_replaced": 0,
            "servers_unchanged": 0,
            "applications_added": 1,
            "environments_added": 1,
        }
        again = store.seed_servers(servers("ALC", 1200))
        assert again["servers_unchanged"] == 1200
        changed = [dict(s, status="Build") for s in servers("ALC", 600)]
        assert store.seed_servers(changed)["servers_replaced"] == 600
        assert store.query("ALC", 1, 1)[0] == 1200


@pytest.mark.parametrize("gap", [1, 499, 500, 1100])
def test_a_unid_given_twice_anywhere_in_a_stream_rolls_everything_back(tmp_path: Path, gap: int) -> None:
    with Store(tmp_path / "inventory.db") as store:
        stream = list(servers("ALC", 1200))
        stream.insert(100 + gap, dict(stream[100], hostname="another-host"))
        with pytest.raises(ValueError, match=f"unid {stream[100]['unid']} appears more than once"):
            store.seed_servers(stream)
        assert store.query("ALC", 1, 10) == (0, [])


def test_a_unid_left_unchanged_then_given_again_is_a_duplicate(tmp_path: Path) -> None:
    with Store(tmp_path / "inventory.db", clock=lambda: NOW) as store:
        store.seed_servers(servers("ALC", 10))
        before = store.dump()
        stream = [*servers("ALC", 10), *servers("ALC", 1)]
        with pytest.raises(ValueError, match="appears more than once"):
            store.seed_servers(stream)
        assert store.dump() == before


def test_stream_problems_are_all_collected_then_capped(tmp_path: Path) -> None:
    with Store(tmp_path / "inventory.db") as store:
        bad = [dict(s, status="Retired") for s in servers("ALC", 150)]
        with pytest.raises(ValueError, match=re.escape("servers[104].status")) as caught:
            store.seed_servers([*servers("ALC", 5, start=1000), *bad])
        message = str(caught.value)
        assert message.startswith("invalid seed: servers[5].status")
        assert "servers[105]" not in message
        assert message.endswith("; and 50 more")
        assert store.query("ALC", 1, 10) == (0, [])


def test_moving_a_unid_is_reported_with_the_other_problems(store: Store) -> None:
    moved = dict(next(servers("ALC", 1)), c_code="ALC_FR2")
    with pytest.raises(ValueError, match="already belongs to C_Code ALC") as caught:
        store.seed({"servers": [moved, {"c_code": "ALC", "hostname": "x", "status": "Nope"}]})
    assert "servers[1].status" in str(caught.value)


def query_plans(store: Store, *args: Any) -> list[str]:
    """The query plans of the SELECTs that ``store.query(*args)`` runs."""
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        store.query(*args)
    finally:
        store._db.set_trace_callback(None)
    with sqlite3.connect(store.path) as db:
        return [
            str(db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall())
            for sql in statements
            if sql.lstrip().upper().startswith("SELECT")
        ]


@pytest.mark.parametrize(
    ("args", "index"),
    [
        (("ALC", 3, 100), "servers_by_c_code_unid"),
        (("ALC", 1, 1000, "host-ALC-7"), "servers_by_c_code_hostname"),
    ],
)
def test_queries_seek_their_index_and_never_scan(store: Store, args: tuple[Any, ...], index: str) -> None:
    store.query("ALC", 1, 1)  # builds the page index
    plans = query_plans(store, *args)
    assert plans
    for plan in plans:
        assert index in plan
        assert "SCAN" not in plan


@pytest.mark.parametrize("with_sqlite_json", [True, False])
def test_json_pages_hold_the_same_records_as_query(store: Store, with_sqlite_json: bool) -> None:
    """The server sends query_json's text: it must parse to exactly what query returns."""
    store.seed_servers(
        [{"unid": "0000009Z", "c_code": "ALC", "hostname": "host-é-1", "fqdn": 'a"b\\c\n', "status": "Build"}]
    )
    store._json = with_sqlite_json
    for page, size, hostname in [
        (1, 1000, None),
        (2, 7, None),
        (1, 5, "HOST-é-1"),
        (1, 5, "host-ALC-3"),
        (99, 50, None),
    ]:
        total, text = store.query_json("ALC", page, size, hostname)
        assert (total, json.loads(text)) == store.query("ALC", page, size, hostname)

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sos_inventory.errors import ConfigError
from sos_inventory.model import Category, Change, Device, KnownNames, Problem, ServerRecord
from sos_inventory.runbook import problem_dict, problem_of
from sos_inventory.sync.devices import DeviceSet
from sos_inventory.sync.plan import Plan, build_plan, pick_record
from tests.builders import NOW, make_config, record
from tests.builders import make_device as device

KNOWN = {
    "ALC": KnownNames(
        frozenset({"containers-kubernetes", "container-registry"}), frozenset({"PROD-US-SOUTH", "STAGE"})
    ),
    "ALC_FR2": KnownNames(frozenset({"containers-kubernetes"}), frozenset({"PROD-US-SOUTH"})),
}


def plan_for(tmp_path: Path, devices: list[Device], records: list[ServerRecord], **kw: object) -> Plan:
    inventories: dict[str, list[ServerRecord]] = {"ALC": [], "ALC_FR2": []}
    for r in records:
        inventories[r.c_code].append(r)
    return build_plan(DeviceSet(devices=devices), inventories, make_config(tmp_path), NOW, KNOWN)


def test_in_step_machine_needs_no_change(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, [device()], [record("prod-dal10-carrier2-worker-1030", "U1")])
    assert plan.changes == ()
    assert plan.in_step == 1


def test_only_differing_fields_are_written(tmp_path: Path) -> None:
    new = device(provision_date=NOW - timedelta(hours=3))
    plan = plan_for(tmp_path, [new], [record(new.hostname, "U1", application="wrong")])
    (change,) = plan.changes
    assert change.unid == "U1"
    assert dict(change.before) == {"application": "wrong", "status": "Live"}
    assert dict(change.after) == {"application": "containers-kubernetes", "status": "Build"}


def test_upper_case_inventory_hostname_matches(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, [device()], [record("PROD-DAL10-CARRIER2-WORKER-1030", "U1", status="Build")])
    assert [c.unid for c in plan.changes] == ["U1"]


def test_duplicates_resolved_by_device_id_then_private_then_public_ip(tmp_path: Path) -> None:
    d = device()
    by_id = [record(d.hostname, "A", device_id="1"), record(d.hostname, "B", device_id=d.device_id)]
    assert pick_record(d, by_id) == by_id[1]
    by_private = [
        record(d.hostname, "A", ip_private="10.0.0.1"),
        record(d.hostname, "B", ip_private=d.private_ip),
    ]
    assert pick_record(d, by_private) == by_private[1]
    by_public = [record(d.hostname, "A", ip_public="1.1.1.1"), record(d.hostname, "B", ip_public=d.public_ip)]
    assert pick_record(d, by_public) == by_public[1]
    # Device ID ties are broken by the next key.
    tie = [
        record(d.hostname, "A", device_id=d.device_id, ip_private="10.9.9.9"),
        record(d.hostname, "B", device_id=d.device_id, ip_private=d.private_ip),
    ]
    assert pick_record(d, tie) == tie[1]
    assert pick_record(d, [record(d.hostname, "A"), record(d.hostname, "B")]) is None
    # A single record matches by hostname alone, whatever its ids say.
    single = [record(d.hostname, "A", device_id="999")]
    assert pick_record(d, single) == single[0]


def test_ambiguous_duplicate_is_untouched_and_reported(tmp_path: Path) -> None:
    d = device()
    records = [record(d.hostname, "A", status="Build"), record(d.hostname, "B", status="Build")]
    plan = plan_for(tmp_path, [d], records)
    assert plan.changes == ()
    assert len(plan.ambiguous) == 1
    (problem,) = plan.problems
    assert problem.category is Category.DUPLICATE_HOSTNAME
    assert problem.message.startswith("SOS inventory returned an unexpected number of servers when querying")
    assert problem.hostname == d.hostname
    assert plan.orphans == ()  # the duplicates are reported, not listed as orphans


def test_disambiguated_duplicate_updates_only_its_record_and_lists_the_other_as_orphan(
    tmp_path: Path,
) -> None:
    d = device()
    records = [
        record(d.hostname, "A", status="Build"),
        record(d.hostname, "B", status="Build", device_id=d.device_id),
    ]
    plan = plan_for(tmp_path, [d], records)
    assert [c.unid for c in plan.changes] == ["B"]
    assert [o.unid for o in plan.orphans] == ["A"]


def test_two_rows_claiming_one_record_are_both_ambiguous_in_one_problem(tmp_path: Path) -> None:
    first, second = device(line=2, device_id="1"), device(line=3, device_id="2")
    plan = plan_for(tmp_path, [first, second], [record(first.hostname, "A", status="Build")])
    assert plan.changes == ()
    assert [n.detail for n in plan.ambiguous] == ["Acct531277/devices.csv:2", "Acct531277/devices.csv:3"]
    [problem] = plan.problems
    assert problem.source == "Acct531277/devices.csv:2"  # the first of them
    assert "2 rows of the exports (Acct531277/devices.csv:2, Acct531277/devices.csv:3)" in problem.message
    assert "unexpected number of servers" not in problem.message


def test_not_in_inventory_orphans_and_unowned_are_listed(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        [device("prod-dal10-carrier2-worker-1"), device("prod-dal10-mystery-01")],
        [record("prod-dal10-mystery-01", "M", application="whatever"), record("prod-dal10-gone-01", "G")],
    )
    assert [n.hostname for n in plan.not_in_inventory] == ["prod-dal10-carrier2-worker-1"]
    assert [n.unid for n in plan.orphans] == ["G"]
    assert [n.hostname for n in plan.unowned] == ["prod-dal10-mystery-01"]
    assert plan.changes == ()  # the unowned application is kept as is


def test_c_codes_are_never_mixed(tmp_path: Path) -> None:
    fr2 = device(c_code="ALC_FR2", account="2051458")
    plan = plan_for(tmp_path, [fr2], [record(fr2.hostname, "ALC-ONE", status="Build")])
    assert plan.changes == ()
    assert [n.c_code for n in plan.not_in_inventory] == ["ALC_FR2"]
    assert [(o.c_code, o.unid) for o in plan.orphans] == [("ALC", "ALC-ONE")]


def test_rule_value_unknown_to_the_inventory_is_a_config_error(tmp_path: Path) -> None:
    d = device("stage-dal09-carrier1-worker-01", c_code="ALC_FR2")
    with pytest.raises(ConfigError) as caught:
        plan_for(tmp_path, [d], [])
    (message,) = caught.value.problems
    assert "ownership.environment[2]" in message
    assert "'STAGE' is not known to the ALC_FR2 inventory" in message
    assert message.endswith("(known: PROD-US-SOUTH)")  # the environments, not the applications


def test_changes_are_sorted_and_counts_add_up(tmp_path: Path) -> None:
    names = [f"prod-dal10-carrier2-worker-{i:03d}" for i in (5, 1, 3)]
    plan = plan_for(
        tmp_path, [device(n) for n in names], [record(n, f"U{n[-1]}", status="Build") for n in names]
    )
    assert [c.hostname for c in plan.changes] == sorted(names)
    counts = plan.counts()
    assert counts["changes"] == 3
    assert counts["devices"] == counts["in_step"] + counts["changes"] == 3


hostnames = st.sampled_from([f"prod-dal10-carrier{i}-worker-0{j}" for i in range(2) for j in range(3)])
statuses = st.sampled_from(["Build", "Live", "Available"])


@settings(max_examples=200, deadline=None)
@given(
    machines=st.lists(
        st.tuples(hostnames, st.integers(-5, 100), st.booleans(), st.sampled_from(["1", "2", ""])), max_size=8
    ),
    inventory=st.lists(
        st.tuples(
            hostnames,
            statuses,
            st.sampled_from(["containers-kubernetes", "container-registry"]),
            st.sampled_from(["1", "2", ""]),
        ),
        max_size=8,
    ),
)
def test_applying_a_plan_then_planning_again_gives_no_change(
    tmp_path_factory: pytest.TempPathFactory,
    machines: list[tuple[str, int, bool, str]],
    inventory: list[tuple[str, str, str, str]],
) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    devices = [
        device(
            h,
            line=i + 2,
            provision_date=NOW - timedelta(hours=age),
            cancellation_date=NOW if cancel else None,
            device_id=dev_id,
        )
        for i, (h, age, cancel, dev_id) in enumerate(machines)
    ]
    records = [
        record(h, f"U{i:02d}", status=s, application=a, device_id=dev_id)
        for i, (h, s, a, dev_id) in enumerate(inventory)
    ]
    first = plan_for(tmp, devices, records)
    by_unid = {r.unid: r for r in records}
    for change in first.changes:
        by_unid[change.unid] = by_unid[change.unid]._replace(**dict(change.after))
    second = plan_for(tmp, devices, list(by_unid.values()))
    assert second.changes == ()
    assert second.problems == first.problems
    # Every machine is accounted for exactly once.
    c = first.counts()
    assert c["in_step"] + c["changes"] + c["not_in_inventory"] + c["ambiguous"] == len(devices)
    # One problem per ambiguous hostname (naming its rows), and never two changes for one record.
    duplicates = [p for p in first.problems if p.category is Category.DUPLICATE_HOSTNAME]
    assert {(p.c_code, p.hostname) for p in duplicates} == {(n.c_code, n.hostname) for n in first.ambiguous}
    assert len(duplicates) <= c["ambiguous"]
    assert len({ch.unid for ch in first.changes}) == len(first.changes)


def test_now_is_timezone_aware() -> None:
    assert NOW.tzinfo is UTC
    assert datetime(2026, 1, 1, tzinfo=UTC) < NOW


def test_a_hostname_twice_in_one_c_code_s_exports_is_one_problem_naming_every_row() -> None:
    from sos_inventory.sync.plan import duplicate_rows

    once = device("prod-dal10-carrier2-worker-1")
    first, second = device(line=7), device(line=9, source="Acct999/devices.csv", account="999")
    other_c_code = device(line=4, c_code="ALC_FR2", account="2051458")
    problems = duplicate_rows(DeviceSet(devices=[once, first, other_c_code, second]))
    (problem,) = problems  # the machine of ALC_FR2 is another C_Code's: not a duplicate
    assert (problem.c_code, problem.hostname) == ("ALC", first.hostname)
    assert problem.source == "Acct531277/devices.csv:7"  # the first row
    assert "2 times (Acct531277/devices.csv:7, Acct999/devices.csv:9)" in problem.message
    assert duplicate_rows(DeviceSet(devices=[once, first])) == []


def test_an_empty_key_is_skipped_and_the_next_one_decides() -> None:
    d = device(device_id="")
    records = [
        record(d.hostname, "A", device_id="", ip_private="10.0.0.1"),
        record(d.hostname, "B", device_id="", ip_private=d.private_ip),
    ]
    assert pick_record(d, records) == records[1]


def test_a_change_names_the_rule_that_decided_each_field(tmp_path: Path) -> None:
    d = device()
    plan = plan_for(tmp_path, [d], [record(d.hostname, "U1", environment="STAGE")])
    (change,) = plan.changes
    assert dict(change.after) == {"environment": "PROD-US-SOUTH"}  # only the field that differs
    assert set(change.rules) == {"environment"}
    assert re.fullmatch(r"ownership\.environment\[\d+\]", change.rules["environment"])
    plan = plan_for(
        tmp_path, [d], [record(d.hostname, "U1", application="container-registry", status="Build")]
    )
    (change,) = plan.changes
    assert re.fullmatch(r"ownership\.application\[\d+\]", change.rules["application"])
    assert change.rules["status"] == "lifecycle"
    assert change.to_dict()["rules"] == dict(change.rules)
    assert "manual_edit" not in change.to_dict()


def test_an_unowned_machine_says_which_rule_is_missing(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, [device("prod-dal10-mystery-01")], [record("prod-dal10-mystery-01", "M")])
    (notice,) = plan.unowned
    assert notice.detail.startswith("no application rule matches")
    assert "environment" not in notice.detail


def test_a_problem_from_an_inventory_error_carries_its_facts() -> None:
    from sos_inventory.errors import SosRejected

    error = SosRejected(
        "HTTP 422",
        status=422,
        operation="update",
        c_code="ALC",
        url="https://sos.example.com/api/servers/U1",
        hostname="prod-dal10-carrier2-worker-1030",
        unid="U1",
    )
    error.time = "2026-12-01T00:00:00Z"
    problem = problem_of(error)
    assert dict(problem.facts) == {
        "operation": "update",
        "host": "sos.example.com",
        "status": "422",
        "unid": "U1",
        "time": "2026-12-01T00:00:00Z",
    }
    assert (problem.c_code, problem.hostname) == ("ALC", "prod-dal10-carrier2-worker-1030")
    out = problem_dict(problem)
    assert out["facts"] == dict(problem.facts)
    assert (out["c_code"], out["hostname"]) == ("ALC", "prod-dal10-carrier2-worker-1030")
    assert "source" not in out and "hostnames" not in out
    assert problem.all_facts({"extra": "x"})["extra"] == "x"
    assert problem.all_facts()["c_code"] == "ALC"
    # Without a URL: no host; the time is when the error was made.
    bare = problem_of(SosRejected("HTTP 400", status=400, operation="query"))
    assert "host" not in bare.facts and "unid" not in bare.facts
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", bare.facts["time"])


def test_an_inventory_that_knows_no_names_says_so(tmp_path: Path) -> None:
    nothing = KnownNames(frozenset(), frozenset())
    config = make_config(tmp_path)
    with pytest.raises(ConfigError) as caught:
        build_plan(DeviceSet(devices=[device()]), {"ALC": []}, config, NOW, {"ALC": nothing})
    assert [p.split(" is not known")[0].split(": ")[1] for p in caught.value.problems] == [
        "application 'containers-kubernetes'",
        "environment 'PROD-US-SOUTH'",
    ]
    assert all(p.endswith("(known: none)") for p in caught.value.problems)


def test_an_ambiguity_names_the_keys_it_tried_even_empty_ones(tmp_path: Path) -> None:
    d = device(device_id="")
    plan = plan_for(tmp_path, [d], [record(d.hostname, "A"), record(d.hostname, "B")])
    (problem,) = plan.problems
    assert f"Device ID (empty), private IP {d.private_ip}, public IP {d.public_ip}" in problem.message


def test_what_the_reports_show_of_changes_notices_and_problems() -> None:
    from sos_inventory.model import Notice

    edited = Change("ALC", "h1", "U1", {"status": "Build"}, {"status": "Live"}, manual_edit=True)
    assert edited.to_dict()["manual_edit"] is True
    assert "unid" not in Notice("ALC", "h1", "not in the inventory").to_dict()
    assert Notice("ALC", "h1", "orphan", unid="U9").to_dict()["unid"] == "U9"
    problem = Problem(Category.DUPLICATE_HOSTNAME, "twice", c_code="ALC", hostname="h1")
    assert problem.all_facts() == {"evidence": "twice", "c_code": "ALC", "hostname": "h1"}
    # A plan made without the exports (a reviewed plan, an undo) counts nothing it did not read.
    assert set(Plan(changes=()).counts().values()) == {0}


def test_problems_are_listed_by_category_c_code_and_hostname(tmp_path: Path) -> None:
    def twice(name: str, line: int, c_code: str = "ALC") -> tuple[Device, list[ServerRecord]]:
        account = "531277" if c_code == "ALC" else "2051458"
        d = device(name, line=line, c_code=c_code, account=account, device_id="")
        return d, [record(name, f"{name}-1", c_code=c_code), record(name, f"{name}-2", c_code=c_code)]

    machines = [
        twice("prod-dal10-carrier2-worker-z", 2),
        twice("prod-dal10-carrier2-worker-b", 3),
        twice("prod-dal10-carrier2-worker-a", 9, c_code="ALC_FR2"),
    ]
    plan = plan_for(tmp_path, [d for d, _ in machines], [r for _, rs in machines for r in rs])
    assert [(p.c_code, p.hostname) for p in plan.problems] == [
        ("ALC", "prod-dal10-carrier2-worker-b"),
        ("ALC", "prod-dal10-carrier2-worker-z"),
        ("ALC_FR2", "prod-dal10-carrier2-worker-a"),
    ]


def test_orphans_sharing_a_hostname_are_listed_by_unid_and_empty_inventories_count_zero(
    tmp_path: Path,
) -> None:
    plan = plan_for(
        tmp_path, [device()], [record("prod-dal10-gone-01", "U2"), record("prod-dal10-gone-01", "U1")]
    )
    assert [(o.hostname, o.unid) for o in plan.orphans] == [
        ("prod-dal10-gone-01", "U1"),
        ("prod-dal10-gone-01", "U2"),
    ]
    assert dict(plan.records) == {"ALC": 2, "ALC_FR2": 0}

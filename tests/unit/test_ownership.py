from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sos_inventory.config import Config, Rule, RuleSet, config_from_mapping, parse_duration
from sos_inventory.config.rules import _start_anchored
from sos_inventory.model import Status
from sos_inventory.sync.ownership import desired_metadata, explain
from tests.builders import NOW, make_config
from tests.builders import make_device as device

W = timedelta(hours=48)


def test_first_matching_rule_wins_in_order(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        ownership={
            "application": [
                {"when": {"hostname": "-carrier"}, "value": "first"},
                {"when": {"hostname": "-carrier2-"}, "value": "second"},
            ],
            "environment": [
                {"when": {"hostname": "^prod-", "location": "dallas"}, "value": "PROD-US-SOUTH"},
                {"when": {"hostname": "^prod-"}, "value": "OTHER"},
            ],
        },
    )
    desired = desired_metadata(device(), config, NOW)
    assert (desired.application, desired.environment, desired.status) == (
        "first",
        "PROD-US-SOUTH",
        Status.LIVE,
    )
    assert (
        desired.application_rule is not None and desired.application_rule.where == "ownership.application[1]"
    )
    elsewhere = desired_metadata(device(location="London 2"), config, NOW)
    assert elsewhere.environment == "OTHER"


def test_rules_match_case_insensitively_on_every_field(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        ownership={
            "application": [{"when": {"tags": r"\bSATLINK\b", "c_code": "^alc$"}, "value": "satellite-link"}],
            "environment": [{"when": {"account": "^531277$", "private_ip": r"^10\."}, "value": "STAGE"}],
        },
    )
    desired = desired_metadata(device(tags="team-x satlink"), config, NOW)
    assert (desired.application, desired.environment) == ("satellite-link", "STAGE")


def test_unowned_fields_are_left_undecided(tmp_path: Path) -> None:
    desired = desired_metadata(device("prod-dal10-mystery-box-01"), make_config(tmp_path), NOW)
    assert desired.application is None
    assert desired.environment == "PROD-US-SOUTH"
    assert desired.fields() == {"environment": "PROD-US-SOUTH", "status": "Live"}


def test_explain_names_rule_dates_and_next_change(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    provision = datetime(2026, 11, 27, 14, 3, tzinfo=UTC) - W
    text = "\n".join(explain(device(provision_date=provision), config, NOW))
    assert "first match: ownership.application[1]: hostname ~ /-carrier\\d+-/" in text
    assert "Build until 2026-11-27T14:03Z, then Live" in text
    assert "provisioned: 2026-11-25T14:03Z" in text
    unowned = "\n".join(explain(device("prod-dal10-mystery-box-01"), config, NOW))
    assert "application: unowned: none of the 2 rules matches" in unowned
    assert "status:      Live" in unowned
    cancelled = "\n".join(explain(device(cancellation_date=datetime(2026, 11, 26, tzinfo=UTC)), config, NOW))
    assert "Available (marked for cancellation" in cancelled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("48h", timedelta(hours=48)),
        ("2d", timedelta(days=2)),
        ("90m", timedelta(minutes=90)),
        (36, timedelta(hours=36)),
    ],
)
def test_durations(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@given(
    hostname=st.sampled_from(
        ["prod-dal10-carrier2-worker-1030", "prod-dal10-carrier150-worker-1", "stage-lon02-registry-docker-1"]
    ),
    location=st.sampled_from(["Dallas 10", "London 2"]),
    tags=st.sampled_from(["", "team-x satlink", "prod carrier2"]),
)
def test_first_match_is_the_first_rule_that_matches_in_order(hostname: str, location: str, tags: str) -> None:
    """Both ways of evaluating a rule list (one field, several fields) agree with the definition."""
    one_field = RuleSet(
        [
            Rule(f"r{i}", (("hostname", re.compile(p, re.I)),), str(i))
            for i, p in enumerate(["carrier1\\d\\d", "carrier", "^stage"])
        ]
    )
    several = RuleSet(
        [
            Rule(
                "a",
                (("hostname", re.compile("carrier", re.I)), ("location", re.compile("london", re.I))),
                "a",
            ),
            Rule("b", (("tags", re.compile(r"\bsatlink\b", re.I)),), "b"),
            Rule("c", (("location", re.compile("dallas", re.I)),), "c"),
        ]
    )
    by_type = RuleSet(  # one field with few values: results are remembered per value
        [
            Rule("p", (("device_type", re.compile("^portable$", re.I)),), "p"),
            Rule("v", (("device_type", re.compile("virtual", re.I)),), "v"),
        ]
    )
    machine = device(hostname, location=location, tags=tags)
    for kind in ("Portable", "Virtual Server", "Bare Metal", "Portable"):
        typed = device(hostname, device_type=kind)
        assert by_type.first_match(typed) is next((r for r in by_type if r.matches(typed)), None)
    for rules in (one_field, several):
        expected = next((rule for rule in rules if rule.matches(machine)), None)
        assert rules.first_match(machine) is expected


@given(
    hostname=st.from_regex(r"[a-z0-9]([a-z0-9_-]{0,30}[a-z0-9])?", fullmatch=True),
    pattern=st.sampled_from(
        [
            "carrier",
            "^prod-",
            "-carrier1\\d\\d-",
            "[a-f]+-\\d",
            "[^a-z]",
            "\\w+_",
            "(dev|stage)-",
            "\\bx",
            "K",
            "s$",
        ]
    ),
)
def test_hostname_rules_match_as_case_insensitive_ones(hostname: str, pattern: str) -> None:
    """Hostname patterns without upper-case letters are compiled without IGNORECASE: same matches."""
    config = make_config_rules(pattern)
    rule = config.application_rules.rules[0]
    assert (rule.when[0][1].search(hostname) is None) == (re.search(pattern, hostname, re.IGNORECASE) is None)


def make_config_rules(pattern: str) -> Config:
    return config_from_mapping(
        {
            "devices": "softlayer-data",
            "accounts": {"531277": "ALC"},
            "ownership": {"application": [{"when": {"hostname": pattern}, "value": "x"}], "environment": []},
        },
        base=Path("/nonexistent"),
        origin="test",
    )


def test_rules_stay_case_insensitive_on_every_field(tmp_path: Path) -> None:
    for pattern in ("CARRIER", "carrier"):
        assert make_config_rules(pattern).application_rules.first_match(device()) is not None
    config = config_from_mapping(
        {
            "devices": "softlayer-data",
            "accounts": {"531277": "ALC"},
            "ownership": {"application": [{"when": {"location": "dallas"}, "value": "x"}], "environment": []},
        },
        base=tmp_path,
        origin="test",
    )
    assert config.application_rules.first_match(device(location="Dallas 10")) is not None


ANCHORED = [
    "^prod-dal",
    "^prodfr2-|^prod-fra",
    "^(stage|stgiks)-",
    "^(?:dev|prestage)-",
    "^sup-",
    "^[a-c]+\\d",
    "^x|^y(z|w)",
]


@given(
    text=st.from_regex(r"(prod|prodfr2|stage|stgiks|dev|sup|abc|x|yz|yw|q)[-a-z0-9]{0,12}", fullmatch=True),
    patterns=st.lists(st.sampled_from(ANCHORED), min_size=1, max_size=6, unique=True),
    upper=st.booleans(),
)
def test_anchored_rule_lists_match_in_one_expression_as_one_by_one(
    text: str, patterns: list[str], upper: bool
) -> None:
    """A one-field list of start-anchored rules is tried as one expression: same first match."""
    rules = [
        Rule(f"r{i}", (("hostname", re.compile(p.upper() if upper else p, re.I)),), str(i))
        for i, p in enumerate(patterns)
    ]
    combined = RuleSet(rules)
    assert combined._match is not None  # the one-expression path is the one under test
    machine = device(text)
    assert combined.first_match(machine) is next((r for r in rules if r.matches(machine)), None)


@pytest.mark.parametrize(
    ("pattern", "anchored"),
    [
        ("^prod", True),
        ("^a|^b", True),
        ("^(a|b)c", True),
        ("^a[|]b", True),
        ("^a\\|b", True),
        ("prod", False),
        ("^a|b", False),  # b may match anywhere
        ("(^a)", False),
        ("^a)|(b", False),
        ("^[]|]b", False),  # a class that starts with ']': not read, so not combined
        ("(?m)^a", False),
    ],
)
def test_start_anchored_patterns_are_told_conservatively(pattern: str, anchored: bool) -> None:
    assert _start_anchored(pattern) is anchored


def test_rules_with_numbered_backreferences_are_searched_one_by_one() -> None:
    rules = RuleSet([Rule("a", (("hostname", re.compile(r"^(\w)\1")),), "a")])
    assert rules._match is None
    assert rules.first_match(device("aab-01")) is not None


def test_explain_shows_the_age_in_days_hours_and_minutes_and_a_future_date_as_negative(
    tmp_path: Path,
) -> None:
    from sos_inventory.sync.ownership import _age

    assert _age(timedelta(days=2, hours=3, minutes=4, seconds=59)) == "2d 3h 4m"
    assert _age(timedelta(hours=23, minutes=59, seconds=59)) == "23h 59m"
    assert _age(timedelta(seconds=59)) == "0h 0m"
    assert _age(timedelta(0)) == "0h 0m"
    assert _age(-timedelta(hours=1, minutes=30)) == "-1h 30m"
    assert _age(-timedelta(seconds=1)) == "-0h 0m"  # provisioned a second from now: still the future
    config = make_config(tmp_path)
    text = "\n".join(explain(device(provision_date=NOW - timedelta(days=3, minutes=7)), config, NOW))
    assert "  age:         3d 0h 7m at 2026-11-27T12:00Z (build window 2d 0h 0m)" in text
    assert "  type:        Virtual Server, Dallas 10" in text
    undated = "\n".join(explain(device(provision_date=None), config, NOW))
    assert "age:" not in undated
    assert "provisioned: unknown" in undated


def test_explanation_gives_each_status_its_reason_and_only_build_an_end(tmp_path: Path) -> None:
    from sos_inventory.sync.ownership import explanation

    config = make_config(tmp_path)
    cases = {
        "Build": (device(provision_date=NOW - timedelta(hours=1)), "younger than the build window"),
        "Live": (device(provision_date=NOW - timedelta(days=30)), "older than the build window"),
        "Available": (
            device(cancellation_date=datetime(2026, 11, 26, tzinfo=UTC)),
            "marked for cancellation; stays Available",
        ),
        None: (device(provision_date=None), "undecided (no provision date)"),
    }
    for value, (machine, reason) in cases.items():
        status = explanation(machine, config, NOW)["status"]
        assert status["value"] == value
        assert status["reason"].startswith(reason)
        assert (status["build_until"] is not None) == (value == "Build")
        assert (status["age_seconds"] is None) == (machine.provision_date is None)
    build = explanation(cases["Build"][0], config, NOW)["status"]
    assert build["age_seconds"] == 3600.0
    assert build["build_until"] == "2026-11-29T11:00:00Z"

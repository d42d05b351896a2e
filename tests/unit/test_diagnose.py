"""diagnose on realistic console logs of the old job and of this tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from sos_inventory.config.knowledge import load_knowledge
from sos_inventory.diagnose.logs import clean_line, diagnose_text
from sos_inventory.errors import ConfigError
from sos_inventory.model import Category
from sos_inventory.runbook import default_knowledge

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"

CASES = {
    "old_dns.log": (
        "dns_lookup_failure",
        {
            "host": "w3.sos.ibm.com",
            "resolver_ip": "9.0.128.50",
            "local_ip": "172.17.0.3",
            "c_code": "ALC",
            "hostname": "prod-dal10-carrier2-worker-1030",
            "time": "2026-11-27T09:14:33.911Z",
        },
    ),
    "old_dial_timeout.log": (
        "network_timeout",
        {"remote_ip": "9.46.1.12", "c_code": "ALC_FR2", "time": "09:20:42"},
    ),
    "old_query_500.log": (
        "sos_api_error",
        {"c_code": "ALC", "status": "500", "hostname": "prod-wdc06-registry-docker-12"},
    ),
    "old_update_503.log": ("sos_api_error", {"c_code": "ALC_FR2", "status": "503"}),
    "old_duplicate.log": ("duplicate_hostname", {"hostname": "prod-lon02-infra-elk-01", "c_code": "ALC"}),
    "old_panic.log": ("code_defect", {"time": "2026-11-27T13:00:01.200Z"}),
    "old_401.log": ("auth_failure", {"status": "401", "c_code": "ALC"}),
    "old_429.log": ("rate_limited", {"status": "429", "c_code": "ALC"}),
    # This job's findings that are not failures of a run (logs in its console format).
    "new_manual_edit.log": ("manual_edit", {}),
    "new_fight.log": ("fight", {}),
    "new_stale_plan.log": ("stale_plan", {}),
    "new_state_error.log": ("state_error", {"time": "2026-11-30T13:00:04.912Z"}),
    "unknown_failure.log": ("code_defect", {}),
    "success_with_error_words.log": (None, {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_log_gets_the_right_primary_and_facts(name: str) -> None:
    expected, facts = CASES[name]
    diagnosis = diagnose_text((LOGS / name).read_text(encoding="utf-8"))
    primary = diagnosis.primary
    assert (primary.category.value if primary else None) == expected
    if primary is not None:
        for key, value in facts.items():
            assert primary.facts.get(key) == value, (key, primary.facts)
        data = primary.to_dict()
        assert data["actions"]
        assert data["evidence"]
        assert data["line"] >= 1


def test_every_category_of_the_spec_is_covered_by_a_log() -> None:
    # This job's own logs (every category, interrupted included) are produced by
    # tests/e2e/test_diagnose_roundtrip.py; these are the old job's,
    # and the unseen formats of test_diagnose_unseen.py (TLS, tracebacks, CSV) complete the set.
    assert {c for c, _ in CASES.values() if c} | {
        "tls_failure",
        "input_error",
        "safety_guard",
        "interrupted",
    } == {c.value for c in Category}


def test_a_cascade_is_diagnosed_as_its_first_cause() -> None:
    diagnosis = diagnose_text((LOGS / "old_dns.log").read_text())
    assert diagnosis.primary is not None
    assert [f.category.value for f in diagnosis.findings] == ["dns_lookup_failure", "network_timeout"]
    assert diagnosis.result == "ERROR: script returned exit code 1"


def test_tickets_are_drafted_ready_to_paste() -> None:
    dns = diagnose_text((LOGS / "old_dns.log").read_text()).primary
    assert dns is not None
    ticket = dns.to_dict()["ticket"]
    assert "Assignment Group: SOS API" in ticket
    assert "Severity: 2" in ticket
    assert "C_Code: ALC" in ticket
    assert "2026-11-27T09:14:33.911Z" in ticket
    taas = diagnose_text((LOGS / "old_dial_timeout.log").read_text()).primary
    assert taas is not None
    assert "SOS API: 9.46.1.12:443" in taas.to_dict()["ticket"]
    unclear = diagnose_text(
        "SOS inventory returned an error when querying: HTTP 502\nFinished: FAILURE\n"
    ).primary
    assert unclear is not None
    # The log does not say: the ticket says so, and names the runbook's default.
    assert "C_Code: unknown (the runbook's default: ALC)" in unclear.to_dict()["ticket"]
    assert diagnose_text((LOGS / "old_401.log").read_text()).primary.to_dict()["ticket"] is None  # type: ignore[union-attr]


def test_transient_categories_advise_a_rerun() -> None:
    for name, transient in (
        ("old_dns.log", True),
        ("old_429.log", True),
        ("old_401.log", False),
        ("old_panic.log", False),
    ):
        primary = diagnose_text((LOGS / name).read_text()).primary
        assert primary is not None
        assert primary.to_dict()["rerun_advised"] is transient


def test_clean_line_strips_colours_jenkins_notes_and_timestamps() -> None:
    raw = "\x1b[8mha:////4PK1x\x1b[0m\x1b[36m[2026-11-27T10:02:31.442Z]\x1b[0m 2026/11/27 10:02:31 \x1b[31mpanic: boom\x1b[0m"
    assert clean_line(raw) == ("panic: boom", "2026-11-27T10:02:31.442Z")
    assert clean_line("12:00:01  cause: dns_lookup_failure") == ("cause: dns_lookup_failure", "12:00:01")
    assert clean_line("2026-11-27T16:00:01 WARNING x") == ("x", "2026-11-27T16:00:01")


def test_a_log_without_result_and_without_evidence_has_no_failure() -> None:
    assert diagnose_text("hello\nan error_rates line\n").primary is None


def test_repeated_lines_collapse_into_one_finding_with_a_count() -> None:
    line = "Failed to query SOS inventory c_code=ALC: dial tcp 9.46.1.12:443: i/o timeout\n"
    diagnosis = diagnose_text(line * 50 + "Finished: FAILURE\n")
    assert len(diagnosis.findings) == 1
    assert diagnosis.findings[0].count == 50


def test_user_rules_extend_and_override_the_knowledge(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        """
patterns:
  - id: vpn-down
    category: network_timeout
    regex: 'VPN tunnel \\S+ is down'
    specificity: 95
categories:
  rate_limited:
    actions: ["Page the API owner."]
""",
        encoding="utf-8",
    )
    knowledge = load_knowledge(rules)
    diagnosis = diagnose_text("VPN tunnel sos-1 is down\nFinished: FAILURE\n", knowledge)
    assert diagnosis.primary is not None
    assert diagnosis.primary.pattern == "vpn-down"
    assert knowledge.actions(Category.RATE_LIMITED, {}) == ["Page the API owner."]
    assert knowledge.categories[Category.RATE_LIMITED].transient is True  # the rest is kept
    assert len(knowledge.patterns) == len(default_knowledge().patterns) + 1


def test_invalid_rules_are_reported_with_their_place(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "patterns:\n  - id: x\n    category: nope\n    regex: '('\ncategories:\n  weird: {}\nwhat: 1\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_knowledge(rules)
    text = "\n".join(caught.value.problems)
    assert "patterns[1].regex: invalid regular expression" in text
    assert "patterns[1].category: unknown category 'nope'" in text
    assert "categories.weird: unknown category" in text
    assert "what: unknown key" in text

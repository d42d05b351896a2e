"""The Jenkinsfile maps exit codes right, only uses commands and options that exist, and never
lets Groovy expand a secret."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from sos_inventory.cli import build_parser

JENKINSFILE = (Path(__file__).resolve().parent.parent / "Jenkinsfile").read_text(encoding="utf-8")


def sh_steps() -> list[str]:
    return re.findall(r"\bsh\s+'([^']*)'", JENKINSFILE)


def mapped_calls() -> list[str]:
    """The arguments of every sosInventory('...') step."""
    return re.findall(r"\bsosInventory\('([^']*)'\)", JENKINSFILE)


def mapping_function() -> str:
    match = re.search(r"def sosInventory\(String arguments\) \{(.*?)\n\}", JENKINSFILE, re.S)
    assert match, "the Jenkinsfile has no sosInventory() function"
    return match.group(1)


def result_of(code: int) -> str:
    """The build result the Jenkinsfile's sosInventory() gives an exit code, read from its branches."""
    body = mapping_function()
    branches = re.findall(r"if \(code (==|!=) (\d+)\) \{\s*(\w+)\(", body)
    assert branches, body
    for operator, value, step in branches:
        if (code == int(value)) == (operator == "=="):
            return {"unstable": "UNSTABLE", "error": "FAILURE"}[step]
    return "SUCCESS"


def test_exit_codes_map_to_success_unstable_and_failure() -> None:
    assert "sh(returnStatus: true, script: '.venv/bin/sos-inventory ' + arguments)" in mapping_function()
    assert result_of(0) == "SUCCESS"
    assert result_of(1) == "UNSTABLE"
    for code in (2, 3, 4, 5, 70, 130, 143):
        assert result_of(code) == "FAILURE", code


def test_every_validate_and_update_step_goes_through_the_mapping() -> None:
    """A plain `sh` step would fail the build on exit 1 and skip the update after validate.
    The evidence steps are plain on purpose: a ledger that does not verify fails the build."""
    assert [call.split()[0] for call in mapped_calls()] == ["validate", "update"]
    direct = [step for step in sh_steps() if "sos-inventory " in step]
    assert all(step.split("sos-inventory ", 1)[1].startswith(("diagnose", "audit")) for step in direct), (
        direct
    )


def test_every_sos_inventory_call_parses_with_the_real_parser() -> None:
    parser = build_parser()
    direct = [
        re.split(r"\|\||>|;", step.split("sos-inventory ", 1)[1])[0]
        for step in sh_steps()
        if "sos-inventory " in step
    ]
    calls = mapped_calls() + direct
    assert {c.split()[0] for c in calls} == {"validate", "update", "diagnose", "audit"}
    for call in calls:
        args = parser.parse_args(shlex.split(call.replace('"$', '"X_')))
        assert callable(args.func)


def test_schedule_one_build_at_a_time_timeout_junit_archive_and_diagnose() -> None:
    for needle in (
        "cron(",
        "disableConcurrentBuilds()",
        "timeout(time:",
        "junit",
        "reports/junit.xml",
        "archiveArtifacts artifacts: 'reports/**'",
        "sos-inventory diagnose",
    ):
        assert needle in JENKINSFILE, needle


def test_the_state_dir_outlives_the_workspace_and_the_ledger_is_verified_and_exported() -> None:
    state = re.search(r"SOS_STATE_DIR = '([^']+)'", JENKINSFILE)
    assert state is not None and "WORKSPACE" not in state.group(1)
    steps = sh_steps()
    assert any("update " in s and '--state-dir "$SOS_STATE_DIR"' in s for s in mapped_calls())
    assert any("audit verify" in s for s in steps)
    assert any("audit export" in s and "evidence/" in s for s in steps)
    assert "archiveArtifacts artifacts: 'evidence/**'" in JENKINSFILE


def test_credentials_are_bound_to_the_variables_the_tool_reads_and_never_interpolated() -> None:
    assert "usernameVariable: 'SOS_API_EMAIL', passwordVariable: 'SOS_API_TOKEN'" in JENKINSFILE
    assert "variable: 'SOS_NOTIFY_URL'" in JENKINSFILE
    assert not re.search(r'\bsh\s*\(?\s*"', JENKINSFILE), "a double-quoted sh step lets Groovy interpolate"
    assert not re.search(r'sosInventory\(\s*"', JENKINSFILE), (
        "a double-quoted command lets Groovy interpolate"
    )
    for step in [*sh_steps(), *mapped_calls()]:
        assert "${" not in step


def test_summary_html_is_published() -> None:
    assert re.search(r"publishHTML\(target: \[reportDir: 'reports', reportFiles: 'summary.html'", JENKINSFILE)

"""The Jenkinsfile only uses commands and options that exist, and never lets Groovy expand a secret."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from sos_inventory.cli import build_parser

JENKINSFILE = (Path(__file__).resolve().parent.parent / "Jenkinsfile").read_text(encoding="utf-8")


def sh_steps() -> list[str]:
    return re.findall(r"\bsh\s+'([^']*)'", JENKINSFILE)


def test_every_sos_inventory_call_parses_with_the_real_parser() -> None:
    parser = build_parser()
    calls = [
        re.split(r"\|\||>|;", step.split("sos-inventory ", 1)[1])[0]
        for step in sh_steps()
        if "sos-inventory " in step
    ]
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
    assert any("update " in s and '--state-dir "$SOS_STATE_DIR"' in s for s in steps)
    assert any("audit verify" in s for s in steps)
    assert any("audit export" in s and "evidence/" in s for s in steps)
    assert "archiveArtifacts artifacts: 'evidence/**'" in JENKINSFILE


def test_credentials_are_bound_to_the_variables_the_tool_reads_and_never_interpolated() -> None:
    assert "usernameVariable: 'SOS_API_EMAIL', passwordVariable: 'SOS_API_TOKEN'" in JENKINSFILE
    assert "variable: 'SOS_NOTIFY_URL'" in JENKINSFILE
    assert not re.search(r'\bsh\s+"', JENKINSFILE), "a double-quoted sh step lets Groovy interpolate"
    for step in sh_steps():
        assert "${" not in step

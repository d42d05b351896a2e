"""The Jenkinsfile, run: its steps in its order, the way Jenkins runs them, for each way a build ends.

Every step of the job is a call of ``jenkins/job.sh``, and the Groovy around them only maps what
``job.sh result CODE`` prints to the build result. So a test can run the job as Jenkins would:
the stages in order with the real CLI against the real reference server, then the post steps in
order, where ``junit``, ``archiveArtifacts`` and ``publishHTML`` publish whatever the reports
folder holds at that moment. Each scenario checks what is published and the build's result.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sos_inventory.cli import build_parser
from sos_inventory.config import load_config
from sos_inventory.model import ExitCode
from tests.builders import config_data, row, write_csv
from tests.e2e.conftest import EMAIL, TOKEN, write_seed, write_users
from tests.serverutil import RunningServer, running_server, seed_db

ROOT = Path(__file__).resolve().parent.parent
JENKINSFILE = (ROOT / "Jenkinsfile").read_text(encoding="utf-8")
JOB = ROOT / "jenkins" / "job.sh"
HOSTS = [f"prod-dal10-carrier2-worker-{n:02d}" for n in range(1, 9)]
RESULTS = ("SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT")  # Jenkins' order: a result only gets worse


# --- the Jenkinsfile, read -----------------------------------------------------------------------


def _block(text: str, opening: str) -> str:
    """The text between ``opening``'s brace and its matching closing brace."""
    start = text.index(opening) + len(opening)
    depth = 1
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start:index]
    raise AssertionError(f"no end to {opening!r}")


_STEP = re.compile(
    r"\bsh '(?P<sh>[^']*)'|\bjobStep\('(?P<job>[^']*)'\)|\bjunit\b[^\n]*testResults: '(?P<junit>[^']*)'"
    r"|\barchiveArtifacts artifacts: '(?P<archive>[^']*)'|\bpublishHTML\(target: \[reportDir: '(?P<dir>[^']*)',"
    r" reportFiles: '(?P<file>[^']*)'"
)


def steps_of(block: str) -> list[tuple[str, str]]:
    """The steps of a block, in order: ("sh", script), ("job", step), ("junit" | "archive" | "html", what)."""
    out = []
    for match in _STEP.finditer(block):
        kind = next(name for name, value in match.groupdict().items() if value is not None)
        if kind == "dir":
            out.append(("html", f"{match['dir']}/{match['file']}"))
        else:
            out.append((kind, match[kind]))
    return out


def stages() -> list[tuple[str, list[tuple[str, str]]]]:
    body = _block(JENKINSFILE, "stages {")
    names = re.findall(r"stage\('([^']+)'\)", body)
    return [(name, steps_of(_block(body, f"stage('{name}') {{"))) for name in names]


def post(condition: str) -> list[tuple[str, str]]:
    return steps_of(_block(_block(JENKINSFILE, "post {"), f"{condition} {{"))


# --- a build, run ------------------------------------------------------------------------------


@dataclass
class Build:
    """What one build did: its result, and what the post steps published."""

    result: str = "SUCCESS"
    published: dict[str, list[str]] = field(default_factory=dict)  # what a post step publishes -> files
    log: list[str] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)  # the job.sh steps run

    def worsen(self, result: str) -> None:
        self.result = max(self.result, result, key=RESULTS.index)


@dataclass
class Workspace:
    root: Path
    env: dict[str, str]
    db: Path  # the reference server's inventory

    def statuses(self) -> set[str]:
        """Every Status the inventory holds now."""
        dumped = subprocess.run(
            [sys.executable, "-m", "sos_inventory", "server", "dump", "--db", str(self.db)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return {record["status"] for record in json.loads(dumped.stdout)["servers"]}

    def sh(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", script],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def run_build(self) -> Build:
        """The pipeline as Jenkins runs it: stages until one fails, then post always, then failure."""
        build = Build()
        for _, steps in stages():
            if build.result == "FAILURE":
                break  # error() or a failing sh ends the stages
            for kind, what in steps:
                self._step(build, kind, what)
                if build.result == "FAILURE":
                    break
        for kind, what in post("always"):
            if not self._step(build, kind, what):
                break  # a failing step ends the post block
        if build.result == "FAILURE":
            build.ran += [what.split()[-1] for kind, what in post("failure") if kind == "sh"]
        return build

    def _step(self, build: Build, kind: str, what: str) -> bool:
        """Run one step; False when it failed (a plain ``sh`` exiting non-zero)."""
        if kind in ("junit", "archive", "html"):
            pattern = f"{what}/*" if what.endswith("**") else what  # Ant's "dir/**": every file below
            build.published[what] = sorted(
                str(p.relative_to(self.root)) for p in self.root.glob(pattern) if p.is_file()
            )
            return True
        script = what if kind == "sh" else f"jenkins/job.sh {what}"
        build.ran.append(script.split()[-1])
        done = self.sh(script)
        build.log += [done.stdout, done.stderr]
        if kind == "sh":
            if done.returncode != 0:
                build.worsen("FAILURE")
            return done.returncode == 0
        # jobStep(): the result that `job.sh result CODE` names.
        result = self.sh(f"jenkins/job.sh result {done.returncode}").stdout.strip()
        build.worsen(result)
        return True


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Netint",
        "GIT_AUTHOR_EMAIL": "netint@example.com",
        "GIT_COMMITTER_NAME": "Netint",
        "GIT_COMMITTER_EMAIL": "netint@example.com",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[Workspace, RunningServer, str]]:
    """A job workspace (this repository's job.sh and a config), an exports repository on disk, and
    the reference server holding the fleet's records, every one of them Build where the export says Live."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    exports = tmp_path / "netint"
    write_csv(exports / "Acct531277" / "devices.csv", [row(host) for host in HOSTS])
    _git(exports, "init", "--quiet", "--initial-branch", "master")
    _git(exports, "add", ".")
    _git(exports, "commit", "--quiet", "-m", "export")
    commit = _git(exports, "rev-parse", "HEAD")
    servers = [
        {"c_code": "ALC", "unid": f"U{n:02d}", "hostname": host, "fqdn": f"{host}.alchemy.ibm.com"}
        | {"ip_public": "", "ip_private": "", "device_id": "", "application": "containers-kubernetes"}
        | {"environment": "PROD-US-SOUTH", "status": "Build"}
        for n, host in enumerate(HOSTS, start=1)
    ]
    db = tmp_path / "inventory.db"
    seed_db(db, write_seed(tmp_path / "seed.json", servers))
    root = tmp_path / "workspace"
    (root / "jenkins").mkdir(parents=True)
    shutil.copy(JOB, root / "jenkins" / "job.sh")
    with running_server(db, write_users(tmp_path / "users.yaml")) as server:
        write_job_config(root, server.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOS_", "NETINT_"))}
        env |= {
            "SOS_INVENTORY_VENV": sys.prefix,  # the job's venv is this one: prepare does not install
            "SOS_STATE_DIR": str(tmp_path / "state"),
            "NETINT_REPO": exports.as_uri(),
            "NETINT_BRANCH": "master",
            "SOS_API_EMAIL": EMAIL,
            "SOS_API_TOKEN": TOKEN,
        }
        yield Workspace(root, env, db), server, commit


def write_job_config(root: Path, url: str, **overrides: Any) -> None:
    settings = config_data(accounts={"531277": "ALC"}, inventory={"url": url, "retry": {"attempts": 1}})
    settings.update(overrides)
    (root / "sos-inventory.yaml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


REPORTS = ["reports/junit.xml", "reports/report.json", "reports/summary.html", "reports/summary.md"]


def _report(space: Workspace) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((space.root / "reports" / "report.json").read_text(encoding="utf-8"))
    return data


# --- the scenarios -------------------------------------------------------------------------------


def test_exit_0_is_success_with_every_report_published_and_the_exports_commit_recorded(
    workspace: tuple[Workspace, RunningServer, str],
) -> None:
    space, _, commit = workspace
    build = space.run_build()
    assert build.result == "SUCCESS", build.log
    assert build.ran == ["prepare", "exports", "validate", "update", "evidence", "verify"]
    assert build.published == {
        "reports/junit.xml": ["reports/junit.xml"],
        "reports/**": REPORTS,
        "reports/summary.html": ["reports/summary.html"],
        "evidence/**": [],
    }
    data = _report(space)
    assert data["exit_code"] == 0 and data["counts"]["applied"] == len(HOSTS)
    assert data["inputs"]["devices[1]"]["commit"] == commit
    assert data["inputs"]["devices[1]"]["ref"] == "master"
    assert f"exports: {space.env['NETINT_REPO']} master at commit {commit}" in "".join(build.log)


def test_exit_1_is_unstable_and_still_updates_after_a_validate_with_row_problems(
    workspace: tuple[Workspace, RunningServer, str],
) -> None:
    space, _, _ = workspace
    # A bad row in the export: validate exits 1, the update still runs and updates the others.
    exports = Path(space.env["NETINT_REPO"].removeprefix("file://"))
    rows = [row(host) for host in HOSTS] + [row("prod-dal10-carrier2-worker-99", provision="2026-13-45")]
    write_csv(exports / "Acct531277" / "devices.csv", rows)
    _git(exports, "commit", "--quiet", "-am", "a bad row")
    build = space.run_build()
    assert build.result == "UNSTABLE", build.log
    assert build.ran[:4] == ["prepare", "exports", "validate", "update"]
    assert build.published["reports/junit.xml"] == ["reports/junit.xml"]
    assert _report(space)["counts"]["applied"] == len(HOSTS)


def test_exit_3_is_a_failure_with_the_refusal_published_and_diagnosed(
    workspace: tuple[Workspace, RunningServer, str],
) -> None:
    space, server, _ = workspace
    write_job_config(space.root, server.url, safety={"max_changes": 2, "max_change_ratio": 1.0})
    build = space.run_build()
    assert build.result == "FAILURE"
    assert build.ran == ["prepare", "exports", "validate", "update", "evidence", "verify", "diagnose"]
    assert build.published["reports/summary.html"] == ["reports/summary.html"]
    assert _report(space)["safety"]["verdict"] == "refused"
    assert server.stats()["by_kind"].get("update", 0) == 0


def test_exit_4_is_a_failure_with_the_reports_published(
    workspace: tuple[Workspace, RunningServer, str],
) -> None:
    space, _, _ = workspace
    space.env["SOS_API_TOKEN"] = "not-the-token"
    build = space.run_build()
    assert build.result == "FAILURE"
    assert sorted(build.published["reports/**"]) == REPORTS
    assert _report(space)["exit_code"] == 4
    assert "diagnose" in build.ran


def test_exit_5_is_not_built_publishes_nothing_and_pages_no_one(
    workspace: tuple[Workspace, RunningServer, str],
) -> None:
    space, server, _ = workspace
    # The reports of an earlier build must not be published as this one's.
    (space.root / "reports").mkdir()
    (space.root / "reports" / "summary.html").write_text("an earlier build's", encoding="utf-8")
    state = Path(space.env["SOS_STATE_DIR"])
    state.mkdir()
    with (state / "update.lock").open("a+") as held:  # another build on the same state holds the lock
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        build = space.run_build()
    assert build.result == "NOT_BUILT", build.log
    assert "diagnose" not in build.ran
    assert set(build.published) == {"reports/junit.xml", "reports/**", "reports/summary.html", "evidence/**"}
    assert not any(build.published.values())
    assert server.stats()["by_kind"].get("update", 0) == 0


def test_a_ledger_that_does_not_verify_fails_the_build_after_every_report_is_published(
    workspace: tuple[Workspace, RunningServer, str],
) -> None:
    space, _, _ = workspace
    assert space.run_build().result == "SUCCESS"
    ledger = Path(space.env["SOS_STATE_DIR"]) / "ledger.db"
    with sqlite3.connect(ledger) as db:  # someone edits the evidence
        db.execute("UPDATE ledger SET after = 'Build' WHERE seq = 3")
    build = space.run_build()
    assert build.result == "FAILURE"
    assert build.ran[-2:] == ["verify", "diagnose"]
    assert build.published["reports/summary.html"] == ["reports/summary.html"]
    assert "ledger NOT intact: row 3" in "".join(build.log)


def test_parameters_plan_only_and_one_c_code(workspace: tuple[Workspace, RunningServer, str]) -> None:
    space, server, _ = workspace
    space.env |= {"PLAN_ONLY": "true", "C_CODES": "ALC"}
    build = space.run_build()
    assert build.result == "SUCCESS", build.log
    assert "reports/plan.json" in build.published["reports/**"]
    data = _report(space)
    assert data["command"] == "plan" and data["c_codes"] == ["ALC"]
    assert server.stats()["by_kind"].get("update", 0) == 0


def test_force_needs_a_reason_and_records_it(workspace: tuple[Workspace, RunningServer, str]) -> None:
    space, server, _ = workspace
    write_job_config(space.root, server.url, safety={"max_changes": 2, "max_change_ratio": 1.0})
    space.env |= {"FORCE": "true"}
    build = space.run_build()
    assert build.result == "FAILURE"
    assert "FORCE needs FORCE_REASON" in "".join(build.log)
    assert server.stats()["by_kind"].get("update", 0) == 0
    space.env |= {"FORCE_REASON": "data-centre dal10 closes: CHG0042"}
    build = space.run_build()
    assert build.result == "SUCCESS", build.log
    data = _report(space)
    assert data["safety"] == {
        "verdict": "forced",
        "refusals": data["safety"]["refusals"],
        "overrides": ["--force"],
        "reason": "data-centre dal10 closes: CHG0042",
    }
    assert data["counts"]["applied"] == len(HOSTS)


# --- the Jenkinsfile, read (what cannot be run here) ---------------------------------------------


def test_the_result_mapping_of_job_step_is_the_one_the_runs_above_assume() -> None:
    body = _block(JENKINSFILE, "def jobStep(String step) {")
    assert "sh(returnStatus: true, script: 'jenkins/job.sh ' + step)" in body
    assert "sh(returnStdout: true, script: 'jenkins/job.sh result ' + code)" in body
    assert re.search(r"result == 'NOT_BUILT'\) \{\s*currentBuild.result = 'NOT_BUILT'", body)
    assert re.search(r"result == 'UNSTABLE'\) \{\s*unstable\(", body)
    assert re.search(r"result != 'SUCCESS'\) \{\s*error\(", body)
    mapping = {
        code: subprocess.run(
            ["bash", str(JOB), "result", str(code)], capture_output=True, text=True, check=False
        ).stdout
        for code in (0, 1, 2, 3, 4, 5, 70, 130, 143)
    }
    assert (ExitCode.OK, ExitCode.PROBLEMS, ExitCode.LOCKED) == (0, 1, 5)  # the codes job.sh maps by value
    assert {code: text.strip() for code, text in mapping.items()} == {
        0: "SUCCESS",
        1: "UNSTABLE",
        2: "FAILURE",
        3: "FAILURE",
        4: "FAILURE",
        5: "NOT_BUILT",
        70: "FAILURE",
        130: "FAILURE",
        143: "FAILURE",
    }


def test_every_parameter_reaches_the_job_and_every_command_parses() -> None:
    declared = set(re.findall(r"(?:string|booleanParam)\(name: '(\w+)'", JENKINSFILE))
    script = JOB.read_text(encoding="utf-8")
    assert declared == {
        "C_CODES",
        "UNDO_RUN",
        "CONCURRENCY",
        "MAX_RPS",
        "PLAN_ONLY",
        "FORCE",
        "FORCE_REASON",
        "MAX_CHANGES",
        "MAX_CHANGE_RATIO",
        "MIN_EXPORT_RATIO",
        "EXPORT_EVIDENCE",
        "NETINT_REPO",
        "NETINT_BRANCH",
    }
    for name in declared:
        assert f"${{{name}" in script or f"${name}" in script, name
    parser = build_parser()
    for call in [*re.findall(r'"\$CLI" ([a-z]+(?: [a-z]+)?) ', script), "update", "plan", "validate"]:
        args = parser.parse_args(shlex.split(call))
        assert callable(args.func)


def test_undo_run_puts_back_what_a_run_wrote(workspace: tuple[Workspace, RunningServer, str]) -> None:
    space, _, _ = workspace
    assert space.run_build().result == "SUCCESS"
    assert space.statuses() == {"Live"}
    ran = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sos_inventory",
                "runs",
                "--json",
                "--state-dir",
                space.env["SOS_STATE_DIR"],
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]["run_id"]
    space.env["UNDO_RUN"] = ran
    build = space.run_build()
    assert build.result == "SUCCESS", build.log
    data = _report(space)
    assert data["command"] == "undo" and data["counts"]["applied"] == len(HOSTS)
    assert space.statuses() == {"Build"}  # as seeded: what the first build wrote is put back


def test_a_job_without_its_config_fails_in_prepare_with_the_tool_s_own_diagnosis(
    workspace: tuple[Workspace, RunningServer, str],
) -> None:
    space, _, _ = workspace
    (space.root / "sos-inventory.yaml").unlink()
    build = space.run_build()
    assert build.result == "FAILURE" and build.ran == ["prepare", "evidence", "verify", "diagnose"]
    log = "".join(build.log)
    assert "error: no sos-inventory.yaml in the job's checkout" in log and "cause: input_error" in log
    assert "jenkins/sos-inventory.example.yaml" in log


def test_the_example_config_is_a_valid_config_for_the_real_api() -> None:
    config = load_config(JOB.parent / "sos-inventory.example.yaml")
    assert config.inventory_url.startswith("https://") and config.c_codes == ["ALC", "ALC_FR2"]


def test_schedule_one_build_at_a_time_timeout_and_credentials_never_interpolated() -> None:
    # Every four hours: H H/4 (H(0-3)/4 would step through hours 0-3 only: once a day).
    assert "cron('H H/4 * * *')" in JENKINSFILE
    for needle in ("cron(", "disableConcurrentBuilds()", "timeout(time:", "sh 'jenkins/job.sh diagnose'"):
        assert needle in JENKINSFILE, needle
    assert "usernameVariable: 'SOS_API_EMAIL', passwordVariable: 'SOS_API_TOKEN'" in JENKINSFILE
    assert "variable: 'SOS_NOTIFY_URL'" in JENKINSFILE
    assert "gitUsernamePassword(credentialsId: 'netint-git')" in JENKINSFILE
    assert not re.search(r'\bsh\s*\(?\s*"', JENKINSFILE), "a double-quoted sh step lets Groovy interpolate"
    for kind, what in [step for _, steps in stages() for step in steps] + post("always") + post("failure"):
        assert "${" not in what, (kind, what)
    state = re.search(r"SOS_STATE_DIR = '([^']+)'", JENKINSFILE)
    assert state is not None and "WORKSPACE" not in state.group(1)

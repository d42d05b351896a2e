"""Smoke test of the benchmark driver (bench/run.py): a tiny fleet, end to end, in seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e


def test_run_py_measures_the_job_and_both_references(tmp_path: Path) -> None:
    output = tmp_path / "result.json"
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--devices", "300", "--latency-ms", "0"]
    command += ["--repeat", "1", "--old-sample", "40", "--cache-dir", str(tmp_path), "--output", str(output)]
    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result == json.loads(output.read_text(encoding="utf-8"))
    assert "ratio to ideal" in done.stderr  # the table, for humans

    assert {"benchmark", "date", "machine", "params", "fleet", "changes", "median", "runs"} <= set(result)
    assert {"ideal", "old", "ratios"} <= set(result)
    assert result["params"]["devices"] == 300
    assert result["machine"]["nproc"] >= 1

    fleet = result["fleet"]
    assert 280 <= fleet["machines"] <= 300
    assert set(fleet["records"]) == {"ALC", "ALC_FR2"}

    (run,) = result["runs"]
    assert run["exit_code"] == 0
    assert not run["timed_out"]
    changes = result["changes"]
    assert changes == run["counts"]["changes"] == run["counts"]["applied"] > 0
    assert run["by_kind"]["update"] == changes
    assert run["by_kind"]["query"] == result["ideal"]["pages"] == 2  # one page per C_Code
    assert run["by_kind"]["query_hostname"] == 0
    assert run["requests"] == result["ideal"]["requests"] == changes + 2 + 4

    median = result["median"]
    assert 0 < median["wall_s"] < 120
    assert 10 < median["peak_rss_mib"] < 2000
    assert median["requests_per_s"] > 0
    assert median["server_cpu_s"] >= 0

    old = result["old"]
    assert old["queries"] == fleet["machines"]
    assert old["updates"] == changes
    assert old["lower_bound_s"] == 0  # no latency: no lower bound worth the name
    (sample,) = old["samples"]
    assert sample["machines"] == sample["queries"] == 40
    assert sample["by_kind"]["query_hostname"] == 40
    assert sample["by_kind"]["update"] == sample["updates"]
    assert old["extrapolated_s"] > 0
    assert result["ideal"]["wall_s"] == 0
    assert result["ratios"]["to_ideal"] is None
    assert result["ratios"]["speedup_vs_old_lower_bound"] is None
    assert result["ratios"]["speedup_vs_old_extrapolated"] > 0


def test_per_host_py_shows_auto_choosing_per_host_queries(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "bench" / "per_host.py"), "--devices", "5000", "--rows", "2"]
    command += ["--repeat", "1", "--cache-dir", str(tmp_path), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    (auto,), (bulk,) = result["runs"]["auto"], result["runs"]["bulk"]
    # ALC holds ~4,500 records: 5 pages of 1000, so 2 hostname queries after page 1 are fewer.
    assert auto["requests"]["query"] == 1
    assert auto["requests"]["query_hostname"] == 2
    assert bulk["requests"]["query"] == 5
    assert bulk["requests"]["query_hostname"] == 0
    assert "auto:" in done.stderr and "bulk:" in done.stderr


def test_ledger_py_builds_a_ledger_that_verifies_and_times_its_readers(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "bench" / "ledger.py"), "--runs", "3", "--machines", "400"]
    done = subprocess.run(
        [*command, "--repeat", "1", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["changes"] == 3 * 12 and result["rows"] > 2 * result["changes"]
    assert result["size_bytes"] > 0 and result["history_changes_of_one_machine"] >= 1
    verify = subprocess.run(
        [sys.executable, "-m", "sos_inventory", "audit", "verify", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0 and f"{result['rows']} rows" in verify.stdout

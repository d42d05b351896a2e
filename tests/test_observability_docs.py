"""docs/observability.md: its alerting rules and its Grafana panel are valid, and the alerts fire when they should."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_observe_metrics import SPEC_METRICS

DOC = (Path(__file__).resolve().parent.parent / "docs" / "observability.md").read_text(encoding="utf-8")


def _block(section: str, language: str) -> str:
    match = re.search(rf"^## {re.escape(section)}\n.*?^```{language}\n(.*?)^```", DOC, re.S | re.M)
    assert match, f"no {language} block under '## {section}'"
    return match.group(1)


RULES = _block("Alerting rules", "yaml")
PANEL = json.loads(_block("Grafana panel", "json"))


def _promtool(*args: str, cwd: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    result = subprocess.run(
        ["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_is_documented() -> None:
    for name in SPEC_METRICS:
        assert f"`{name}" in DOC, name


def test_promtool_accepts_the_rules_and_the_panel_queries(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(RULES, encoding="utf-8")
    _promtool("check", "rules", "rules.yml", cwd=tmp_path)
    # The panel's queries, as recording rules: promtool parses each one.
    records = [
        {"record": f"panel:query_{target['refId'].lower()}", "expr": target["expr"]}
        for target in PANEL["targets"]
    ]
    (tmp_path / "panel.yml").write_text(yaml.safe_dump({"groups": [{"name": "panel", "rules": records}]}))
    _promtool("check", "rules", "panel.yml", cwd=tmp_path)


def _annotations(alert: str, **values: str) -> dict[str, str]:
    rules = yaml.safe_load(RULES)["groups"][0]["rules"]
    templates: dict[str, str] = next(r for r in rules if r["alert"] == alert)["annotations"]
    out = {}
    for key, template in templates.items():
        text = template
        for name, value in values.items():
            text = text.replace("{{ " + name + " }}", value)
        out[key] = text
    return out


def _expect(alert: str, labels: dict[str, str], **values: str) -> list[dict[str, Any]]:
    return [{"exp_labels": labels, "exp_annotations": _annotations(alert, **values)}]


def test_the_alerts_fire_when_they_should(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(RULES, encoding="utf-8")
    quiet_week = "25x167"  # 25 field changes per hourly run for a week...
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {  # the last success at time 0, never again: quiet for 12 h, then the alert after 15 min
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'sos_inventory_last_success_timestamp_seconds{instance="a"}',
                        "values": "0x900",
                    },
                    {
                        "series": 'sos_inventory_problems{instance="a",category="auth_failure"}',
                        "values": "0x60 1x60",
                    },
                    {
                        "series": 'sos_inventory_problems{instance="a",category="rate_limited"}',
                        "values": "0x120",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "11h", "alertname": "SosInventoryNoSuccess", "exp_alerts": []},
                    {"eval_time": "12h10m", "alertname": "SosInventoryNoSuccess", "exp_alerts": []},
                    {
                        "eval_time": "13h",
                        "alertname": "SosInventoryNoSuccess",
                        "exp_alerts": _expect("SosInventoryNoSuccess", {"severity": "page", "instance": "a"}),
                    },
                    {"eval_time": "30m", "alertname": "SosInventoryFailures", "exp_alerts": []},
                    {
                        "eval_time": "90m",
                        "alertname": "SosInventoryFailures",
                        "exp_alerts": _expect(
                            "SosInventoryFailures",
                            {"severity": "ticket", "instance": "a", "category": "auth_failure"},
                            **{"$value": "1", "$labels.category": "auth_failure"},
                        ),
                    },
                ],
            },
            {  # ... then 60 (not 3 times the average: no spike), then 200 in one run: a spike
                "interval": "1h",
                "input_series": [
                    {
                        "series": 'sos_inventory_changes{instance="a",c_code="ALC",field="status",outcome="applied"}',
                        "values": f"{quiet_week} 60 200",
                    }
                ],
                "alert_rule_test": [
                    {"eval_time": "168h", "alertname": "SosInventoryChangeSpike", "exp_alerts": []},
                    {
                        "eval_time": "169h",
                        "alertname": "SosInventoryChangeSpike",
                        "exp_alerts": _expect(
                            "SosInventoryChangeSpike",
                            {"severity": "ticket", "instance": "a"},
                            **{"$value": "200"},
                        ),
                    },
                ],
            },
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
    _promtool("test", "rules", "tests.yml", cwd=tmp_path)


def test_the_panel_is_a_grafana_timeseries_panel() -> None:
    assert PANEL["type"] == "timeseries"
    assert {t["refId"] for t in PANEL["targets"]} == {"A", "B"}
    assert any("sos_inventory_last_success_timestamp_seconds" in t["expr"] for t in PANEL["targets"])

"""The run's metrics: names, HELP texts, values, the last success, and sinks that fail."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sos_inventory.model import Category
from sos_inventory.observe import metrics
from sos_inventory.outbound import shown
from sos_inventory.report import RunReport
from tests.unit.observe_sample import STARTED, sample_report

#: docs/observability.md's metrics, as the exposition names them.
SPEC_METRICS = {
    "sos_inventory_last_run_timestamp_seconds",
    "sos_inventory_last_success_timestamp_seconds",
    "sos_inventory_run_duration_seconds",
    "sos_inventory_exit_code",
    "sos_inventory_devices",
    "sos_inventory_changes",
    "sos_inventory_problems",
    "sos_inventory_requests",
    "sos_inventory_retries",
}


def _samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        assert family.documentation, f"{family.name} has no HELP text"
        for sample in family.samples:
            out[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _write(report: RunReport, path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = metrics.registry_of(report, metrics.last_success(report, path))
    assert metrics.write_file(registry, path)
    return _samples(path)


def test_every_spec_metric_with_the_run_values(tmp_path: Path) -> None:
    path = tmp_path / "sos.prom"
    samples = _write(sample_report(), path)
    families = {f.name for f in text_string_to_metric_families(path.read_text(encoding="utf-8"))}
    assert families == SPEC_METRICS
    finished = STARTED.timestamp() + 42
    assert samples["sos_inventory_last_run_timestamp_seconds", ()] == finished
    assert samples["sos_inventory_last_success_timestamp_seconds", ()] == finished  # exit 1 did its job
    assert samples["sos_inventory_run_duration_seconds", ()] == 42
    assert samples["sos_inventory_exit_code", ()] == 1
    assert samples["sos_inventory_devices", (("c_code", "ALC"),)] == 9
    assert (
        samples["sos_inventory_changes", (("c_code", "ALC"), ("field", "status"), ("outcome", "applied"))]
        == 2
    )
    assert (
        samples["sos_inventory_changes", (("c_code", "ALC"), ("field", "status"), ("outcome", "failed"))] == 1
    )
    assert (
        samples[
            "sos_inventory_changes", (("c_code", "ALC"), ("field", "application"), ("outcome", "applied"))
        ]
        == 1
    )
    assert samples["sos_inventory_problems", (("category", "sos_api_error"),)] == 1  # the failed update
    assert samples["sos_inventory_problems", (("category", "input_error"),)] == 1
    assert samples["sos_inventory_problems", (("category", "rate_limited"),)] == 0
    assert sum(1 for name, _ in samples if name == "sos_inventory_problems") == len(Category)
    assert samples["sos_inventory_requests_total", (("kind", "query"),)] == 5
    assert samples["sos_inventory_requests_total", (("kind", "update"),)] == 4
    assert samples["sos_inventory_retries_total", ()] == 2
    assert not [name for name, _ in samples if name.endswith("_created")]
    assert [p.name for p in tmp_path.iterdir()] == ["sos.prom"]  # no temporary file left


def test_a_failed_run_keeps_the_last_success_of_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "sos.prom"
    _write(sample_report(), path)
    failed = sample_report()
    failed.exit_code = 4
    failed.started_at = failed.started_at.replace(hour=16)
    failed.finished_at = failed.started_at
    samples = _write(failed, path)
    assert samples["sos_inventory_last_success_timestamp_seconds", ()] == STARTED.timestamp() + 42
    assert samples["sos_inventory_last_run_timestamp_seconds", ()] == failed.finished_at.timestamp()
    assert samples["sos_inventory_exit_code", ()] == 4


def test_a_failed_first_run_has_no_last_success(tmp_path: Path) -> None:
    failed = sample_report()
    failed.exit_code = 3
    samples = _write(failed, tmp_path / "sos.prom")
    assert ("sos_inventory_last_success_timestamp_seconds", ()) not in samples
    assert samples["sos_inventory_exit_code", ()] == 3


def test_an_unreadable_previous_file_is_logged_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "sos.prom"
    path.write_text("this is { not the text format\n", encoding="utf-8")
    assert metrics.previous_last_success(path) is None
    assert metrics.previous_last_success(tmp_path / "missing.prom") is None


def test_a_file_that_cannot_be_written_returns_false_naming_the_missing_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = metrics.registry_of(sample_report(), None)
    assert not metrics.write_file(registry, tmp_path / "no-such-dir" / "sos.prom")
    assert f"its folder {tmp_path / 'no-such-dir'} does not exist" in caplog.text
    assert ".tmp" not in caplog.text  # no temporary name of the atomic write


def test_a_new_metrics_file_is_private_and_one_made_readable_stays_so(tmp_path: Path) -> None:
    registry = metrics.registry_of(sample_report(), None)
    new, shared = tmp_path / "new.prom", tmp_path / "shared.prom"
    shared.touch()
    shared.chmod(0o644)  # made readable once for a node_exporter running as another user
    for path in (new, shared, new, shared):  # written twice: the second run keeps the mode too
        assert metrics.write_file(registry, path)
    assert (new.stat().st_mode & 0o777, shared.stat().st_mode & 0o777) == (0o600, 0o644)
    assert "sos_inventory" in shared.read_text(encoding="utf-8")


def test_a_gateway_that_never_answers_is_given_up_after_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://user:pw-SECRET@127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        assert not metrics.push(metrics.registry_of(sample_report(), None), url, timeout=0.5)
        assert time.monotonic() - started < 5  # 0.5 s asked; the library's own default is 30 s


def test_urls_are_logged_without_credentials() -> None:
    assert (
        shown("https://u:p-SECRET@gw.example:9091/x?token=1") == "https://u:***@gw.example:9091/x?token=***"
    )

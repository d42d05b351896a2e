"""Fault injection, the pure parts: validation of :class:`Faults`, its JSON form,
the ``server run`` option values, and the injector's decisions under a fake clock."""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sos_inventory.server import cli as server_cli
from sos_inventory.server.app import API_KINDS
from sos_inventory.server.cli import parse_error_rate, parse_kinds, parse_outage, parse_rate
from sos_inventory.server.faults import Fault, FaultInjector, Faults

ALL_KINDS = frozenset(API_KINDS)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- Faults: defaults, normalisation, validation ------------------------------------


def test_the_default_injects_nothing() -> None:
    faults = Faults()
    assert not faults.active
    assert faults.as_json() == {
        "error_rates": {},
        "retry_after": None,
        "drop_before": 0.0,
        "drop_after": 0.0,
        "outage": None,
        "outage_mode": "503",
        "kinds": sorted(API_KINDS),
        "seed": None,
    }


@pytest.mark.parametrize(
    "settings",
    [
        {"error_rates": {503: 0.1}},
        {"drop_before": 0.01},
        {"drop_after": 1},
        {"outage": (0, 1)},
    ],
)
def test_any_rate_or_an_outage_makes_faults_active(settings: dict[str, Any]) -> None:
    assert Faults(**settings).active


def test_zero_rates_are_not_active() -> None:
    assert not Faults(error_rates={503: 0.0}, retry_after="2", seed=1).active


def test_values_are_normalised_and_immutable() -> None:
    faults = Faults(error_rates={503: 1, 429: 0}, drop_before=0, outage=[5, 10], kinds={"query"})  # type: ignore[arg-type]
    assert list(faults.error_rates.items()) == [(429, 0.0), (503, 1.0)]
    assert all(isinstance(rate, float) for rate in faults.error_rates.values())
    assert faults.outage == (5.0, 10.0)
    assert faults.kinds == frozenset({"query"})
    with pytest.raises(TypeError):
        faults.error_rates[500] = 0.5  # type: ignore[index]
    assert faults == Faults(error_rates={429: 0.0, 503: 1.0}, outage=(5.0, 10.0), kinds=frozenset({"query"}))


def test_equal_faults_hash_alike() -> None:
    assert len({Faults(error_rates={503: 1}), Faults(error_rates={503: 1.0}), Faults()}) == 2


def test_rates_may_add_up_to_exactly_one_despite_float_rounding() -> None:
    # 0.7 + 0.2 + 0.1 is 0.9999999999999999 or 1.0000000000000002 depending on order.
    Faults(error_rates={500: 0.7, 503: 0.2}, drop_after=0.1)
    Faults(error_rates={503: 0.1, 500: 0.2}, drop_before=0.7)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"error_rates": {503: 1.5}}, "the rate of 503 must be a number from 0 to 1, not 1.5"),
        ({"error_rates": {503: -0.1}}, "the rate of 503 must be a number from 0 to 1"),
        ({"error_rates": {503: math.nan}}, "the rate of 503 must be a number from 0 to 1, not nan"),
        ({"error_rates": {503: "0.1"}}, "the rate of 503 must be a number"),
        ({"error_rates": {503: True}}, "the rate of 503 must be a number"),
        ({"error_rates": {200: 0.1}}, "an error status must be an integer from 400 to 599, not 200"),
        ({"error_rates": {600: 0.1}}, "from 400 to 599, not 600"),
        ({"error_rates": {"503": 0.1}}, "an error status must be an integer"),
        ({"drop_before": 2}, "drop_before must be a number from 0 to 1, not 2"),
        ({"drop_after": math.inf}, "drop_after must be a number from 0 to 1, not inf"),
        ({"error_rates": {503: 0.6}, "drop_after": 0.5}, "add up to 1.1; at most 1 is possible"),
        ({"drop_before": 0.6, "drop_after": 0.6}, "add up to 1.2"),
        ({"retry_after": "soon"}, "retry_after must be SECONDS, date:SECONDS or mix:SECONDS"),
        ({"retry_after": "date:"}, "retry_after must be"),
        ({"retry_after": "-1"}, "retry_after must be"),
        ({"retry_after": "86401"}, r"\(0\.\.86400\), not '86401'"),
        ({"retry_after": 2}, "retry_after must be"),
        ({"outage": (5,)}, r"outage must be \[start >= 0, duration > 0\] in seconds"),
        ({"outage": (-1, 5)}, "outage must be"),
        ({"outage": (0, 0)}, "outage must be"),
        ({"outage": (0, math.inf)}, "outage must be"),
        ({"outage": (0, "5")}, "outage must be"),
        ({"outage_mode": "404"}, "outage_mode must be '503' or 'drop', not '404'"),
        ({"kinds": frozenset({"query", "delete"})}, "unknown request kinds: delete; choose from query,"),
        ({"kinds": frozenset()}, "unknown request kinds: none"),
        ({"kinds": "query"}, "kinds must be a set of request kinds"),
        ({"seed": 1.5}, "seed must be an integer or null, not 1.5"),
        ({"seed": True}, "seed must be an integer or null"),
    ],
)
def test_invalid_faults_are_rejected_with_a_clear_message(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults(**settings)


def test_retry_after_accepts_each_form() -> None:
    for value in ("0", "2", "date:2", "mix:30", "86400"):
        assert Faults(retry_after=value).retry_after == value


# -- JSON -------------------------------------------------------------------------------

FULL = Faults(
    error_rates={503: 0.1, 429: 0.02, 502: 0.01},
    retry_after="mix:2",
    drop_before=0.03,
    drop_after=0.04,
    outage=(5.0, 10.0),
    outage_mode="drop",
    kinds=frozenset({"query", "update"}),
    seed=7,
)


def test_json_form_round_trips_through_text() -> None:
    data = FULL.as_json()
    assert data == {
        "error_rates": {"429": 0.02, "502": 0.01, "503": 0.1},
        "retry_after": "mix:2",
        "drop_before": 0.03,
        "drop_after": 0.04,
        "outage": [5.0, 10.0],
        "outage_mode": "drop",
        "kinds": ["query", "update"],
        "seed": 7,
    }
    assert Faults.from_json(json.loads(json.dumps(data))) == FULL


def test_missing_json_keys_take_their_defaults() -> None:
    assert Faults.from_json({}) == Faults()
    assert Faults.from_json({"drop_after": 1}) == Faults(drop_after=1.0)
    assert Faults.from_json({"outage": None, "retry_after": None, "seed": None}) == Faults()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "faults must be a JSON object"),
        ("503=0.1", "faults must be a JSON object"),
        ({"error_rate": {}}, "unknown keys error_rate; known: error_rates, retry_after,"),
        ({"error_rates": [503]}, 'error_rates must be an object such as {"503": 0.1}'),
        ({"error_rates": {"5xx": 0.1}}, "error_rates keys must be statuses such as '503', not '5xx'"),
        ({"error_rates": {"200": 0.1}}, "from 400 to 599, not 200"),
        ({"error_rates": {"503": "all"}}, "the rate of 503 must be a number"),
        ({"kinds": "query"}, "kinds must be a list such as"),
        ({"kinds": ["query", 1]}, "kinds must be a set of request kinds"),
        ({"outage": "0+1"}, "outage must be"),
        ({"outage": [0, 1, 2]}, "outage must be"),
        ({"outage_mode": 503}, "outage_mode must be '503' or 'drop', not 503"),
        ({"seed": "7"}, "seed must be an integer"),
    ],
)
def test_invalid_json_is_rejected_with_a_clear_message(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults.from_json(data)


rates = st.floats(min_value=0, max_value=0.2, allow_nan=False)


@given(
    error_rates=st.dictionaries(st.integers(400, 599), rates, max_size=3),
    drop_before=rates,
    drop_after=rates,
    retry_after=st.none() | st.from_regex(r"(date:|mix:)?[0-9]{1,4}", fullmatch=True),
    outage=st.none() | st.tuples(st.floats(0, 1e6), st.floats(0.001, 1e6)),
    outage_mode=st.sampled_from(["503", "drop"]),
    kinds=st.frozensets(st.sampled_from(API_KINDS), min_size=1),
    seed=st.none() | st.integers(-(2**63), 2**63),
)
def test_json_round_trip_property(**settings: Any) -> None:
    faults = Faults(**settings)
    assert Faults.from_json(json.loads(json.dumps(faults.as_json()))) == faults


# -- command-line values ------------------------------------------------------------------


def test_option_values_parse() -> None:
    assert parse_rate("0.1") == 0.1
    assert parse_rate("1") == 1.0
    assert parse_error_rate("503=0.1") == (503, 0.1)
    assert parse_error_rate("429=1") == (429, 1.0)
    assert parse_outage("5+10") == (5.0, 10.0)
    assert parse_outage("0+0.5") == (0.0, 0.5)
    assert parse_kinds("query, update,") == frozenset({"query", "update"})


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (parse_rate, "ten percent", "expected a rate from 0 to 1 such as 0.1, not 'ten percent'"),
        (parse_rate, "1.5", "expected a rate from 0 to 1"),
        (parse_rate, "nan", "expected a rate from 0 to 1"),
        (parse_error_rate, "503", "expected STATUS=RATE such as 503=0.1, not '503'"),
        (parse_error_rate, "5xx=0.1", "expected STATUS=RATE"),
        (parse_error_rate, "200=0.1", "an error status must be an integer from 400 to 599, not 200"),
        (parse_error_rate, "503=2", "expected a rate from 0 to 1 such as 0.1, not '2'"),
        (parse_outage, "5", "expected START\\+DURATION in seconds such as 5\\+10, not '5'"),
        (parse_outage, "5+0", "expected START\\+DURATION"),
        (parse_outage, "-1+5", "expected START\\+DURATION"),
        (parse_outage, "a+b", "expected START\\+DURATION"),
        (parse_kinds, "query,delete", "unknown request kinds: delete"),
        (parse_kinds, ",", "unknown request kinds: none"),
    ],
)
def test_bad_option_values_are_rejected(parse: Any, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(text)


def run_args(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sos-inventory")
    server_cli.register(parser.add_subparsers())
    return parser.parse_args(["server", "run", "--db", "inventory.db", *args])


def test_server_run_options_make_faults() -> None:
    args = run_args(
        "--fail", "503=0.1", "--fail", "429=0.02", "--fail", "502=0.01",
        "--retry-after", "mix:2", "--drop-before", "0.03", "--drop-after", "0.04",
        "--outage", "5+10", "--outage-mode", "drop", "--fault-kinds", "query,update", "--fault-seed", "7",
    )  # fmt: skip
    assert server_cli._faults(args) == FULL
    assert server_cli._faults(run_args()) == Faults()


def test_server_run_rejects_a_status_given_twice() -> None:
    with pytest.raises(ValueError, match="--fail gives status 503 more than once"):
        server_cli._faults(run_args("--fail", "503=0.1", "--fail", "503=0.2"))


def test_server_run_reports_a_bad_option_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run_args("--fail", "503=2")
    assert "argument --fail: expected a rate from 0 to 1 such as 0.1, not '2'" in capsys.readouterr().err


# -- the injector's decisions ----------------------------------------------------------------


def decisions(injector: FaultInjector, count: int, kind: str = "query") -> Counter[str | None]:
    faults = (injector.decide(kind) for _ in range(count))
    return Counter(None if fault is None else fault.name for fault in faults)


def test_no_faults_means_no_decisions() -> None:
    assert decisions(FaultInjector(), 1000) == Counter({None: 1000})


def test_rates_are_met_over_many_draws() -> None:
    faults = Faults(error_rates={503: 0.1, 429: 0.05}, drop_before=0.05, drop_after=0.1, seed=1)
    counts = decisions(FaultInjector(faults), 20_000)
    expected = {"error-503": 0.1, "error-429": 0.05, "drop-before": 0.05, "drop-after": 0.1, None: 0.7}
    assert set(counts) == set(expected)
    for name, share in expected.items():
        assert counts[name] == pytest.approx(20_000 * share, rel=0.1), name


def test_a_rate_of_one_always_hits() -> None:
    assert decisions(FaultInjector(Faults(drop_after=1.0)), 100) == Counter({"drop-after": 100})
    injector = FaultInjector(Faults(error_rates={502: 1.0}))
    assert injector.decide("update") == Fault("error-502", status=502)


def test_a_seed_makes_the_sequence_reproducible_and_set_restarts_it() -> None:
    faults = Faults(error_rates={503: 0.1}, seed=42)
    first, second = FaultInjector(faults), FaultInjector(faults)
    sequence = [first.decide("query") for _ in range(300)]
    assert sequence == [second.decide("query") for _ in range(300)]
    first.set(faults)
    assert sequence == [first.decide("query") for _ in range(300)]
    assert 15 <= sum(fault is not None for fault in sequence) <= 45


def test_only_the_chosen_kinds_are_hit() -> None:
    injector = FaultInjector(Faults(drop_before=1.0, kinds=frozenset({"update"})))
    hit = {kind: injector.decide(kind) for kind in API_KINDS}
    assert hit == {**dict.fromkeys(API_KINDS), "update": Fault("drop-before", dropped="drop-before")}


def test_the_outage_window_opens_and_closes_on_time() -> None:
    clock = FakeClock()
    injector = FaultInjector(Faults(outage=(5, 10)), clock=clock)
    seen = {}
    for elapsed in (0, 4.999, 5, 10, 14.999, 15, 100):
        clock.now = 1000 + elapsed
        seen[elapsed] = injector.decide("query")
    outage = Fault("outage-503", status=503)
    assert seen == {0: None, 4.999: None, 5: outage, 10: outage, 14.999: outage, 15: None, 100: None}


def test_setting_faults_restarts_the_outage_clock() -> None:
    clock = FakeClock()
    injector = FaultInjector(Faults(outage=(0, 1), outage_mode="drop"), clock=clock)
    assert injector.decide("update") == Fault("outage-drop", dropped="drop-before")
    clock.now += 2
    assert injector.decide("update") is None
    injector.set(injector.faults)
    assert injector.outage_active()
    assert injector.decide("update") == Fault("outage-drop", dropped="drop-before")


def test_an_outage_overrides_the_rates_but_not_the_kinds() -> None:
    faults = Faults(error_rates={429: 1.0}, outage=(0, 1), kinds=frozenset({"query"}))
    injector = FaultInjector(faults, clock=FakeClock())
    assert injector.decide("query") == Fault("outage-503", status=503)
    assert injector.decide("update") is None


# -- Retry-After ---------------------------------------------------------------------------------


def retry_after(setting: str | None, status: int = 503, count: int = 1) -> list[dict[str, str]]:
    injector = FaultInjector(Faults(retry_after=setting), wall_clock=lambda: 1_795_000_000.25)
    return [injector.retry_after(status) for _ in range(count)]


def test_retry_after_in_seconds() -> None:
    assert retry_after("2", 503) == [{"Retry-After": "2"}]
    assert retry_after("2", 429) == [{"Retry-After": "2"}]


def test_retry_after_only_on_429_and_503_and_only_when_asked() -> None:
    assert retry_after("2", 500) == [{}]
    assert retry_after("2", 502) == [{}]
    assert retry_after(None, 503) == [{}]


def test_retry_after_as_an_http_date_rounds_up_to_whole_seconds() -> None:
    [header] = retry_after("date:2")
    # 1_795_000_000.25 rounds up to ...001, plus 2 s.
    assert parsedate_to_datetime(header["Retry-After"]).timestamp() == 1_795_000_003
    assert header["Retry-After"].endswith(" GMT")


def test_retry_after_mix_alternates_the_forms() -> None:
    headers = [h["Retry-After"] for h in retry_after("mix:2", count=4)]
    assert headers[0] == headers[2] == "2"
    assert headers[1] == headers[3]
    assert parsedate_to_datetime(headers[1]).timestamp() == 1_795_000_003

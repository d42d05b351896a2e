"""Rule patterns run in bounded time: re for simple ones, RE2 for the rest, refused otherwise."""

from __future__ import annotations

import re
import time

import pytest

from sos_inventory.config import Rule, RuleSet
from sos_inventory.config.patterns import compile_rule_pattern, is_simple
from sos_inventory.errors import UnsafePattern
from tests.builders import make_device as device


@pytest.mark.parametrize(
    "pattern",
    [
        r"-carrier\d+-",
        "^prod-dal",
        r"^(stage|stgiks)-",
        "-registry-",
        r"[a-z]{2,5}\d",
        r"(a)\1",
        r"^(?!old-)",
    ],
)
def test_usual_rules_stay_on_re(pattern: str) -> None:
    assert is_simple(pattern)[0]
    assert isinstance(compile_rule_pattern(pattern, ignore_case=True), re.Pattern)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a+)+$", "a repetition inside a repetition"),
        (r".*.*.*x", "3 unbounded repetitions"),
        (r"^prod-dal\d+-carrier\d+-worker-\d+$", "3 unbounded repetitions"),
        (r"(a|aa)*b", "an alternation inside a repetition"),
        (r"(ab){1,100}", "a repeated group"),
    ],
)
def test_other_rules_run_on_re2_in_linear_time(pattern: str, reason: str) -> None:
    simple, why = is_simple(pattern)
    assert not simple
    assert reason in why
    compiled = compile_rule_pattern(pattern, ignore_case=True)
    assert not isinstance(compiled, re.Pattern)
    started = time.monotonic()
    compiled.search("a" * 5000 + "!")
    assert time.monotonic() - started < 1.0


def test_re2_keeps_case_insensitivity_and_meaning() -> None:
    compiled = compile_rule_pattern(r"^PROD-dal\d+-carrier\d+-worker-\d+$", ignore_case=True)
    assert compiled.search("prod-DAL10-carrier2-worker-1030")
    assert not compiled.search("stage-dal10-carrier2-worker-1030")
    strict = compile_rule_pattern(r"^PROD-(a+)+$", ignore_case=False)
    assert not strict.search("prod-aaa")


@pytest.mark.parametrize("pattern", [r"(a+)+\1", r"(?=a)(a|b)+\w+\w+"])
def test_a_pattern_neither_simple_nor_re2_is_refused(pattern: str) -> None:
    with pytest.raises(UnsafePattern, match="rewrite it"):
        compile_rule_pattern(pattern, ignore_case=True)


def test_a_rule_list_mixing_both_engines_keeps_first_match_order() -> None:
    first = Rule(
        "a[1]", (("hostname", compile_rule_pattern(r"^prod-(\w+-)+worker", ignore_case=False)),), "one"
    )
    second = Rule("a[2]", (("hostname", compile_rule_pattern("^prod-", ignore_case=False)),), "two")
    rules = RuleSet([first, second])
    assert rules.first_match(device("prod-dal10-carrier2-worker-1")) is first
    assert rules.first_match(device("prod-dal10-registry-1")) is second
    assert rules.first_match(device("stage-dal10-registry-1")) is None

"""Literal strings that let a big log be read fast, and a cheap set of them to scan for.

Most lines of a big console log are noise (progress, tables of changes). A
pattern can only match a line that holds one of its *needles*: strings read
from the expression itself that every match contains (:func:`required_literals`).
Scanning a block of the log for a needle is done in C; only the lines that hold
one are read in Python.

Each needle costs one pass over the block, so :func:`cover` trades them for a
few short substrings (any part of a needle is as sound as the needle), chosen
with the head of the log itself: a substring that is rare there, and shared by
many needles, replaces them all.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sos_inventory.runbook import Regex

# The standard library's own parser of regular expressions (private, hence looked up, not imported).
_sre_parser: Any = importlib.import_module("re._parser")

_MIN_NEEDLE = 3
_MAX_NEEDLES = 64


def required_literals(regex: Regex) -> frozenset[str] | None:
    """Lower-case strings of which every match of ``regex`` holds at least one, or None.

    Read from the parsed expression: a run of literal characters in the
    top-level sequence must be in the match; so must one of the alternatives of
    a group or branch that the sequence requires. Of the candidate sets, the one
    whose shortest string is longest is kept (the most telling). The answer is
    sound or None, never a guess: a line without any of these strings cannot match.
    """
    try:
        parsed = _sre_parser.parse(regex.pattern, getattr(regex, "flags", 0))  # RE2's have none
    except Exception:
        return None
    found = _sequence_literals(list(parsed))
    return frozenset(found) if found else None


def _pure(items: list[Any]) -> list[str] | None:
    """Every string a purely literal sub-expression can match (lower case), or None."""
    texts = [""]
    for op, value in items:
        name = str(op)
        if name == "LITERAL":
            options = [chr(value).lower()]
        elif name == "IN" and all(str(o) == "LITERAL" for o, _ in value):
            options = [chr(v).lower() for _, v in value]
        elif name == "SUBPATTERN":
            found = _pure(list(value[-1]))
            if found is None:
                return None
            options = found
        elif name == "BRANCH":
            options = []
            for branch in value[1]:
                found = _pure(list(branch))
                if found is None:
                    return None
                options += found
        else:
            return None
        if len(texts) * len(options) > _MAX_NEEDLES:
            return None
        texts = [text + option for text in texts for option in options]
    return texts


def _flat(items: list[Any]) -> list[Any]:
    """A sequence with its groups opened: a group in a sequence is just more of the sequence."""
    out = []
    for op, value in items:
        if str(op) == "SUBPATTERN":
            out += _flat(list(value[-1]))
        else:
            out.append((op, value))
    return out


def _sequence_literals(items: list[Any]) -> set[str] | None:
    best: set[str] | None = None

    def consider(candidate: set[str] | None) -> None:
        nonlocal best
        if not candidate or len(candidate) > _MAX_NEEDLES or min(map(len, candidate)) < _MIN_NEEDLE:
            return
        if best is None or min(map(len, candidate)) > min(map(len, best)):
            best = candidate

    run = [""]
    for item in _flat(items):
        options = _pure([item])
        if options is not None and len(run) * len(options) <= _MAX_NEEDLES:
            run = [text + option for text in run for option in options]
            continue
        consider(set(run))
        run = [""]
        name, value = str(item[0]), item[1]
        if name == "SUBPATTERN":
            consider(_sequence_literals(list(value[-1])))
        elif name == "BRANCH":
            branches = [_sequence_literals(list(branch)) for branch in value[1]]
            if all(branches):
                consider(set().union(*branches))  # type: ignore[arg-type]
        elif name in ("MAX_REPEAT", "MIN_REPEAT") and value[0] >= 1:
            consider(_sequence_literals(list(value[2])))
    consider(set(run))
    return best


_GRAM = 4
_LENGTHS = (4, 6, 8, 12, 16, 24)
#: What reading one candidate line costs, in passes of a 4-byte string over SAMPLE bytes
#: (measured: such a pass over 8 MB ~20 ms, a line read in Python ~10 us).
_LINE_COST = 1 / 30
SAMPLE = 128 * 1024


def _pass_cost(length: int) -> float:
    """A pass for a string of this length, relative to one of 4 bytes: longer strings skip further."""
    return float((_GRAM / min(length, 36)) ** 0.5)


def cover(needles: Iterable[bytes], sample: bytes) -> tuple[bytes, ...]:
    """A few substrings such that every needle holds one of them, cheap to scan for.

    Greedy set cover: each round takes the candidate (a needle or a part of it)
    that covers the most needles per cost, the cost being its pass over a block
    (shorter is slower) plus the lines of ``sample`` (the lower-cased head of
    the log) that it would let through. The result is as sound as the needles.
    """
    left = set(needles)
    grams: Counter[bytes] = Counter(sample[i : i + _GRAM] for i in range(len(sample) - _GRAM + 1))
    parts = {
        n: {n} | {n[i : i + k] for k in _LENGTHS if k < len(n) for i in range(len(n) - k + 1)} for n in left
    }
    seen: dict[bytes, int] = {}
    for part in {part for group in parts.values() for part in group}:
        # A part whose first 4 bytes never occur in the sample does not occur either: no need to count.
        seen[part] = (
            grams[part[:_GRAM]] if len(part) == _GRAM or not grams[part[:_GRAM]] else sample.count(part)
        )
    chosen: list[bytes] = []
    while left:
        covers: Counter[bytes] = Counter(part for needle in left for part in parts[needle])
        best = max(
            sorted(covers),
            key=lambda part: covers[part] / (_pass_cost(len(part)) + seen[part] * _LINE_COST),
        )
        chosen.append(best)
        left = {needle for needle in left if best not in needle}
    return tuple(sorted(chosen))

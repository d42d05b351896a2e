"""Rule patterns that run in bounded time, whatever text they meet.

Python's ``re`` backtracks: a pattern such as ``(a+)+$`` takes exponential
time on an unlucky hostname, and ``.*.*.*x`` cubic time, which hangs
``explain``, ``plan`` and ``update``. Rules keep Python's syntax (README, Config reference), so
each pattern is sorted at load:

* **simple** patterns (at most one repetition that is unbounded or wider than
  :data:`WIDE_REPEAT`, of a single character or class, and no repetition
  inside a repetition): Python's ``re``, whose worst case is then quadratic in
  the field's length, and the export bounds those lengths
  (``devices.MAX_FIELD``). Every rule seen in practice (``-carrier\\d+-``,
  ``^prod-dal``, ``^(stage|stgiks)-``) is simple, and keeps ``re``'s speed;
* any other pattern runs on RE2 (``google-re2``), whose time is linear in the
  text. RE2 matches what ``re`` matches for the text of an export, except that
  ``\\d``, ``\\w`` and ``\\b`` are ASCII-only and ``$`` does not match before a
  final line break;
* a pattern that is not simple and that RE2 cannot run (a backreference or a
  lookaround in it) is refused at load, with the reason.

Measured per ``search`` on 300,000 hostnames: ``re`` 130-330 ns, RE2 3-6 us
(the Python binding's overhead), hence RE2 only where it is needed.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Protocol

from sos_inventory.errors import UnsafePattern

__all__ = ["WIDE_REPEAT", "RulePattern", "compile_rule_pattern", "is_simple"]

# The parser ``re`` itself uses (private modules with no type stubs; read through ``Any``).
sre: Any = importlib.import_module("re._constants")
sre_parse: Any = importlib.import_module("re._parser")

#: A repetition with a larger upper bound than this counts as unbounded.
WIDE_REPEAT = 16

_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}
_ONE_CHARACTER = {sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN, sre.CATEGORY}


class RulePattern(Protocol):
    """What a rule needs of a compiled pattern (``re.Pattern`` or an RE2 one)."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str) -> Any: ...

    def finditer(self, text: str) -> Any: ...

    def __hash__(self) -> int: ...


def _walk(items: Any, inside_repeat: bool, found: list[str]) -> int:
    """The number of wide repetitions in ``items``; appends the reasons it is not simple to ``found``."""
    wide = 0
    for op, av in items:
        if op in _REPEATS:
            _, high, body = av
            is_wide = high == sre.MAXREPEAT or high > WIDE_REPEAT
            if inside_repeat and high > 1:
                found.append("a repetition inside a repetition")
            if is_wide:
                wide += 1
                if not (len(body) == 1 and body[0][0] in _ONE_CHARACTER):
                    found.append("a repeated group")
            wide += _walk(body, inside_repeat or high > 1, found)
        elif op is sre.SUBPATTERN:
            wide += _walk(av[-1], inside_repeat, found)
        elif op is sre.BRANCH:
            if inside_repeat:
                found.append("an alternation inside a repetition")
            for branch in av[1]:
                wide += _walk(branch, inside_repeat, found)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            wide += _walk(av[1], inside_repeat, found)
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            wide += _walk(av, inside_repeat, found)
        elif op is sre.GROUPREF_EXISTS:
            for branch in av[1:]:
                if branch is not None:
                    wide += _walk(branch, inside_repeat, found)
        elif op is sre.GROUPREF and inside_repeat:
            found.append("a backreference inside a repetition")
    return wide


def is_simple(pattern: str, flags: int = 0) -> tuple[bool, str]:
    """Whether ``re`` runs ``pattern`` in at most quadratic time, and if not, why."""
    found: list[str] = []
    wide = _walk(sre_parse.parse(pattern, flags), False, found)
    if wide > 1:
        found.append(f"{wide} unbounded repetitions")
    return not found, ", ".join(dict.fromkeys(found))


def compile_rule_pattern(pattern: str, *, ignore_case: bool) -> RulePattern:
    """The pattern compiled for bounded time; re.error for bad syntax, UnsafePattern if it cannot be."""
    flags = re.IGNORECASE if ignore_case else 0
    compiled = re.compile(pattern, flags)  # the syntax is Python's, and so are its error messages
    simple, why = is_simple(pattern, flags)
    if simple:
        return compiled
    import re2  # type: ignore[import-untyped]  # only for the rare pattern that needs it

    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False  # RE2 would log to stderr; the refusal below says it all
    try:
        linear: RulePattern = re2.compile(pattern, options)
    except re2.error:
        raise UnsafePattern(
            f"can take exponential or polynomial time on some text ({why}), and its "
            "backreference or lookaround rules out the linear-time engine: rewrite it "
            "without nested or repeated groups (e.g. '(a+)+$' as 'a+$')"
        ) from None
    return linear

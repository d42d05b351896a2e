"""The runbook as data: categories, actions, tickets and log evidence (docs/runbook.md).

The knowledge lives in ``data/runbook.yaml`` (shipped with the package); a user
file of the same shape extends or overrides it. This module loads and validates
it, and renders what a category says: its actions and its ticket draft, filled
with the facts of one failure. The console, the reports, the alerts and
``diagnose`` all use it, so they always say the same thing.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Protocol
from urllib.parse import urlsplit

import yaml

from sos_inventory.errors import (
    ConfigError,
    InputError,
    SosAuthError,
    SosDnsError,
    SosError,
    SosHttpError,
    SosInventoryError,
    SosRateLimited,
    SosTlsError,
    SosTransportError,
    StateError,
    UnsafePattern,
)
from sos_inventory.model import Category, Problem
from sos_inventory.redact import shown, untrusted

QUERY_FAILED = "Failed to query SOS inventory"
QUERY_ERROR = "SOS inventory returned an error when querying"
UPDATE_FAILED = "Failed to update SOS inventory"
UPDATE_ERROR = "SOS inventory returned an error when updating"
UNEXPECTED_SERVERS = "SOS inventory returned an unexpected number of servers when querying"

#: What a ticket says where the failure did not tell. The runbook says to name C_Code ALC when
#: the log names none: the ticket says that the C_Code is unknown and that ALC is that default.
FACT_DEFAULTS = {"c_code": "unknown (the runbook's default: ALC)", "time": "(no time in the log)"}

#: ``[[ ... ]]`` in a template: kept only when every fact it names is known.
_OPTIONAL = re.compile(r"\[\[((?:(?!\[\[|\]\]).)*)\]\]")


class Regex(Protocol):
    """What the runbook needs of a compiled expression: ``re``'s, or the linear-time engine's that
    config/patterns.py picks for a user's rule that ``re`` could run for ever."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str) -> Any: ...

    def finditer(self, text: str) -> Any: ...

    def __hash__(self) -> int: ...


#: How a rules file's expressions are compiled: (pattern, ignore_case) -> Regex; re.error for bad
#: syntax, UnsafePattern for one that could run for ever.
Compiler = Callable[[str, bool], Regex]


def _plain_compile(pattern: str, ignore_case: bool) -> Regex:
    """The shipped runbook's expressions (reviewed, and tested on every category): ``re``."""
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """What one category means and what to do about it.

    ``variants`` refine it by what the failure's facts say: its HTTP status (``status``: a 422 is
    a rejected value, not an outage; a 403 a missing role, not an expired token) or the reason
    of a transport error (``reason``: a refused connection is a wrong address, not a blip).
    """

    summary: str
    transient: bool
    ticket: str | None  # a key of Knowledge.tickets
    actions: tuple[str, ...]
    variants: Mapping[str, CategoryInfo] = field(default_factory=dict)  # status or reason -> refined info
    subject: tuple[str, ...] = ()  # the facts that tell two failures of the category apart

    def refined(self, facts: Mapping[str, str]) -> CategoryInfo:
        """The category as the failure's facts say it: its HTTP status's variant, if it has one."""
        return self.variants.get(facts.get("status", "")) or self.variants.get(facts.get("reason", ""), self)


@dataclass(frozen=True, slots=True)
class Pattern:
    """Evidence of a category in a log line."""

    id: str
    category: str  # a Category value, or "{category}": the line names it
    regex: Regex
    specificity: int


@dataclass(frozen=True, slots=True)
class Knowledge:
    """The whole runbook knowledge base, validated."""

    categories: Mapping[Category, CategoryInfo]
    tickets: Mapping[str, str]
    patterns: tuple[Pattern, ...]
    facts: Mapping[str, Regex]
    success: Regex
    failure: Regex

    def info(self, category: Category, facts: Mapping[str, str] | None = None) -> CategoryInfo:
        """What the category means for a failure with these facts (its HTTP status decides, if any)."""
        return self.categories[category].refined(facts or {})

    def actions(self, category: Category, facts: Mapping[str, str]) -> list[str]:
        """The category's actions, with the failure's facts filled in."""
        return [_fill(action, facts) for action in self.info(category, facts).actions]

    def ticket(self, category: Category, facts: Mapping[str, str]) -> str | None:
        """The ticket draft for this category, ready to paste, or None."""
        info = self.info(category, facts)
        if info.ticket is None:
            return None
        values = {"summary": info.summary, **facts}
        return _fill(self.tickets[info.ticket], values).rstrip() + "\n"


class _Facts(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return FACT_DEFAULTS.get(key, "(not in the log)")


def _fill(template: str, facts: Mapping[str, str]) -> str:
    """The template with the facts filled in; optional parts whose facts are unknown left out.

    A line that was only optional parts and lost them all is left out too, so a
    ticket lists what the tool knows and nothing it does not.
    """
    formatter = _PLAIN

    def keep(match: re.Match[str]) -> str:
        names = [name for _, name, _, _ in formatter.parse(match.group(1)) if name]
        return match.group(1) if all(facts.get(name) for name in names) else ""

    lines = []
    for line in template.split("\n"):
        reduced = line
        while (shorter := _OPTIONAL.sub(keep, reduced)) != reduced:
            reduced = shorter
        if reduced.strip() or not line.strip():
            lines.append(formatter.vformat(reduced, (), _Facts(facts)))
    return "\n".join(lines)


class _PlainFormatter(string.Formatter):
    """Templates name facts, nothing more: ``{name}`` only. No attribute or index (``{x.__class__}``,
    ``{x[0]}``), no conversion, no format spec (``{x:999999999}`` would pad a ticket to a gigabyte).
    :func:`template_problem` refuses them when a rules file is read; here they stay as written."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if not field_name.isidentifier():
            return "{" + field_name + "}", field_name
        return kwargs[field_name], field_name

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return value

    def format_field(self, value: Any, format_spec: str) -> str:
        return str(value)


_PLAIN = _PlainFormatter()


def template_problem(template: str) -> str | None:
    """Why ``template`` is not a plain template of ``{fact}`` names (None: it is one)."""
    try:
        fields = list(_PLAIN.parse(template))
    except ValueError as exc:  # a lone { or }
        return f"not a template ({exc}; write {{{{ and }}}} for braces)"
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown_field = untrusted(
                name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else ""), 60
            )
            return f"{{{shown_field}}}: a template names a fact as {{name}} only (no attribute, index, conversion or format spec)"
    return None


class _Problems:
    def __init__(self, origin: str) -> None:
        self.origin = untrusted(origin, 200)
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{self.origin}: {untrusted(where, 120)}: {message}")


def _regex(
    text: object, where: str, problems: _Problems, compile_regex: Compiler, *, ignore_case: bool = False
) -> Regex | None:
    if not isinstance(text, str) or not text:
        problems.add(where, "must be a non-empty regular expression")
        return None
    try:
        return compile_regex(text, ignore_case)
    except re.error as exc:
        problems.add(where, f"invalid regular expression: {untrusted(str(exc), 200)}")
    except UnsafePattern as exc:
        problems.add(where, f"unsafe regular expression {shown(text)}: {exc}")
    except (RecursionError, OverflowError):
        problems.add(where, "a regular expression nested or repeated too deeply to compile")
    return None


def _mapping(data: Mapping[Any, Any], key: str, problems: _Problems) -> Mapping[Any, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(key, f"must be a mapping, not {shown(value)}")
        return {}
    return value


def _templates(where: str, texts: object, problems: _Problems) -> None:
    for position, text in enumerate(texts if isinstance(texts, list) else [texts], start=1):
        why = template_problem(text) if isinstance(text, str) else None
        if why is not None:
            problems.add(where if not isinstance(texts, list) else f"{where}[{position}]", why)


_HTTP_STATUS = re.compile(r"[1-5][0-9][0-9]")


def _category_info(
    where: str, raw: object, base: CategoryInfo | None, problems: _Problems, *, variant: bool = False
) -> CategoryInfo | None:
    """A category (or, ``variant``, one of its HTTP status variants) merged over ``base``."""
    known = {"summary", "transient", "ticket", "actions"} | (set() if variant else {"variants", "subject"})
    if not isinstance(raw, Mapping):
        problems.add(where, f"must be a mapping ({', '.join(sorted(known))})")
        return None
    for key in sorted(map(str, set(raw) - known)):
        problems.add(f"{where}.{key}", f"unknown key (known: {', '.join(sorted(known))})")
    merged: dict[str, Any] = {
        "summary": base.summary if base else None,
        "transient": base.transient if base else None,
        "ticket": base.ticket if base else None,
        "actions": list(base.actions) if base else None,
        **{key: value for key, value in raw.items() if key not in ("variants", "subject")},
    }
    if not isinstance(merged["summary"], str):
        problems.add(f"{where}.summary", "must be text")
    if not isinstance(merged["transient"], bool):
        problems.add(f"{where}.transient", "must be true or false")
    if merged["ticket"] is not None and not isinstance(merged["ticket"], str):
        problems.add(f"{where}.ticket", "must be a ticket name or null")
    actions = merged["actions"]
    if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
        problems.add(f"{where}.actions", "must be a non-empty list of text")
        return None
    if "actions" in raw:
        _templates(f"{where}.actions", actions, problems)
    subject = raw.get("subject", list(base.subject) if base else [])
    if not isinstance(subject, list) or not all(isinstance(name, str) for name in subject):
        problems.add(f"{where}.subject", "must be a list of fact names")
        subject = []
    info = CategoryInfo(
        merged["summary"], merged["transient"], merged["ticket"], tuple(actions), {}, tuple(subject)
    )
    if variant:
        return info
    variants = dict(base.variants) if base else {}
    if "variants" in raw:
        variants.update(_variants(info, raw["variants"], f"{where}.variants", problems))
    return replace(info, variants=variants)


#: The reasons of transport errors a variant may name (SosError.reason).
REASONS = frozenset({"refused"})


def _variants(info: CategoryInfo, raw: object, where: str, problems: _Problems) -> dict[str, CategoryInfo]:
    """A category's variants (keys: HTTP statuses or reasons, several separated by spaces): each
    inherits what it does not say from the category."""
    variants: dict[str, CategoryInfo] = {}
    if not isinstance(raw, Mapping):
        problems.add(where, 'must map HTTP statuses or reasons (e.g. "400 404 422", refused) to their texts')
        return variants
    for key, variant in raw.items():
        words = str(key).split()
        if not words or not all(_HTTP_STATUS.fullmatch(word) or word in REASONS for word in words):
            problems.add(
                f"{where}.{key}",
                f"keys are HTTP statuses or reasons ({', '.join(sorted(REASONS))}), several separated by spaces",
            )
            continue
        refined = _category_info(f"{where}.{key}", variant, info, problems, variant=True)
        if refined is not None:
            variants.update(dict.fromkeys(words, refined))
    return variants


def merge_knowledge(
    base: Knowledge | None, data: object, origin: str, compile_regex: Compiler = _plain_compile
) -> Knowledge:
    """``data`` (a parsed rules file) over ``base``, validated: ConfigError listing every problem.
    A user's file is compiled with the config's pattern safety (config/knowledge.py)."""
    problems = _Problems(origin)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{untrusted(origin, 200)}: must be a YAML mapping")
    known = {"version", "categories", "tickets", "patterns", "facts", "success", "failure"}
    for key in sorted(set(data) - known):
        problems.add(str(key), f"unknown key (known: {', '.join(sorted(known))})")
    categories = dict(base.categories) if base else {}
    for name, raw in _mapping(data, "categories", problems).items():
        try:
            category = Category(name)
        except ValueError:
            problems.add(f"categories.{name}", f"unknown category (known: {', '.join(Category)})")
            continue
        info = _category_info(f"categories.{name}", raw, categories.get(category), problems)
        if info is not None:
            categories[category] = info
    tickets = dict(base.tickets) if base else {}
    for name, template in _mapping(data, "tickets", problems).items():
        if isinstance(template, str):
            tickets[str(name)] = template
            _templates(f"tickets.{name}", template, problems)
        else:
            problems.add(f"tickets.{name}", "must be a text template")
    patterns = {p.id: p for p in base.patterns} if base else {}
    listed = data.get("patterns") or []
    if not isinstance(listed, list):
        problems.add("patterns", f"must be a list, not {shown(listed)}")
        listed = []
    for position, raw in enumerate(listed, start=1):
        where = f"patterns[{position}]"
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
            problems.add(where, "must be a mapping with an id, a category and a regex")
            continue
        regex = _regex(raw.get("regex"), f"{where}.regex", problems, compile_regex, ignore_case=True)
        named = raw.get("category")
        if named != "{category}" and named not in set(Category):
            problems.add(f"{where}.category", f"unknown category {shown(named)}")
        specificity = raw.get("specificity", 50)
        if not isinstance(specificity, int):
            problems.add(f"{where}.specificity", "must be an integer")
        if regex is not None and isinstance(named, str) and isinstance(specificity, int):
            patterns[raw["id"]] = Pattern(raw["id"], named, regex, specificity)
    facts = dict(base.facts) if base else {}
    for name, text in _mapping(data, "facts", problems).items():
        regex = _regex(text, f"facts.{name}", problems, compile_regex)
        if regex is not None:
            facts[str(name)] = regex
    success = _marker(data, "success", problems, compile_regex)
    failure = _marker(data, "failure", problems, compile_regex)
    missing = [c.value for c in Category if c not in categories]
    if missing:
        problems.add("categories", f"missing: {', '.join(missing)}")
    for category, info in categories.items():
        if info.ticket is not None and info.ticket not in tickets:
            problems.add(
                f"categories.{category.value}.ticket", f"no ticket template named {shown(info.ticket)}"
            )
    success = success or (base.success if base else None)
    failure = failure or (base.failure if base else None)
    if success is None or failure is None:
        problems.add("success/failure", "both markers are required")
    if problems.items or success is None or failure is None:
        raise ConfigError(problems.items)
    return Knowledge(
        categories=categories,
        tickets=tickets,
        patterns=tuple(sorted(patterns.values(), key=lambda p: -p.specificity)),
        facts=facts,
        success=success,
        failure=failure,
    )


def _marker(data: Mapping[Any, Any], key: str, problems: _Problems, compile_regex: Compiler) -> Regex | None:
    """The success or failure marker: searched in one line at a time, ``^`` and ``$`` at its ends."""
    if key not in data:
        return None
    text = data[key]
    return _regex(f"(?m){text}" if isinstance(text, str) and text else text, key, problems, compile_regex)


@functools.cache
def default_knowledge() -> Knowledge:
    """The shipped knowledge base (a user's rules file is read by config/knowledge.py)."""
    text = resources.files("sos_inventory").joinpath("data/runbook.yaml").read_text(encoding="utf-8")
    return merge_knowledge(None, yaml.safe_load(text), "sos_inventory/data/runbook.yaml")


def category_of(error: SosError) -> Category:
    """The runbook category of an inventory error, from its type."""
    if isinstance(error, SosDnsError):
        return Category.DNS_LOOKUP_FAILURE
    if isinstance(error, SosTransportError):
        return Category.NETWORK_TIMEOUT
    if isinstance(error, SosAuthError):
        return Category.AUTH_FAILURE
    if isinstance(error, SosTlsError):
        return Category.TLS_FAILURE
    if isinstance(error, SosRateLimited):
        return Category.RATE_LIMITED
    return Category.SOS_API_ERROR


def message_of(error: SosError) -> str:
    """The runbook message for an inventory error: its exact prefix, then the detail."""
    if isinstance(error, SosHttpError):
        prefix = QUERY_ERROR if error.operation == "query" else UPDATE_ERROR
    else:
        prefix = QUERY_FAILED if error.operation == "query" else UPDATE_FAILED
    where = f" (C_Code {error.c_code})" if error.c_code else ""
    # The request is what the SOS API team asks for first; its URL never holds a credential.
    request = f" [{'GET' if error.operation == 'query' else 'POST'} {error.url}]" if error.url else ""
    return f"{prefix}{where}: {error.message}{request}"


# --- what the runbook says of a problem -----------------------------------------------------------


def problem_of(error: SosInventoryError) -> Problem:
    """The one problem an error makes, in the runbook's terms: its category (from the error's type),
    its message (the items it introduces as details), its facts, and the action that fixes this
    very error when the error has its own."""
    if isinstance(error, SosError):
        facts: dict[str, str] = {"operation": error.operation, "time": error.time}
        if error.reason:
            facts["reason"] = error.reason
        if error.url:
            facts["host"] = urlsplit(error.url).hostname or ""
        if isinstance(error, SosHttpError):
            facts["status"] = str(error.status)
        if error.unid:
            facts["unid"] = error.unid
        return Problem(
            category_of(error), message_of(error), c_code=error.c_code, hostname=error.hostname, facts=facts
        )
    if isinstance(error, ConfigError):
        return Problem(
            Category.INPUT_ERROR,
            "configuration problem(s)",
            details=tuple(error.problems),
            action_text=error.action,
        )
    if isinstance(error, InputError):
        return Problem(
            Category.INPUT_ERROR,
            f"nothing was written: {error.headline}",
            details=tuple(str(p) for p in error.problems),
            action_text=error.action,
        )
    if isinstance(error, StateError):
        return Problem(
            Category.STATE_ERROR,
            f"{error}; the run stopped before its next write (no write without evidence)",
            action_text=error.action,
        )
    return Problem(Category.INPUT_ERROR, f"{error}; nothing was written", action_text=error.action)


def actions_of(problem: Problem, extra: Mapping[str, str] | None = None) -> list[str]:
    """What to do about a problem, one step an item: its own action, else its category's."""
    if problem.action_text is not None:
        return [problem.action_text]
    return default_knowledge().actions(problem.category, problem.all_facts(extra))


def action_of(problem: Problem) -> str:
    """The problem's action in one line."""
    return " ".join(actions_of(problem))


def problem_dict(problem: Problem, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A problem as the reports and alerts give it: with its actions, transience and ticket draft."""
    knowledge = default_knowledge()
    facts = problem.all_facts(extra)
    actions = actions_of(problem, extra)
    out: dict[str, Any] = {
        "category": problem.category.value,
        "c_code": problem.c_code,
        "hostname": problem.hostname,
        "message": problem.message,
        "action": " ".join(actions),
        "actions": actions,
        "transient": knowledge.info(problem.category, facts).transient,
        "ticket": knowledge.ticket(problem.category, facts),
    }
    if problem.hostnames:
        out["hostnames"] = list(problem.hostnames)
    if problem.details:
        out["details"] = list(problem.details)
    if problem.source:
        out["source"] = problem.source
    if problem.facts:
        out["facts"] = dict(problem.facts)
    return out

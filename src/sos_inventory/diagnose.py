"""Read a Jenkins console log and say what failed, why, and what to do (SPEC 8).

The runbook's knowledge is data (:mod:`sos_inventory.runbook`): patterns give a
category and facts for a line; the category gives the explanation, the actions
and a ticket draft. This module only cleans lines, applies the patterns, and
picks the primary finding: the earliest one, since later errors usually cascade
from the first (a DNS failure followed by query errors is a DNS failure). When
one line holds evidence of several categories, the most specific pattern wins.
A build that finished with SUCCESS has no failure, whatever words its log holds.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sos_inventory.errors import SosInventoryError
from sos_inventory.runbook import Category, Knowledge, default_knowledge

_ANSI = re.compile(r"\x1b\[8mha:[^\x1b]*\x1b\[0m|\x1b\[[0-9;?]*[A-Za-z]")
_STAMP = re.compile(
    r"^\s*\[?(?P<time>\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]?\s*"
    r"|^\s*\[?(?P<clock>\d{2}:\d{2}:\d{2}(?:\.\d+)?)\]?\s+"
)
_LEVEL = re.compile(r"^(?:INFO|WARNING|WARN|ERROR|DEBUG|CRITICAL)\s+")
_ERROR_WORD = re.compile(r"\berror\b", re.IGNORECASE)
_MAX_EVIDENCE = 500


class DiagnoseError(SosInventoryError):
    """The log could not be read (missing file, unreachable build URL, ...)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One failure found in a log, in the runbook's terms."""

    category: Category
    line: int | None  # 1-based line of the evidence in the log (None: from the run itself)
    evidence: str
    facts: Mapping[str, str] = field(default_factory=dict)
    pattern: str | None = None
    count: int = 1  # lines with the same category and facts

    def to_dict(self, knowledge: Knowledge | None = None) -> dict[str, Any]:
        knowledge = knowledge or default_knowledge()
        info = knowledge.categories[self.category]
        facts = {"evidence": self.evidence, **self.facts}
        return {
            "category": self.category.value,
            "line": self.line,
            "evidence": self.evidence,
            "facts": dict(self.facts),
            "transient": info.transient,
            "rerun_advised": info.transient,
            "summary": info.summary,
            "actions": knowledge.actions(self.category, facts),
            "ticket": knowledge.ticket(self.category, facts),
            "pattern": self.pattern,
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The findings of one log and its primary (root-cause) finding."""

    primary: Finding | None
    findings: tuple[Finding, ...]
    result: str | None  # the build result the log states (SUCCESS, FAILURE, ...), if any

    def to_dict(self, knowledge: Knowledge | None = None) -> dict[str, Any]:
        return {
            "primary": self.primary.category.value if self.primary else None,
            "result": self.result,
            "findings": [f.to_dict(knowledge) for f in self.findings],
        }


def clean_line(raw: str) -> tuple[str, str | None]:
    """The line without colour codes, Jenkins notes and timestamp prefixes; and its time."""
    text = _ANSI.sub("", raw).rstrip("\r\n")
    time = None
    for _ in range(2):  # a timestamper prefix, then the program's own log time
        match = _STAMP.match(text)
        if not match or match.end() == 0:
            break
        time = time or match.group("time") or match.group("clock")
        text = text[match.end() :]
    return _LEVEL.sub("", text.strip()), time


def _facts(
    text: str, groups: Mapping[str, str | None], knowledge: Knowledge, time: str | None
) -> dict[str, str]:
    facts: dict[str, str] = {}
    for regex in knowledge.facts.values():
        for match in regex.finditer(text):
            for name, value in match.groupdict().items():
                if value:
                    facts.setdefault(re.sub(r"\d+$", "", name), value)
    for name, value in groups.items():
        if value and name != "category":
            facts[re.sub(r"\d+$", "", name)] = value
    if "url" in facts and "host" not in facts:
        facts["host"] = re.sub(r"^https?://|[:/].*$", "", facts["url"])
    facts.pop("url", None)
    if time:
        facts["time"] = time
    return facts


def _match(text: str, knowledge: Knowledge) -> tuple[Category, str, dict[str, str | None]] | None:
    """The most specific pattern matching the line (patterns are sorted by specificity)."""
    for pattern in knowledge.patterns:
        match = pattern.regex.search(text)
        if not match:
            continue
        groups = match.groupdict()
        name = groups.get("category") if pattern.category == "{category}" else pattern.category
        try:
            return Category(name or ""), pattern.id, groups
        except ValueError:
            continue  # e.g. "cause: something-unknown": let a less specific pattern speak
    return None


def diagnose_lines(lines: Iterable[str], knowledge: Knowledge | None = None) -> Diagnosis:
    """Diagnose a console log given as lines."""
    knowledge = knowledge or default_knowledge()
    findings: dict[tuple[Category, tuple[tuple[str, str], ...]], Finding] = {}
    result: str | None = None
    failure_line: tuple[int, str, str | None] | None = None
    first_error_word: tuple[int, str, str | None] | None = None
    for number, raw in enumerate(lines, start=1):
        text, time = clean_line(raw)
        if not text or text.startswith("[Pipeline]"):
            continue
        if knowledge.success.search(text):
            result = "SUCCESS"
            continue
        if knowledge.failure.search(text):
            result = result or text.removeprefix("Finished: ").strip()
            failure_line = failure_line or (number, text, time)
            continue
        matched = _match(text, knowledge)
        if matched is None:
            if first_error_word is None and _ERROR_WORD.search(text):
                first_error_word = (number, text, time)
            continue
        category, pattern_id, groups = matched
        facts = _facts(text, groups, knowledge, time)
        key = (category, tuple(sorted((k, v) for k, v in facts.items() if k != "time")))
        if key in findings:
            previous = findings[key]
            findings[key] = Finding(
                previous.category,
                previous.line,
                previous.evidence,
                previous.facts,
                previous.pattern,
                previous.count + 1,
            )
        else:
            findings[key] = Finding(category, number, text[:_MAX_EVIDENCE], facts, pattern_id)
    if result == "SUCCESS":
        return Diagnosis(None, (), result)
    ordered = sorted(findings.values(), key=lambda f: f.line or 0)
    if not ordered and failure_line is not None:
        number, text, time = first_error_word or failure_line
        facts = {"time": time} if time else {}
        ordered = [Finding(Category.CODE_DEFECT, number, text[:_MAX_EVIDENCE], facts, "failed-build")]
    return Diagnosis(ordered[0] if ordered else None, tuple(ordered), result)


def diagnose_text(text: str, knowledge: Knowledge | None = None) -> Diagnosis:
    """Diagnose a console log given as one text."""
    return diagnose_lines(text.splitlines(), knowledge)


def fetch_console(build_url: str, user: str | None, token: str | None, timeout: float = 30.0) -> str:
    """The console text of a Jenkins build (``<build>/consoleText``), with Basic auth if given."""
    url = build_url.rstrip("/")
    if not url.endswith("/consoleText"):
        url += "/consoleText"
    request = urllib.request.Request(url, headers={"User-Agent": "sos-inventory-diagnose"})
    if user and token:
        request.add_header("Authorization", "Basic " + b64encode(f"{user}:{token}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read()
    except urllib.error.HTTPError as exc:
        raise DiagnoseError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DiagnoseError(f"{url}: cannot fetch the console log: {reason}") from None
    return body.decode("utf-8", "replace")


def render_text(diagnosis: Diagnosis, knowledge: Knowledge | None = None) -> str:
    """A diagnosis for the console: the primary finding in full, then the others in a line each."""
    knowledge = knowledge or default_knowledge()
    if diagnosis.primary is None:
        result = f" (build result: {diagnosis.result})" if diagnosis.result else ""
        return f"no failure found in the log{result}\n"
    primary = diagnosis.primary.to_dict(knowledge)
    when = f", {primary['facts']['time']}" if "time" in primary["facts"] else ""
    rerun = (
        "rerun advised (transient)" if primary["transient"] else "rerunning will not help until it is fixed"
    )
    lines = [
        f"primary: {primary['category']} (line {primary['line']}{when}): {rerun}",
        f"  {primary['summary']}",
        f"  evidence: {primary['evidence']}",
    ]
    facts = {k: v for k, v in primary["facts"].items() if k != "time"}
    if facts:
        lines.append("  facts: " + ", ".join(f"{k}={v}" for k, v in sorted(facts.items())))
    lines.append("  actions:")
    lines += [f"    - {action}" for action in primary["actions"]]
    if primary["ticket"]:
        lines.append("  ticket draft:")
        lines += [f"    {row}" for row in primary["ticket"].rstrip().splitlines()]
    others = [f for f in diagnosis.findings if f is not diagnosis.primary]
    if others:
        lines.append(f"other findings ({len(others)}):")
        for finding in others:
            repeat = f" (x{finding.count})" if finding.count > 1 else ""
            lines.append(f"  line {finding.line}: {finding.category.value}{repeat}: {finding.evidence[:160]}")
    return "\n".join(lines) + "\n"

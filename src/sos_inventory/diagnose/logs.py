"""Read a Jenkins console log and say what failed, why, and what to do (docs/runbook.md).

The runbook's knowledge is data (:mod:`sos_inventory.runbook`): patterns give a
category and facts for a line; the category gives the explanation, the actions
and a ticket draft. This module reads a log line by line (a log of any size
in bounded memory), applies the patterns, and picks the primary finding:

- a log of this job ends with its own verdict (``error: ...`` then
  ``cause: <category>``): that verdict is authoritative, and the problem lines
  before it are secondary findings;
- otherwise (the old job, another program) the earliest finding, since later
  errors usually cascade from the first (a DNS failure followed by query
  errors is a DNS failure).

A Python traceback is one finding whose evidence is its final exception line;
when that line is not known evidence, the exceptions chained before it are
tried. A build that finished with SUCCESS has no failure, whatever words its
log holds. Evidence and facts are masked (:mod:`sos_inventory.redact`): they
end up in tickets.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

from sos_inventory.diagnose.needles import SAMPLE, cover, required_literals
from sos_inventory.model import Category
from sos_inventory.redact import mask
from sos_inventory.runbook import Knowledge, Pattern, Regex, default_knowledge

_ANSI = re.compile(r"\x1b\[8mha:[^\x1b]*\x1b\[0m|\x1b\[[0-9;?]*[A-Za-z]")
# One separator space only after a time stamp: what follows may be indented (a traceback frame).
_STAMP = re.compile(
    r"^\s*\[?(?P<time>\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\]? ?"
    r"|^\s*\[?(?P<clock>\d{2}:\d{2}:\d{2}(?:\.\d+)?)\]? "
)
_LEVEL = re.compile(r"^(?:INFO|WARNING|WARN|ERROR|DEBUG|CRITICAL)\s+")
_ERROR_WORD = re.compile(r"\berror\b", re.IGNORECASE)
_TOOL_ADVICE = re.compile(r"^(?:why|rerun|action|ticket|traceback):")
# The first line of the job's closing block: what went wrong, before its "cause:" line.
_BLOCK_HEAD = re.compile(r"^(?:error: |interrupted \()")
_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):")
_CHAINED = re.compile(
    r"^(?:The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:)"
)
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?::|$)")
_NUMBERED = re.compile(r"\d+$")  # host2, host3: more groups of one fact

MAX_EVIDENCE = 500
#: Longest line read whole; the rest of a longer line is skipped (binary input, a minified dump).
MAX_LINE = 64 * 1024
#: Distinct findings kept; beyond, they are only counted (a log of a million distinct errors).
MAX_FINDINGS = 200
#: Lines a traceback may span before it is read as ended.
MAX_TRACEBACK = 1000
#: Lines after an ``error:`` line within which the job's ``cause:`` line belongs to it.
_BLOCK_SPAN = 40


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
        facts = {"evidence": self.evidence, **self.facts}
        info = knowledge.info(self.category, facts)
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
    verdict: bool = False  # the primary is the job's own closing verdict
    started: str | None = None  # the first date-time in the log
    lines: int = 0
    omitted: int = 0  # evidence lines of findings beyond MAX_FINDINGS: counted, not kept

    def to_dict(self, knowledge: Knowledge | None = None) -> dict[str, Any]:
        return {
            "primary": self.primary.category.value if self.primary else None,
            "verdict": self.verdict,
            "result": self.result,
            "started": self.started,
            "lines": self.lines,
            "omitted": self.omitted,
            "findings": [f.to_dict(knowledge) for f in self.findings],
        }


def shortened(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: its start and its end, the middle left out. The end of
    the job's closing line says how far the run got (``... 6852 applied, 5 failed``): it is kept."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    return f"{text[: limit - tail - 3]} … {text[-tail:]}"


def _clean(raw: str) -> tuple[str, str | None, bool]:
    """The line's text, its time stamp, and whether the text was indented."""
    text = _ANSI.sub("", raw) if "\x1b" in raw else raw
    text = text.rstrip("\r\n")
    time = None
    for _ in range(2):  # a timestamper prefix, then the program's own log time
        match = _STAMP.match(text)
        if not match or match.end() == 0:
            break
        time = time or match.group("time") or match.group("clock")
        text = text[match.end() :]
    if text.startswith('{"'):
        text, time = _json_line(text, time)
    indented = text[:1] in (" ", "\t")
    return _LEVEL.sub("", text.strip()), time, indented


def _json_line(text: str, time: str | None) -> tuple[str, str | None]:
    """The message and time of a JSON log line (``--log-format json``); other text as it is."""
    try:
        record = json.loads(text)
    except ValueError:
        return text, time
    if not isinstance(record, dict):
        return text, time
    message = next((record[k] for k in ("event", "message", "msg") if isinstance(record.get(k), str)), None)
    if message is None:
        return text, time
    stamp = record.get("time")
    return message, stamp if isinstance(stamp, str) else time


def clean_line(raw: str) -> tuple[str, str | None]:
    """The line without colour codes, Jenkins notes and timestamp prefixes; and its time."""
    text, time, _ = _clean(raw)
    return text, time


def _facts(text: str, groups: Mapping[str, str | None], knowledge: Knowledge) -> dict[str, str]:
    facts: dict[str, str] = {}
    for regex in knowledge.facts.values():
        for match in regex.finditer(text):
            for name, value in match.groupdict().items():
                if value:
                    facts.setdefault(_NUMBERED.sub("", name), value)
    for name, value in groups.items():
        if value and name != "category":
            facts[_NUMBERED.sub("", name)] = value
    if "url" in facts and "host" not in facts:
        facts["host"] = re.sub(r"^https?://|[:/].*$", "", facts["url"])
    facts.pop("url", None)
    return facts


#: A pattern, the lower-case strings of which every match holds one (None: not known), and an
#: expression that finds any of them (in C: cheaper than trying them one by one in Python).
_Gate = tuple[Pattern, frozenset[str] | None, re.Pattern[str] | None]


@functools.cache
def _gates(patterns: tuple[Pattern, ...]) -> tuple[_Gate, ...]:
    """The patterns with their needles: a line holding none of a pattern's needles is not tried."""
    gates = []
    for pattern in patterns:
        needles = required_literals(pattern.regex)
        finder = re.compile("|".join(map(re.escape, sorted(needles)))) if needles else None
        gates.append((pattern, needles, finder))
    return tuple(gates)


def _match(text: str, gates: Sequence[_Gate]) -> tuple[Category, str, dict[str, str | None]] | None:
    """The most specific pattern matching the line (patterns are sorted by specificity)."""
    low = text.lower()
    for pattern, _, finder in gates:
        if finder is not None and not finder.search(low):
            continue  # cannot match: spare the expression
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


@functools.cache
def _needles(patterns: tuple[Pattern, ...], *markers: Regex) -> tuple[bytes, ...] | None:
    """Lower-case ASCII strings of which every line any rule acts on holds one; None if unknown."""
    needles: set[str] = set()
    extra = [*markers, _TRACEBACK, _ERROR_WORD, _BLOCK_HEAD]
    for found in [n for _, n, _ in _gates(patterns)] + [required_literals(r) for r in extra]:
        if found is None or not all(n.isascii() for n in found):
            return None  # a rule without a known literal: every line must be read
        needles |= found
    # A line holding "http 503" holds "http 5": the longer needle adds a scan and no line.
    kept = {n for n in needles if not any(other != n and other in n for other in needles)}
    return tuple(sorted(n.encode() for n in kept))


@dataclass
class _Traceback:
    line: int
    time: str | None
    exceptions: list[str] = field(default_factory=list)
    span: int = 0
    ended: bool = False  # an exception line was read; a chain phrase may still continue the block


@dataclass
class _PendingError:
    line: int
    text: str
    time: str | None
    finding: Finding | None  # what the patterns make of the line if no verdict claims it


class Scanner:
    """Reads a log one line at a time; :meth:`diagnosis` gives the result so far."""

    def __init__(self, knowledge: Knowledge | None = None, secrets: Sequence[str] = ()) -> None:
        self.knowledge = knowledge or default_knowledge()
        self.secrets = tuple(s for s in secrets if s)
        self._gates = _gates(self.knowledge.patterns)
        self._needles = _needles(self.knowledge.patterns, self.knowledge.success, self.knowledge.failure)
        self._scan: tuple[bytes, ...] | None = None  # a cover of the needles, chosen with the log's head
        self._findings: dict[tuple[Category, tuple[tuple[str, str], ...]], Finding] = {}
        self._verdicts: list[Finding] = []
        self._omitted = 0
        self._number = 0
        self._time: str | None = None
        self._started: str | None = None
        self._result: str | None = None
        self._failure_line: tuple[int, str, str | None] | None = None
        self._first_error_word: tuple[int, str, str | None] | None = None
        self._traceback: _Traceback | None = None
        self._pending: _PendingError | None = None

    def _busy(self) -> bool:
        """True while every line matters: the log's head (its start time) or an open traceback."""
        if self._pending is not None and self._pending.text.endswith(":"):
            return True  # the job's "error: ...:" is followed by its list: the first item completes it
        return self._traceback is not None or self._started is None

    def feed(self, raw: str) -> None:
        """Read one line of the log."""
        self._number += 1
        if not self._busy() and self._needles is not None:
            low = raw.lower().encode("ascii", "replace")
            if not any(needle in low for needle in self._needles):
                return
        self._line(self._number, raw)

    def feed_blocks(self, blocks: Iterable[bytes]) -> None:
        """Read a log given as blocks of bytes (any split); the fast way through a big log.

        A line longer than MAX_LINE is read as its first MAX_LINE bytes; the rest
        is skipped without being kept (binary junk, a dump without newlines).
        """
        carry, skipping = b"", False
        for block in blocks:
            start = 0
            if skipping:
                start = block.find(b"\n") + 1
                if start == 0:
                    continue
                skipping = False
            data = carry + block[start:]
            cut = data.rfind(b"\n") + 1
            if cut:
                self._chunk(data[:cut])
            carry = data[cut:]
            if len(carry) > MAX_LINE:
                self._chunk(carry[:MAX_LINE] + b"\n")
                carry, skipping = b"", True
        if carry:
            self._chunk(carry)

    def _chunk(self, data: bytes) -> None:
        """Read the complete lines in ``data``, trying only those that hold a needle."""
        position, before = 0, self._number
        total = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        starts: set[int] = {0} if self._busy() else set()
        if self._needles is None:
            starts = {0}  # with no needles, every line is read: the loop below feeds them all
            low = data
        else:
            low = data.lower()
            if self._scan is None:
                # Choosing a cover costs a fraction of a second: worth it for a big log only.
                self._scan = self._needles if len(low) < 4 * SAMPLE else cover(self._needles, low[:SAMPLE])
            for needle in self._scan:
                found = low.find(needle)
                while found != -1:
                    starts.add(data.rfind(b"\n", 0, found) + 1)
                    end = low.find(b"\n", found)
                    found = -1 if end == -1 else low.find(needle, end + 1)
        for start in sorted(starts):
            if start < position:
                continue  # already read as part of a traceback or the head
            before += data.count(b"\n", position, start)
            position = start
            while position < len(data):
                end = data.find(b"\n", position)
                end = len(data) if end == -1 else end
                before += 1
                line = low[position:end]
                if self._busy() or self._needles is None or any(n in line for n in self._needles):
                    self._line(
                        before, data[position : min(end, position + MAX_LINE)].decode("utf-8", "replace")
                    )
                position = end + 1
                if not self._busy() and self._needles is not None:
                    break
        self._number += total

    def _line(self, number: int, raw: str) -> None:
        text, time, indented = _clean(raw)
        if time:
            self._time = time
            if self._started is None and len(time) > 8:
                self._started = time
        elif number > 50 and self._started is None:
            self._started = ""  # no date in the log's head: stop looking for one
        if self._traceback is not None and self._in_traceback(text, indented):
            return
        if not text or text.startswith("[Pipeline]"):
            return
        if self._pending is not None and number - self._pending.line > _BLOCK_SPAN:
            self._settle_pending()
        if self.knowledge.success.search(text):
            self._result = "SUCCESS"
            return
        if self.knowledge.failure.search(text):
            self._result = self._result or text.removeprefix("Finished: ").strip()
            self._failure_line = self._failure_line or (number, text, time or self._time)
            return
        if _TRACEBACK.match(text):
            self._traceback = _Traceback(number, time or self._time)
            return
        if self._pending is not None and self._pending.text.endswith(":") and text.startswith("- "):
            self._pending.text += " " + text[2:]
            return
        if _TOOL_ADVICE.match(text):
            return  # the job's own advice names categories and statuses; it is not evidence
        self._classify(number, text, time or self._time)

    def _classify(self, number: int, text: str, time: str | None) -> None:
        matched = _match(text, self._gates)
        if matched is not None and matched[1] == "tool-cause":
            self._verdict(number, text, matched[0], time)
            return
        finding = None
        if matched is not None:
            category, pattern_id, groups = matched
            finding = self._finding(
                category, number, text, _facts(text, groups, self.knowledge), pattern=pattern_id, time=time
            )
        elif self._first_error_word is None and _ERROR_WORD.search(text):
            self._first_error_word = (number, text, time)
        if _BLOCK_HEAD.match(text):
            # Perhaps the first line of the job's closing block: held until its cause: line, if any.
            self._settle_pending()
            self._pending = _PendingError(number, text.removeprefix("error: "), time, finding)
        elif finding is not None:
            self._add(finding)

    def _verdict(self, number: int, text: str, category: Category, time: str | None) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            self._verdicts.append(
                self._masked(self._finding(category, number, text, {}, pattern="tool-cause", time=time))
            )
            return
        groups: dict[str, str | None] = {}
        if pending.finding is not None:
            groups = dict(pending.finding.facts)
        facts = {**_facts(pending.text, {}, self.knowledge), **{k: v for k, v in groups.items() if v}}
        self._verdicts.append(
            self._masked(
                self._finding(
                    category, pending.line, pending.text, facts, pattern="tool-cause", time=pending.time
                )
            )
        )

    def _settle_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and pending.finding is not None:
            self._add(pending.finding)

    def _in_traceback(self, text: str, indented: bool) -> bool:
        """Read a line of the current traceback; False when the line is past its end."""
        block = self._traceback
        assert block is not None
        block.span += 1
        if block.span > MAX_TRACEBACK:
            self._end_traceback()
            return False
        if not text:
            return True
        if _CHAINED.match(text) or _TRACEBACK.match(text):
            block.ended = False  # a chained exception follows
            return True
        if indented and not block.ended:
            return True  # a frame, its source line, or a caret line
        marker = self.knowledge.success.search(text) or self.knowledge.failure.search(text)
        if block.ended or indented or marker or not _EXCEPTION.match(text):
            self._end_traceback()  # the first line after the block
            return False
        block.exceptions.append(text)
        block.ended = True
        return True

    def _end_traceback(self) -> None:
        block, self._traceback = self._traceback, None
        if block is None or not block.exceptions:
            return
        final = block.exceptions[-1]
        for exception in reversed(block.exceptions):
            matched = _match(exception, self._gates)
            if matched is not None and matched[0] is not Category.CODE_DEFECT and matched[1] != "tool-cause":
                category, pattern_id, groups = matched
                facts = _facts(exception, groups, self.knowledge)
                evidence = final if exception == final else f"{final} (caused by {exception})"
                self._add(
                    self._finding(category, block.line, evidence, facts, pattern=pattern_id, time=block.time)
                )
                return
        facts = _facts(final, {}, self.knowledge)
        self._add(
            self._finding(
                Category.CODE_DEFECT, block.line, final, facts, pattern="python-traceback", time=block.time
            )
        )

    def _finding(
        self,
        category: Category,
        number: int,
        text: str,
        facts: Mapping[str, str],
        *,
        pattern: str,
        time: str | None,
    ) -> Finding:
        facts = {**facts, "time": time} if time else dict(facts)
        return Finding(category, number, text, facts, pattern)  # cut to MAX_EVIDENCE once masked

    def _masked(self, finding: Finding) -> Finding:
        """The finding with its secrets masked, then cut: done only for what is kept (the rare part)."""
        facts = {k: mask(v, self.secrets) for k, v in finding.facts.items()}
        return replace(
            finding, evidence=shortened(mask(finding.evidence, self.secrets), MAX_EVIDENCE), facts=facts
        )

    def _add(self, finding: Finding) -> None:
        key = (finding.category, tuple(sorted((k, v) for k, v in finding.facts.items() if k != "time")))
        previous = self._findings.get(key)
        if previous is not None:
            self._findings[key] = replace(previous, count=previous.count + 1)
        elif len(self._findings) < MAX_FINDINGS:
            self._findings[key] = self._masked(finding)
        else:
            self._omitted += 1

    def diagnosis(self) -> Diagnosis:
        """The diagnosis of the lines read so far (a traceback or block still open is settled)."""
        if self._traceback is not None:
            self._end_traceback()
        self._settle_pending()
        ordered = sorted(self._findings.values(), key=lambda f: f.line or 0)
        primary = None
        if self._result == "SUCCESS":
            ordered = []
        elif self._verdicts:
            primary = self._verdicts[-1]
            ordered = [primary, *(f for f in ordered if f.line != primary.line)]
        elif not ordered and self._failure_line is not None:
            number, text, time = self._first_error_word or self._failure_line
            ordered = [
                self._masked(
                    self._finding(Category.CODE_DEFECT, number, text, {}, pattern="failed-build", time=time)
                )
            ]
        return Diagnosis(
            primary or (ordered[0] if ordered else None),
            tuple(ordered),
            self._result,
            verdict=bool(self._verdicts) and self._result != "SUCCESS",
            started=self._started or None,
            lines=self._number,
            omitted=self._omitted,
        )


def diagnose_lines(
    lines: Iterable[str], knowledge: Knowledge | None = None, secrets: Sequence[str] = ()
) -> Diagnosis:
    """Diagnose a console log given as lines."""
    scanner = Scanner(knowledge, secrets)
    for line in lines:
        scanner.feed(line)
    return scanner.diagnosis()


def diagnose_text(text: str, knowledge: Knowledge | None = None, secrets: Sequence[str] = ()) -> Diagnosis:
    """Diagnose a console log given as one text (lines end at "\\n" only, as in a byte stream)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return diagnose_lines(lines, knowledge, secrets)


def read_blocks(stream: IO[bytes], size: int = 4 * 1024 * 1024) -> Iterator[bytes]:
    """A byte stream in blocks."""
    while block := stream.read(size):
        yield block


def diagnose_blocks(
    blocks: Iterable[bytes], knowledge: Knowledge | None = None, secrets: Sequence[str] = ()
) -> Diagnosis:
    """Diagnose a console log given as blocks of bytes (a file, a download), in bounded memory."""
    scanner = Scanner(knowledge, secrets)
    scanner.feed_blocks(blocks)
    return scanner.diagnosis()


def diagnose_stream(
    stream: IO[bytes], knowledge: Knowledge | None = None, secrets: Sequence[str] = ()
) -> Diagnosis:
    """Diagnose a console log read from a byte stream, in bounded memory."""
    return diagnose_blocks(read_blocks(stream), knowledge, secrets)

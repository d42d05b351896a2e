"""Log lines on stderr: the human text form, or one JSON object per line for a log platform.

In JSON form every line on stderr is a JSON object with ``time``, ``level``, ``event``
(the message), ``run_id`` and the record's context fields (``c_code``, ``hostname``,
``phase``...): the command line's own ``print(..., file=sys.stderr)`` lines too, through
:class:`JsonLines`. Known secret values are masked in every line, whatever the form.
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from sos_inventory.observe.progress import Bar
from sos_inventory.redact import credential_texts, redact, register_secret

LogFormat = Literal["text", "json"]

# The attributes every LogRecord has; anything else on a record is context from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def secret_values(email: str | None, token: str | None) -> list[str]:
    """The strings no line may show: the token and the Basic credentials made from it."""
    return credential_texts(email or "", token) if token else []


class _Masking:
    """Masks through redact.py, the one place that knows every secret of the process."""

    def __init__(self, secret_texts: Iterable[str]) -> None:
        for text in secret_texts:
            register_secret(text)

    def mask(self, text: str) -> str:
        return redact(text)


class TextFormatter(logging.Formatter):
    """``2026-11-27T12:00:00 INFO message``, secrets masked."""

    def __init__(self, secret_texts: Iterable[str] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")
        self._masking = _Masking(secret_texts)

    def format(self, record: logging.LogRecord) -> str:
        return self._masking.mask(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, event, run_id, logger, then the context fields."""

    def __init__(self, run_id: str, secret_texts: Iterable[str] = ()) -> None:
        super().__init__()
        self.run_id = run_id
        self._masking = _Masking(secret_texts)

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "run_id": self.run_id,
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self._masking.mask(json.dumps(line, ensure_ascii=False, default=str))


class JsonLines(io.TextIOBase):
    """A stand-in for ``sys.stderr`` that turns each line written to it into a log record.

    The command line prints its diagnosis and errors to stderr; in JSON form those lines
    must be JSON too, so they go through the logger with a level read from their prefix.
    """

    def __init__(self, logger: logging.Logger, original: TextIO) -> None:
        super().__init__()
        self.logger = logger
        self.original = original  # where the log handler writes
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            self._emit(line)

    def _emit(self, line: str) -> None:
        if not line.strip():
            return
        lowered = line.lower()
        level = logging.INFO
        if lowered.startswith("error:") or ": error:" in lowered:  # argparse: "prog: error: ..."
            level = logging.ERROR
        elif lowered.startswith("warning:"):
            level = logging.WARNING
        # Printed lines are never filtered by level (as in text form): handle(), not log().
        self.logger.handle(self.logger.makeRecord(self.logger.name, level, "(stderr)", 0, line, (), None))


def configure(
    level: int,
    log_format: LogFormat,
    run_id: str,
    *,
    secret_texts: Iterable[str] = (),
    bar: Bar | None = None,
    stream: TextIO | None = None,
) -> None:
    """Send the log records to stderr in the chosen form (again: the last call's form holds)."""
    if isinstance(sys.stderr, JsonLines):  # configured before: back to the real stream first
        sys.stderr = sys.stderr.original
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    masked = list(secret_texts)
    formatter: logging.Formatter = (
        JsonFormatter(run_id, masked) if log_format == "json" else TextFormatter(masked)
    )
    handler.setFormatter(formatter)
    if bar is not None:
        handler.addFilter(bar.clear)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp").setLevel(max(level, logging.WARNING))
    if log_format == "json":
        sys.stderr = JsonLines(logging.getLogger("sos_inventory.cli"), sys.stderr)

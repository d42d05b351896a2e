"""``sos-inventory diagnose``: the runbook applied to console logs, one or many."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sos_inventory.config.files import LOG, TOKEN, open_regular, read_text
from sos_inventory.config.knowledge import load_knowledge
from sos_inventory.diagnose.jenkins import Jenkins
from sos_inventory.diagnose.logs import Diagnosis, diagnose_blocks, read_blocks
from sos_inventory.diagnose.trends import Run, render_trends, trends_dict
from sos_inventory.errors import ConfigError, DiagnoseError, UnreadableFile
from sos_inventory.redact import secret_forms
from sos_inventory.runbook import Knowledge, default_knowledge

EPILOG = """examples:
  sos-inventory diagnose consoleText.log
  sos-inventory update ... 2>&1 | sos-inventory diagnose -
  sos-inventory diagnose https://jenkins.example.com/job/sos-inventory-update/288/ --json
  sos-inventory diagnose logs/                       # every log in a folder: causes over time
  sos-inventory diagnose --builds 30 https://jenkins.example.com/job/sos-inventory-update/

A build or job URL is read with JENKINS_USER and JENKINS_TOKEN from the
environment when set; they are sent to that URL's origin only (a redirect
elsewhere is refused), and --timeout bounds the whole command.
Secrets (Authorization headers, token=, password=, apikey=, and the job's own
SOS_API_TOKEN when set) are masked in everything diagnose prints.

exit codes: 0 no log shows a failure, 1 a log shows a failure, 2 usage error
(unreadable log, unreachable URL, invalid rules file)
"""


def register(commands: Any) -> None:
    """Add the ``diagnose`` command to the main parser's sub-commands."""
    parser = commands.add_parser(
        "diagnose",
        help="say what failed in Jenkins console logs, why, and what to do",
        description="Read a console log of this job (or of the old one) and give the runbook's diagnosis: "
        "the root cause, its facts, the actions, and a ticket draft. Given several logs, a folder, or "
        "--builds N of a job, print the causes over time instead.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sources",
        nargs="*",
        metavar="SOURCE",
        help="log files, folders of logs, - for stdin (default), or build URLs (job URLs with --builds)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument(
        "--builds", type=int, metavar="N", help="diagnose the last N builds of each job URL given"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="overall limit for reading from Jenkins (default: 120)",
    )
    parser.add_argument(
        "--rules", type=Path, metavar="FILE", help="extra knowledge (same shape as data/runbook.yaml)"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_diagnose)


def _secrets() -> list[str]:
    """The secrets of this environment, in every form a log may show them."""
    found = []
    token = os.environ.get("SOS_API_TOKEN")
    token_file = os.environ.get("SOS_API_TOKEN_FILE")
    if not token and token_file:
        try:
            token = read_text(token_file, TOKEN).strip()
        except UnreadableFile:
            token = None
    if token:
        found += secret_forms(token, os.environ.get("SOS_API_EMAIL"))
    if os.environ.get("JENKINS_TOKEN"):
        found += secret_forms(os.environ["JENKINS_TOKEN"], os.environ.get("JENKINS_USER"))
    return found


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _file_blocks(path: Path) -> Iterator[bytes]:
    try:
        with open_regular(path, LOG) as stream:  # a FIFO or /dev/zero given by name: refused (a pipe is -)
            yield from read_blocks(stream)
    except UnreadableFile as exc:
        raise DiagnoseError(str(exc) if exc.missing else f"{exc} (a pipe is read as -)") from None
    except OSError as exc:
        raise DiagnoseError(f"{path}: cannot read the log: {exc.strerror or exc}") from None


def _log_files(source: str) -> list[Path]:
    path = Path(source)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path]


def _jenkins(url: str, args: argparse.Namespace) -> Jenkins:
    """A reader of the Jenkins at ``url``, under the command's one deadline."""
    user, token = os.environ.get("JENKINS_USER"), os.environ.get("JENKINS_TOKEN")
    return Jenkins(url, user, token, args.timeout, args.deadline)


def _runs(args: argparse.Namespace, knowledge: Knowledge, secrets: list[str]) -> list[Run]:
    """Every log the sources name, diagnosed one after the other (one log in memory at a time)."""
    runs = []
    for source in args.sources:
        if args.builds is not None:
            if not _is_url(source):
                raise DiagnoseError(f"{source}: --builds needs a Jenkins job URL")
            jenkins = _jenkins(source, args)
            for build in jenkins.builds(source, args.builds):
                diagnosis = diagnose_blocks(jenkins.console(build.url), knowledge, secrets)
                runs.append(Run(build.url, build.time or diagnosis.started, diagnosis))
        elif _is_url(source):
            diagnosis = diagnose_blocks(_jenkins(source, args).console(source), knowledge, secrets)
            runs.append(Run(source, diagnosis.started, diagnosis))
        elif source == "-":
            diagnosis = diagnose_blocks(read_blocks(sys.stdin.buffer), knowledge, secrets)
            runs.append(Run("-", diagnosis.started, diagnosis))
        else:
            for path in _log_files(source):
                diagnosis = diagnose_blocks(_file_blocks(path), knowledge, secrets)
                when = diagnosis.started
                if when is None:
                    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                    when = mtime.strftime("%Y-%m-%dT%H:%M:%SZ")
                runs.append(Run(str(path), when, diagnosis))
    return runs


def _single(args: argparse.Namespace) -> bool:
    """One log, given as one file, stdin or one build URL: the detailed diagnosis, not a table."""
    return args.builds is None and len(args.sources) == 1 and not Path(args.sources[0]).is_dir()


def cmd_diagnose(args: argparse.Namespace) -> int:
    """``diagnose [SOURCE ...]``."""
    args.sources = args.sources or ["-"]
    args.deadline = time.monotonic() + args.timeout
    if args.builds is not None and args.builds < 1:
        print("error: --builds must be at least 1", file=sys.stderr)
        return 2
    try:
        knowledge = load_knowledge(args.rules)
        runs = _runs(args, knowledge, _secrets())
    except ConfigError as exc:
        print("error: the rules file is invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except DiagnoseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = any(run.diagnosis.primary is not None for run in runs)
    if _single(args):
        _print_one(runs[0].diagnosis, knowledge, args.json)
    elif args.json:
        json.dump(trends_dict(runs), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_trends(runs))
    return 1 if failed else 0


def _print_one(diagnosis: Diagnosis, knowledge: Knowledge, as_json: bool) -> None:
    if as_json:
        json.dump(diagnosis.to_dict(knowledge), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(diagnosis, knowledge))


def render_text(diagnosis: Diagnosis, knowledge: Knowledge | None = None, max_others: int = 20) -> str:
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
    source = " (the job's own verdict)" if diagnosis.verdict else ""
    lines = [
        f"primary: {primary['category']}{source} (line {primary['line']}{when}): {rerun}",
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
        more = f"; {diagnosis.omitted} more evidence line(s) not kept" if diagnosis.omitted else ""
        lines.append(f"other findings ({len(others)}{more}):")
        for finding in others[:max_others]:
            repeat = f" (x{finding.count})" if finding.count > 1 else ""
            lines.append(f"  line {finding.line}: {finding.category.value}{repeat}: {finding.evidence[:160]}")
        if len(others) > max_others:
            lines.append(f"  ... and {len(others) - max_others} more (--json lists them)")
    return "\n".join(lines) + "\n"

"""``sos-inventory diagnose``: the runbook applied to a console log."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sos_inventory.diagnose import DiagnoseError, diagnose_text, fetch_console, render_text
from sos_inventory.errors import ConfigError
from sos_inventory.runbook import load_knowledge

EPILOG = """examples:
  sos-inventory diagnose consoleText.log
  sos-inventory update ... 2>&1 | sos-inventory diagnose -
  sos-inventory diagnose https://jenkins.example.com/job/sos-inventory-update/288/ --json

A build URL is fetched as <url>/consoleText, with JENKINS_USER and JENKINS_TOKEN
from the environment when set.

exit codes: 0 the log shows no failure, 1 it shows a failure, 2 usage error
(unreadable log or rules file)
"""


def register(commands: Any) -> None:
    """Add the ``diagnose`` command to the main parser's sub-commands."""
    parser = commands.add_parser(
        "diagnose",
        help="say what failed in a Jenkins console log, why, and what to do",
        description="Read a console log of this job (or of the old one) and give the runbook's diagnosis: "
        "the root cause, its facts, the actions, and a ticket draft.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "source", nargs="?", default="-", help="a log file, - for stdin (default), or a build URL"
    )
    parser.add_argument(
        "--json", action="store_true", help='print {"primary": ..., "findings": [...]} on stdout'
    )
    parser.add_argument(
        "--rules", type=Path, metavar="FILE", help="extra knowledge (same shape as data/runbook.yaml)"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help=argparse.SUPPRESS)
    parser.add_argument("-q", "--quiet", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_diagnose)


def _read(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    if source.startswith(("http://", "https://")):
        return fetch_console(source, os.environ.get("JENKINS_USER"), os.environ.get("JENKINS_TOKEN"))
    try:
        return Path(source).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DiagnoseError(f"{source}: cannot read the log: {exc.strerror or exc}") from None


def cmd_diagnose(args: argparse.Namespace) -> int:
    """``diagnose [LOG|-|BUILD_URL]``."""
    try:
        knowledge = load_knowledge(args.rules)
        text = _read(args.source)
    except ConfigError as exc:
        print("error: the rules file is invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except DiagnoseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    diagnosis = diagnose_text(text, knowledge)
    if args.json:
        json.dump(diagnosis.to_dict(knowledge), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(diagnosis, knowledge))
    return 1 if diagnosis.primary is not None else 0

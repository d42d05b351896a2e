"""The ``sos-inventory server`` command: ``run``, ``seed`` and ``dump``.

Thin wrappers over :mod:`.app` and :mod:`.store`: parse options, call one
function, turn known errors into a message on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path

from sos_inventory.server.app import run
from sos_inventory.server.auth import DEMO_EMAIL, DEMO_TOKEN, USERS_ENV, UsersError
from sos_inventory.server.store import Store, is_c_code

__all__ = ["register"]

_USAGE_ERROR = 2

_SERVER_EPILOG = """\
example, a rehearsal on one machine:
  sos-inventory server seed --db inventory.db seed.json
  sos-inventory server run --db inventory.db --users users.yaml &
  sos-inventory server dump --db inventory.db --c-code ALC

Run `sos-inventory server SUBCOMMAND --help` for each one's options."""

_RUN_EPILOG = f"""\
examples:
  sos-inventory server run --db inventory.db
  sos-inventory server run --db inventory.db --port 0 --port-file port.txt --users users.yaml

users.yaml (or the same YAML in ${USERS_ENV}):
  users:
    - {{email: deploy@example.com, token: s3cret, roles: {{ALC: editor, ALC_FR2: reader}}}}
    - {{email: auditor@example.com, token: an0ther, roles: {{"*": reader}}}}

Without either, the only user is the demo user {DEMO_EMAIL} with token
{DEMO_TOKEN}, editor on every C_Code: for rehearsals only.

GET /_ref/stats (request counts) and POST /_ref/stats/reset need no auth and
exist only on this reference server. SIGTERM or Ctrl-C stops it (exit 0)."""

_SEED_EPILOG = """\
example:
  sos-inventory server seed --db inventory.db seed.json

SEED.json:
  {"applications": {"ALC": ["containers-kubernetes"]},
   "environments": {"ALC": ["PROD-US-SOUTH", "STAGE"]},
   "servers": [{"c_code": "ALC", "hostname": "prod-dal10-carrier2-worker-1030",
                "fqdn": "prod-dal10-carrier2-worker-1030.alchemy.ibm.com",
                "ip_public": "169.46.30.142", "ip_private": "10.171.78.122",
                "device_id": "62603497", "application": "containers-kubernetes",
                "environment": "PROD-US-SOUTH", "status": "Live"}]}

A server with a unid replaces the record with that unid; one without gets a
new random unid, so seeding it twice adds it twice. A dump is a valid seed."""

_DUMP_EPILOG = """\
examples:
  sos-inventory server dump --db inventory.db > backup.json
  sos-inventory server dump --db inventory.db --c-code ALC | jq '.servers | length'"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``server`` command and its ``run``/``seed``/``dump`` sub-commands."""
    server = subparsers.add_parser(
        "server",
        help="the reference SOS inventory server and its data",
        description="Run a local SOS inventory (SQLite) that speaks the SOS API, for rehearsals and tests.",
        epilog=_SERVER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = server.add_subparsers(dest="server_command", metavar="SUBCOMMAND", required=True)
    formatter = argparse.RawDescriptionHelpFormatter

    run_parser = commands.add_parser(
        "run",
        help="serve the SOS API from a SQLite database",
        description="Serve the SOS inventory API (SPEC section 4) from a SQLite database.",
        epilog=_RUN_EPILOG,
        formatter_class=formatter,
    )
    run_parser.add_argument(
        "--db", required=True, type=Path, metavar="PATH", help="SQLite file (created if missing)"
    )
    run_parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    run_parser.add_argument(
        "--port",
        type=_port,
        default=8742,
        metavar="N",
        help="TCP port; 0 picks a free one (default: %(default)s)",
    )
    run_parser.add_argument(
        "--users",
        type=Path,
        metavar="FILE",
        help=f"users YAML file (default: ${USERS_ENV}, else the demo user)",
    )
    run_parser.add_argument(
        "--port-file",
        type=Path,
        metavar="FILE",
        help="write the port here once listening (for scripts that pass --port 0)",
    )
    run_parser.add_argument(
        "--latency-ms",
        type=_non_negative,
        default=0,
        metavar="MS",
        help="delay every API answer this long (benchmarks)",
    )
    run_parser.set_defaults(func=_run)

    seed_parser = commands.add_parser(
        "seed",
        help="add servers, applications and environments from a JSON file",
        description="Add servers, applications and environments to the database from SEED.json.",
        epilog=_SEED_EPILOG,
        formatter_class=formatter,
    )
    seed_parser.add_argument(
        "--db", required=True, type=Path, metavar="PATH", help="SQLite file (created if missing)"
    )
    seed_parser.add_argument("seed_file", metavar="SEED.json", help="the data to add ('-' reads stdin)")
    seed_parser.set_defaults(func=_seed)

    dump_parser = commands.add_parser(
        "dump",
        help="print the database as JSON",
        description="Print servers (sorted by C_Code, then unid), applications and environments as JSON.",
        epilog=_DUMP_EPILOG,
        formatter_class=formatter,
    )
    dump_parser.add_argument("--db", required=True, type=Path, metavar="PATH", help="SQLite file")
    dump_parser.add_argument("--c-code", metavar="C_CODE", help="only this C_Code")
    dump_parser.set_defaults(func=_dump)


def _port(text: str) -> int:
    value = _non_negative(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a TCP port (0..65535)")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _fail(command: str, message: str) -> int:
    print(f"sos-inventory server {command}: error: {message}", file=sys.stderr)
    return _USAGE_ERROR


def _run(args: argparse.Namespace) -> int:
    try:
        return run(
            args.db,
            host=args.host,
            port=args.port,
            users_path=args.users,
            port_file=args.port_file,
            latency_ms=args.latency_ms,
        )
    except UsersError as exc:
        return _fail("run", str(exc))
    except sqlite3.Error as exc:
        return _fail("run", f"cannot use database {args.db}: {exc}")
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return _fail("run", f"cannot listen on {args.host}:{args.port}: {reason}")


def _seed(args: argparse.Namespace) -> int:
    source = "stdin" if args.seed_file == "-" else args.seed_file
    try:
        text = sys.stdin.read() if args.seed_file == "-" else Path(args.seed_file).read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        return _fail("seed", f"cannot read {source}: {exc.strerror or exc}")
    except json.JSONDecodeError as exc:
        return _fail("seed", f"{source} is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}")
    except UnicodeDecodeError:
        return _fail("seed", f"{source} is not UTF-8 text")
    try:
        with Store(args.db) as store:
            counts = store.seed(data)
    except ValueError as exc:
        return _fail("seed", f"{source}: {exc}")
    except sqlite3.Error as exc:
        return _fail("seed", f"cannot use database {args.db}: {exc}")
    print(
        f"seeded {args.db} from {source}: {counts['servers_added']} servers added,"
        f" {counts['servers_replaced']} replaced, {counts['servers_unchanged']} unchanged;"
        f" {counts['applications_added']} applications and"
        f" {counts['environments_added']} environments added",
        file=sys.stderr,
    )
    return 0


def _dump(args: argparse.Namespace) -> int:
    if not args.db.exists():
        return _fail("dump", f"no database at {args.db}")
    if args.c_code is not None and not is_c_code(args.c_code):
        return _fail("dump", f"{args.c_code!r} is not a C_Code")
    try:
        with Store(args.db) as store:
            data = store.dump(args.c_code)
    except sqlite3.Error as exc:
        return _fail("dump", f"cannot use database {args.db}: {exc}")
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0

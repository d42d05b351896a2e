"""The ``sos-inventory server`` command: ``run``, ``seed`` and ``dump``.

Thin wrappers over :mod:`.app` and :mod:`.store`: parse options, call one
function, turn known errors into a message on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sos_inventory.server.app import API_KINDS
from sos_inventory.server.auth import DEMO_EMAIL, DEMO_TOKEN, USERS_ENV, UsersError
from sos_inventory.server.faults import Faults
from sos_inventory.server.runner import run
from sos_inventory.server.store import Store, is_c_code

__all__ = ["register"]

_USAGE_ERROR = 2
_T = TypeVar("_T")

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

fault injection (API requests only, never /_ref/*), for chaos tests and benchmarks:
  sos-inventory server run --db inventory.db --fail 503=0.1 --fail 429=0.02 --retry-after mix:2
  sos-inventory server run --db inventory.db --drop-after 0.05 --fault-kinds update --fault-seed 7
  sos-inventory server run --db inventory.db --outage 5+10 --outage-mode drop
A request gets at most one fault; the --fail and --drop-* rates add up to at
most 1. drop-before closes the connection before anything is written;
drop-after commits the update, then closes it without the answer. The outage
clock starts when the server listens (or when the faults are set).

Endpoints of this reference server only (no auth, never faulted):
  GET  /_ref/stats         request counts by kind, C_Code, status and injected fault
  POST /_ref/stats/reset   zero them
  GET  /_ref/faults        the faults in force, as JSON
  POST /_ref/faults        replace them: missing keys take defaults, {{}} clears them,
                           and the outage clock restarts, e.g.
  curl -d '{{"outage": [0, 30], "outage_mode": "drop"}}' http://127.0.0.1:8742/_ref/faults

SIGTERM or Ctrl-C stops it (exit 0)."""

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
        description="Serve the SOS inventory API (docs/sos-api.md) from a SQLite database.",
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
        help="delay every API answer this long, as a network round trip would: half before handling "
        "the request, half after (benchmarks)",
    )
    run_parser.add_argument(
        "--tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this certificate (chain) file"
    )
    run_parser.add_argument(
        "--tls-key", type=Path, metavar="PEM", help="the certificate's private key (if not in --tls-cert)"
    )
    _add_fault_options(run_parser)
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


def _add_fault_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fault injection (see the examples below)")
    group.add_argument(
        "--fail",
        action="append",
        default=[],
        type=_argument(parse_error_rate),
        metavar="STATUS=RATE",
        help="answer this share of API requests with STATUS (400..599) and an API error body;"
        " repeatable, e.g. --fail 503=0.1 --fail 429=0.02",
    )
    group.add_argument(
        "--retry-after",
        metavar="VALUE",
        help="Retry-After on injected 429 and 503 answers: N (seconds), date:N (an HTTP-date N s ahead)"
        " or mix:N (alternately each form)",
    )
    group.add_argument(
        "--drop-before",
        type=_argument(parse_rate),
        default=0.0,
        metavar="RATE",
        help="close this share of connections before the handler runs (nothing written)",
    )
    group.add_argument(
        "--drop-after",
        type=_argument(parse_rate),
        default=0.0,
        metavar="RATE",
        help="run the handler (an update is written), then close the connection without the answer",
    )
    group.add_argument(
        "--outage",
        type=_argument(parse_outage),
        metavar="START+DURATION",
        help="every API request fails from START s after start-up for DURATION s, e.g. 5+10",
    )
    group.add_argument(
        "--outage-mode",
        choices=["503", "drop"],
        default="503",
        help="how requests fail during the outage (default: %(default)s)",
    )
    group.add_argument(
        "--fault-kinds",
        type=_argument(parse_kinds),
        metavar="KINDS",
        help=f"comma-separated request kinds the faults hit (default: all of {','.join(API_KINDS)})",
    )
    group.add_argument(
        "--fault-seed", type=int, metavar="N", help="seed the random draws, for reproducible runs"
    )


# -- fault option values: the syntax here, the checks in Faults (one place) ----------


def parse_rate(text: str) -> float:
    """``"0.1"`` -> 0.1 (``--drop-before``, ``--drop-after``); ValueError if not in 0..1."""
    try:
        rate = float(text)
        Faults(drop_before=rate)
    except ValueError:
        raise ValueError(f"expected a rate from 0 to 1 such as 0.1, not {text!r}") from None
    return rate


def parse_error_rate(text: str) -> tuple[int, float]:
    """``"503=0.1"`` -> (503, 0.1) (``--fail``); ValueError if malformed or out of range."""
    status, sep, rate = text.partition("=")
    if not sep or not re.fullmatch(r"[0-9]{3}", status):
        raise ValueError(f"expected STATUS=RATE such as 503=0.1, not {text!r}")
    Faults(error_rates={int(status): parse_rate(rate)})  # checks the status
    return int(status), float(rate)


def parse_outage(text: str) -> tuple[float, float]:
    """``"5+10"`` -> (5.0, 10.0): from 5 s after start-up, for 10 s (``--outage``)."""
    start, _, duration = text.partition("+")
    try:
        outage = (float(start), float(duration))
        Faults(outage=outage)
    except ValueError:
        raise ValueError(f"expected START+DURATION in seconds such as 5+10, not {text!r}") from None
    return outage


def parse_kinds(text: str) -> frozenset[str]:
    """``"query,update"`` -> frozenset({"query", "update"}) (``--fault-kinds``)."""
    return Faults(kinds=frozenset(k.strip() for k in text.split(",") if k.strip())).kinds


def _argument(parse: Callable[[str], _T]) -> Callable[[str], _T]:
    """``parse`` as an argparse type: its ValueError message reaches the user intact."""

    def convert(text: str) -> _T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def _faults(args: argparse.Namespace) -> Faults:
    """The faults the options ask for; ValueError when they do not fit together."""
    statuses = [status for status, _ in args.fail]
    repeated = sorted({status for status in statuses if statuses.count(status) > 1})
    if repeated:
        raise ValueError(f"--fail gives status {repeated[0]} more than once")
    return Faults(
        error_rates=dict(args.fail),
        retry_after=args.retry_after,
        drop_before=args.drop_before,
        drop_after=args.drop_after,
        outage=args.outage,
        outage_mode=args.outage_mode,
        kinds=args.fault_kinds if args.fault_kinds is not None else frozenset(API_KINDS),
        seed=args.fault_seed,
    )


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
    if args.tls_key is not None and args.tls_cert is None:
        return _fail("run", "--tls-key needs --tls-cert")
    for option, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path is not None and not path.is_file():
            return _fail("run", f"{option} {path}: no such file")
    try:
        faults = _faults(args)
    except ValueError as exc:
        return _fail("run", f"faults: {exc}")
    try:
        return run(
            args.db,
            host=args.host,
            port=args.port,
            users_path=args.users,
            port_file=args.port_file,
            latency_ms=args.latency_ms,
            faults=faults,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        )
    except UsersError as exc:
        return _fail("run", str(exc))
    except sqlite3.Error as exc:
        return _fail("run", f"cannot use database {args.db}: {exc}")
    except ssl.SSLError as exc:
        return _fail("run", f"cannot use the TLS certificate {args.tls_cert}: {exc.reason or exc}")
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

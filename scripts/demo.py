"""Run the job end to end on the demo data, against the reference server on loopback.

1. seed a fresh SQLite inventory from examples/demo/seed.json;
2. start the reference server on a free 127.0.0.1 port (demo user, no real credentials);
3. run `sos-inventory update` with the demo config and clock, writing reports;
4. run `sos-inventory plan` again: it must find nothing left to change;
5. stop the server.

Everything lands in ./demo-output (reports, the database), so you can look at it
afterwards. Exit 0 when the demo behaved as designed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"
OUT = ROOT / "demo-output"
NOW = "2026-11-27T12:00:00Z"  # the demo's fixed run clock, so its story is the same every day
CLI = [sys.executable, "-m", "sos_inventory"]
# The reference server's built-in demo user: not a secret, it only exists on loopback.
DEMO_ENV = {"SOS_API_EMAIL": "demo@sos.example", "SOS_API_TOKEN": "demo-token"}


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def run(args: list[str], env: dict[str, str]) -> int:
    print("$ sos-inventory " + " ".join(args), flush=True)
    return subprocess.run([*CLI, *args], env=env, check=False).returncode


def start_server(db: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port_file = OUT / "server.port"
    log = (OUT / "server.log").open("wb")
    server = subprocess.Popen(
        [*CLI, "server", "run", "--db", str(db), "--port", "0", "--port-file", str(port_file)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return server, int(port_file.read_text())
        if server.poll() is not None:
            break
        time.sleep(0.05)
    server.kill()
    sys.exit(f"the reference server did not start; see {OUT / 'server.log'}")


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    env = {**os.environ, **DEMO_ENV}
    env.pop("SOS_SERVER_USERS", None)
    db = OUT / "inventory.db"

    step("Seed the reference SOS inventory (SQLite) with the demo's drifted records")
    if run(["server", "seed", "--db", str(db), str(DEMO / "seed.json")], env) != 0:
        return 1

    step("Start the reference SOS server on loopback")
    server, port = start_server(db, env)
    url = f"http://127.0.0.1:{port}"
    print(f"listening on {url} (log: {OUT / 'server.log'})")
    try:
        common = ["--config", str(DEMO / "sos-inventory.yaml"), "--inventory-url", url, "--now", NOW]
        common += ["--state-dir", str(OUT / "state")]  # the ledger of the demo, with everything else it wrote
        step("Run the job: sos-inventory update")
        print(f"(at the demo's fixed clock, --now {NOW}, so its story is the same every day; a run far")
        print(" from the real clock says so in a warning, as it would for a real job)")
        update_code = run(["update", *common, "--report-dir", str(OUT / "reports")], env)
        print(f"(exit code {update_code})")

        step("The report")
        report = json.loads((OUT / "reports" / "report.json").read_text())
        print(json.dumps(report["counts"], indent=2))
        print(f"reports: {', '.join(str(p.relative_to(ROOT)) for p in sorted((OUT / 'reports').iterdir()))}")

        step("Run plan again: the inventory is now in step, so nothing is left to change")
        plan_code = run(["plan", *common, "--report-dir", str(OUT / "replan"), "-q"], env)
        replan = json.loads((OUT / "replan" / "report.json").read_text())
    finally:
        step("Stop the server")
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    expected_problems = report["counts"]["ambiguous"] + report["counts"]["invalid"] > 0
    ok = (
        update_code == (1 if expected_problems else 0)
        and report["counts"]["failed"] == 0
        and report["counts"]["applied"] == report["counts"]["changes"] > 0
        and replan["counts"]["changes"] == 0
        and plan_code == update_code
    )
    print(
        "\nDemo OK: every change applied, a second plan finds nothing to do; exit 1 flags the demo's "
        "deliberate duplicate hostname and invalid row."
        if ok
        else "\nDemo did NOT behave as designed: see the output above."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

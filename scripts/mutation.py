"""Mutation testing of the core with cosmic-ray: does the suite notice when the code is wrong?

For each core module, cosmic-ray makes mutants (one small change each: ``>=`` to
``>``, ``and`` to ``or``, a number off by one, an ``except`` that no longer
catches, ...) and runs the tests that guard that module against each one. A
mutant the tests pass is a *survivor*: a bug the suite would let through.

    make mutation                                  # every target below
    make mutation MUTATION_ARGS="errors cli-exit"  # some targets
    python scripts/mutation.py --list              # the targets and their tests

The run works on a copy of the tree (``build/mutation/tree``) so a stopped run
never leaves a mutant in ``src/``; that copy is what the tests import, in their
own process and in the CLI and server subprocesses they start (``PYTHONPATH``).
It is slow (one pytest run per mutant, one core) and is not part of ``make
test``. The results land in ``build/mutation/report.md``: the score per target
and every survivor's diff. Exit 0 when every run finished, whatever the score.
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
TREE = WORK / "tree"

# The operators worth their run time: relational boundaries and negations, boolean
# and arithmetic flips, off-by-one numbers, loops run zero times, exceptions no
# longer caught. Left out: the rest of the 7-way comparison and 11-way arithmetic
# grids (mostly nonsense such as `<` to `is`), variable swaps and decorator removal.
OPERATORS = (
    "core/ReplaceComparisonOperator_Eq_NotEq",
    "core/ReplaceComparisonOperator_NotEq_Eq",
    "core/ReplaceComparisonOperator_Lt_LtE",
    "core/ReplaceComparisonOperator_Lt_GtE",
    "core/ReplaceComparisonOperator_LtE_Lt",
    "core/ReplaceComparisonOperator_LtE_Gt",
    "core/ReplaceComparisonOperator_Gt_GtE",
    "core/ReplaceComparisonOperator_Gt_LtE",
    "core/ReplaceComparisonOperator_GtE_Gt",
    "core/ReplaceComparisonOperator_GtE_Lt",
    "core/ReplaceComparisonOperator_Is_IsNot",
    "core/ReplaceComparisonOperator_IsNot_Is",
    "core/ReplaceBinaryOperator_Add_Sub",
    "core/ReplaceBinaryOperator_Sub_Add",
    "core/ReplaceBinaryOperator_Mul_Div",
    "core/ReplaceBinaryOperator_Div_Mul",
    "core/ReplaceUnaryOperator_Delete_Not",
    "core/ReplaceUnaryOperator_Delete_USub",
    "core/AddNot",
    "core/ReplaceTrueWithFalse",
    "core/ReplaceFalseWithTrue",
    "core/ReplaceAndWithOr",
    "core/ReplaceOrWithAnd",
    "core/ReplaceBreakWithContinue",
    "core/ReplaceContinueWithBreak",
    "core/ExceptionReplacer",
    "core/NumberReplacer",
    "core/ZeroIterationForLoop",
)


@dataclass(frozen=True)
class Target:
    """One module, the tests that guard it, and optionally the only functions to mutate."""

    name: str
    module: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()  # empty: the whole module
    timeout: float = 120.0  # per mutant: a mutant that hangs the tests counts as killed (by timeout)


TARGETS = (
    Target(
        "errors",
        "src/sos_inventory/errors.py",
        ("tests/unit/test_errors.py", "tests/unit/test_resilience.py"),
    ),
    Target("resilience", "src/sos_inventory/inventory/resilience.py", ("tests/unit/test_resilience.py",)),
    Target("plan", "src/sos_inventory/sync/plan.py", ("tests/unit/test_plan.py",)),
    Target(
        "safety", "src/sos_inventory/sync/safety.py", ("tests/unit/test_safety.py", "tests/unit/test_plan.py")
    ),
    Target("ownership", "src/sos_inventory/sync/ownership.py", ("tests/unit/test_ownership.py",)),
    Target("lifecycle", "src/sos_inventory/sync/lifecycle.py", ("tests/unit/test_lifecycle.py",)),
    Target("apply", "src/sos_inventory/sync/apply.py", ("tests/unit/test_apply.py",)),
    # The exit-code mapping only, against the update tests that end each way: every test
    # starts the real CLI and server, so the rest of the command layer (printing, option
    # parsing) is left to the end-to-end suite.
    Target(
        "cli-exit",
        "src/sos_inventory/cli/run.py",
        (
            "tests/e2e/test_exit_codes.py",
            "-k",
            "update_0 or update_1_rejected or update_3_a_safety or update_4 or update_5 or update_130",
        ),
        functions=("_record", "_stopped", "_alert"),
        timeout=300.0,
    ),
)


def keyword_marker(mutation: Any) -> bool:
    """Whether a mutant only turns the ``*`` of a signature's keyword-only marker into ``/``.

    cosmic-ray's ``*`` to ``/`` operator also hits ``def f(a, *, b)``. The mutant
    ``def f(a, /, b)`` computes the same; it only changes which arguments a caller
    may name, which mypy strict checks at every call. Such mutants are left out of
    the run and of the score, killed or not.
    """
    if mutation.operator_name != "core/ReplaceBinaryOperator_Mul_Div":
        return False
    row, column = mutation.start_pos
    line = _lines(str(mutation.module_path))[row - 1]
    return line[column] == "*" and line[column + 1 :].lstrip().startswith(",")


@functools.cache
def _lines(module_path: str) -> list[str]:
    """The lines of a module of the copy, read once for all its mutants."""
    return (TREE / module_path).read_text(encoding="utf-8").splitlines()


def copy_tree() -> None:
    """The working tree as it is now (tracked and new files, not ignored ones) in TREE."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    shutil.rmtree(TREE, ignore_errors=True)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (TREE / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, TREE / name)


def run_target(target: Target) -> dict[str, int]:
    """Make, filter and run the target's mutants; return the counts by outcome."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    config = WORK / f"{target.name}.toml"
    session = WORK / f"{target.name}.sqlite"
    tests = shlex.join(target.tests)
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{target.module}"\n'
        f"timeout = {target.timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{sys.executable} -m pytest -x -q -p no:cacheprovider {tests}"\n'
        "[cosmic-ray.distributor]\n"
        'name = "local"\n',
        encoding="utf-8",
    )
    session.unlink(missing_ok=True)
    baseline = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *target.tests], check=False
    )
    if baseline.returncode != 0:
        raise SystemExit(f"{target.name}: the tests fail without any mutant; fix them first")
    cosmic_ray = [str(Path(sys.executable).parent / "cosmic-ray")]
    subprocess.run([*cosmic_ray, "init", str(config), str(session)], cwd=TREE, check=True)
    with use_db(str(session), WorkDB.Mode.open) as db:
        skipped = [
            item.job_id
            for item in db.work_items
            if any(
                m.operator_name not in OPERATORS
                or (target.functions and m.definition_name not in target.functions)
                or keyword_marker(m)
                for m in item.mutations
            )
        ]
        db.set_multiple_results(skipped, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        print(f"{target.name}: {db.num_work_items - len(skipped)} mutants to run", flush=True)
    subprocess.run([*cosmic_ray, "exec", str(config), str(session)], cwd=TREE, check=True)
    return summarize(target, session)


def summarize(target: Target, session: Path) -> dict[str, int]:
    """Counts by outcome, and the survivors' diffs appended to the report."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    counts = {"killed": 0, "survived": 0, "incompetent": 0, "timeout": 0}
    survivors: list[str] = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:  # other operators, keyword markers
                continue
            if result.worker_outcome != WorkerOutcome.NORMAL or result.test_outcome is None:
                counts["incompetent"] += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                counts["survived"] += 1
                mutation = item.mutations[0]
                where = f"{mutation.module_path}:{mutation.start_pos[0]} in {mutation.definition_name}"
                survivors.append(f"- {where} ({mutation.operator_name})\n\n```diff\n{result.diff}\n```\n")
            else:
                counts[result.test_outcome.value] += 1
                # cosmic-ray counts a test run cut off by the timeout as killed: shown apart,
                # since a busy machine rather than the mutant may have made it slow.
                counts["timeout"] += result.output == "timeout"
    with (WORK / "report.md").open("a", encoding="utf-8") as report:
        report.write(f"\n## {target.name}: {score(counts)}\n\n")
        report.write(f"{target.module}, tests: {', '.join(target.tests)}\n\n")
        report.writelines(survivors or ["No survivor.\n"])
    return counts


def score(counts: dict[str, int]) -> str:
    tried = counts["killed"] + counts["survived"]
    percent = f"{100 * counts['killed'] / tried:.0f}%" if tried else "n/a"
    timeouts = f" ({counts['timeout']} by timeout)" if counts["timeout"] else ""
    return f"{counts['killed']}/{tried} killed{timeouts} ({percent}), {counts['survived']} survived"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("targets", nargs="*", help="target names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument(
        "--summarize",
        action="store_true",
        help="rewrite build/mutation/report.md from the finished sessions, without running anything",
    )
    args = parser.parse_args()
    known = {t.name: t for t in TARGETS}
    if args.list:
        for t in TARGETS:
            scope = f" ({', '.join(t.functions)})" if t.functions else ""
            print(f"{t.name:12} {t.module}{scope}\n{'':12} tests: {' '.join(t.tests)}")
        return 0
    unknown = [name for name in args.targets if name not in known]
    if unknown:
        parser.error(f"unknown targets {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = [known[name] for name in args.targets] if args.targets else list(TARGETS)
    WORK.mkdir(parents=True, exist_ok=True)
    if args.summarize:
        chosen = [t for t in chosen if (WORK / f"{t.name}.sqlite").exists()]
    else:
        copy_tree()
    (WORK / "report.md").write_text("# Mutation testing\n", encoding="utf-8")
    if args.summarize:
        results = {t.name: summarize(t, WORK / f"{t.name}.sqlite") for t in chosen}
    else:
        # Every test process, and the CLI and servers they start, import the copy.
        os.environ["PYTHONPATH"] = str(TREE / "src")
        # The test runs load no installed pytest plugin: schemathesis's and hypothesis's
        # took most of each run's time (2 s against 15-20 s per mutant on a busy machine),
        # and the targets' tests need neither (@given works without the plugin).
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        os.chdir(TREE)
        results = {t.name: run_target(t) for t in chosen}
    print("\nmutation score per target:")
    for name, counts in results.items():
        print(f"  {name:12} {score(counts)}")
    print(f"survivors: {WORK / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

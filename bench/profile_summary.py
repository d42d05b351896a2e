"""Summarise a py-spy profile (``--format raw``: collapsed stacks) by function.

    python bench/profile_summary.py PROFILE.txt [--top 30] [--focus sos_inventory]

Prints each function's share of the samples: *self* (the function itself was
running) and *total* (it was on the stack). py-spy leaves idle threads out by
default, so the shares are shares of the process's busy (CPU) time.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")


def _short(frame: str, lines: bool = False) -> str:
    """``function (path/to/file.py:12)`` -> ``function (file.py)``: one name per function
    (or per line, with ``lines``)."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["file"]
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    line = f":{match['line']}" if lines and match["line"] else ""
    return f"{match['function']} ({path}{line})"


def summarise(path: Path, lines: bool = False) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, self samples by function, total samples by function)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame, lines) for frame in stack.split(";") if frame]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    return samples, own, total


def render(path: Path, top: int = 30, focus: str | None = None, lines: bool = False) -> str:
    samples, own, total = summarise(path, lines)
    if not samples:
        return f"{path}: no samples\n"
    out = [f"{path}: {samples} samples", "", f"{'self':>7}  function (top {top} by own time)"]
    out += [f"{100 * count / samples:6.1f}%  {name}" for name, count in own.most_common(top)]
    out += ["", f"{'total':>7}  function (top {top} on the stack)"]
    chosen = [(name, count) for name, count in total.most_common() if focus is None or focus in name]
    out += [f"{100 * count / samples:6.1f}%  {name}" for name, count in chosen[:top]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--focus", help="only functions whose file or name contains this, in the total list")
    parser.add_argument(
        "--lines", action="store_true", help="by line (function and line number), not function"
    )
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.profile, args.top, args.focus, args.lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

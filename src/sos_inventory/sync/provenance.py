"""Where the inputs came from: the git commit of the checkout that holds the config or an export.

The Jenkinsfile checks the Netint exports out of their repository before a run; the report and
the ledger then name the commit each input was read at, so a change months later can be traced
back to the very export that asked for it. The commit is read from the checkout's ``.git``
files (HEAD, the ref it names, ``packed-refs``): no ``git`` program is run, and a folder that is
not in a checkout simply has no provenance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1 or SHA-256 object names
_REF = re.compile(r"refs/[A-Za-z0-9._/-]{1,200}")
#: Folders climbed from an input to find its checkout's root.
_MAX_DEPTH = 40
#: The largest ``packed-refs`` read (a repository with every tag since the beginning of time).
_MAX_PACKED = 8 << 20


@dataclass(frozen=True, slots=True)
class Revision:
    """The commit a checkout is at, and the branch it was checked out from (None: detached)."""

    commit: str
    ref: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"commit": self.commit, "ref": self.ref}


def _read(path: Path, limit: int = 4096) -> str | None:
    try:
        with path.open("rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def _git_dir(start: Path) -> Path | None:
    """The ``.git`` folder of the checkout holding ``start`` (a worktree's ``.git`` file followed)."""
    folder = start if start.is_dir() else start.parent
    for candidate in [folder, *folder.parents][:_MAX_DEPTH]:
        dot_git = candidate / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            text = _read(dot_git) or ""
            if text.startswith("gitdir: "):
                linked = Path(text[len("gitdir: ") :].strip())
                return linked if linked.is_absolute() else (candidate / linked)
            return None
    return None


def _resolve(git_dir: Path, ref: str) -> str | None:
    """The commit a ref names: its loose file, else its line in packed-refs (of the common dir too)."""
    common_text = _read(git_dir / "commondir")
    places = [git_dir]
    if common_text:
        places.append((git_dir / common_text.strip()).resolve())
    for place in places:
        loose = (_read(place / ref) or "").strip()
        if _COMMIT.fullmatch(loose):
            return loose
        packed = _read(place / "packed-refs", _MAX_PACKED) or ""
        for line in packed.splitlines():
            commit, _, name = line.partition(" ")
            if name == ref and _COMMIT.fullmatch(commit):
                return commit
    return None


def revision_of(path: Path) -> Revision | None:
    """The revision of the git checkout holding ``path``, or None when it is in none (or unreadable)."""
    try:
        git_dir = _git_dir(path.resolve())
    except OSError:
        return None
    if git_dir is None:
        return None
    head = (_read(git_dir / "HEAD") or "").strip()
    if _COMMIT.fullmatch(head):
        return Revision(head)
    if head.startswith("ref: ") and _REF.fullmatch(ref := head[len("ref: ") :].strip()):
        commit = _resolve(git_dir, ref)
        if commit is not None:
            return Revision(commit, ref.removeprefix("refs/heads/"))
    return None


def provenance(paths: dict[str, Path]) -> dict[str, dict[str, str | None]]:
    """The revision of each named input that lies in a git checkout (``{"devices[1]": {...}}``)."""
    found = {}
    for name, path in paths.items():
        revision = revision_of(path)
        if revision is not None:
            found[name] = {"path": str(path), **revision.to_dict()}
    return found

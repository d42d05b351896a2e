"""The commit an input was read at, from its checkout's .git files."""

from __future__ import annotations

from pathlib import Path

from sos_inventory.sync.provenance import Revision, provenance, revision_of

COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


def _checkout(root: Path, head: str) -> Path:
    git = root / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text(head, encoding="utf-8")
    (root / "Acct531277").mkdir(parents=True)
    return root / "Acct531277"


def test_a_loose_branch_ref(tmp_path: Path) -> None:
    folder = _checkout(tmp_path, "ref: refs/heads/main\n")
    (tmp_path / ".git" / "refs" / "heads" / "main").write_text(COMMIT + "\n", encoding="utf-8")
    assert revision_of(folder) == Revision(COMMIT, "main")


def test_a_packed_ref_of_a_shallow_clone(tmp_path: Path) -> None:
    folder = _checkout(tmp_path, "ref: refs/heads/release/2026-11\n")
    (tmp_path / ".git" / "packed-refs").write_text(
        f"# pack-refs with: peeled fully-peeled sorted\n{'0' * 40} refs/heads/other\n{COMMIT} refs/heads/release/2026-11\n",
        encoding="utf-8",
    )
    assert revision_of(folder / "devices.csv") == Revision(COMMIT, "release/2026-11")


def test_a_detached_head(tmp_path: Path) -> None:
    assert revision_of(_checkout(tmp_path, COMMIT + "\n")) == Revision(COMMIT, None)


def test_a_worktree_s_git_file(tmp_path: Path) -> None:
    main = tmp_path / "main"
    _checkout(main, "ref: refs/heads/main\n")
    worktree_git = main / ".git" / "worktrees" / "exports"
    worktree_git.mkdir(parents=True)
    (worktree_git / "HEAD").write_text("ref: refs/heads/exports\n", encoding="utf-8")
    (worktree_git / "commondir").write_text("../..\n", encoding="utf-8")
    (main / ".git" / "refs" / "heads" / "exports").write_text(COMMIT, encoding="utf-8")
    tree = tmp_path / "exports"
    tree.mkdir()
    (tree / ".git").write_text(f"gitdir: {worktree_git}\n", encoding="utf-8")
    assert revision_of(tree) == Revision(COMMIT, "exports")


def test_no_checkout_a_broken_ref_or_a_hostile_head_is_no_provenance(tmp_path: Path) -> None:
    assert revision_of(tmp_path) is None
    folder = _checkout(tmp_path / "a", "ref: refs/heads/gone\n")
    assert revision_of(folder) is None
    folder = _checkout(tmp_path / "b", "ref: ../../../../etc/passwd\n")
    assert revision_of(folder) is None
    folder = _checkout(tmp_path / "c", "not a head at all\n")
    assert revision_of(folder) is None
    assert provenance({"config": tmp_path / "nothing.yaml"}) == {}

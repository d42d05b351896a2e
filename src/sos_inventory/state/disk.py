"""Why the state folder cannot be written, in the words of the operating system.

SQLite reports a full disk as "database or disk is full" and a write refused for another
reason (a file-size limit, an I/O error) as "disk I/O error"; after a failed COMMIT it may
even report only that there is no transaction left to roll back. What fixes it is in the
folder's file system: how much is free, whether it is read-only, the process's file-size
limit (``ulimit -f``). Every state error names the folder and says what of that is true.
"""

from __future__ import annotations

import errno
import os
import resource
import sqlite3
from pathlib import Path

#: SQLite's result codes, in the operating system's words.
SQLITE_REASONS = {
    "SQLITE_FULL": "no space left on the device (ENOSPC)",
    "SQLITE_READONLY": "the file or its folder is read-only",
    "SQLITE_PERM": "permission denied",
    "SQLITE_CANTOPEN": "the file cannot be opened (missing folder or permission denied)",
    "SQLITE_IOERR_WRITE": "a write failed (a file-size limit, or the device)",
    "SQLITE_IOERR_SHMSIZE": "the -shm file beside it cannot grow (no space left on the device)",
    "SQLITE_IOERR": "an input/output error (the device, or a file-size limit)",
    "SQLITE_IOERR_FSYNC": "the device could not flush the file (fsync failed)",
    "SQLITE_CORRUPT": "the file is damaged (not a database, or a page does not read back)",
    "SQLITE_NOTADB": "the file is not a SQLite database",
}


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    for unit, scale in (("KB", 1 << 10), ("MB", 1 << 20)):
        if count < scale << 10:
            return f"{count / scale:.0f} {unit}"
    return f"{count / (1 << 30):.1f} GB"


def read_only_media(folder: Path) -> bool:
    """Whether the folder's file system is mounted read-only (False when that cannot be told)."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def folder_facts(folder: Path) -> str:
    """What the folder's file system says: free space, read-only, the file-size limit."""
    facts = []
    try:
        stats = os.statvfs(folder if folder.exists() else next(p for p in folder.parents if p.exists()))
    except (OSError, StopIteration):
        stats = None
    if stats is not None:
        if stats.f_flag & os.ST_RDONLY:
            facts.append("its file system is mounted read-only")
        else:
            facts.append(f"{_size(stats.f_bavail * stats.f_frsize)} free on its disk")
    limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if limit != resource.RLIM_INFINITY:
        facts.append(f"files are limited to {_size(limit)} (ulimit -f)")
    return ", ".join(facts)


def reason(error: BaseException) -> str:
    """The operating system's reason behind an OSError or a SQLite error."""
    if isinstance(error, OSError):
        name = errno.errorcode.get(error.errno or 0)
        text = error.strerror or str(error)
        return f"{text} ({name})" if name else text
    name = getattr(error, "sqlite_errorname", None)
    said = str(error)
    if isinstance(error, sqlite3.Error) and name:
        known = SQLITE_REASONS.get(name) or SQLITE_REASONS.get(name.rsplit("_", 1)[0])
        return f"{said} ({name}: {known})" if known else f"{said} ({name})"
    return said


def unwritable(what: str, folder: Path, error: BaseException) -> str:
    """``{what} cannot be written: {reason}; the state folder {folder}: {facts}``."""
    facts = folder_facts(folder)
    return f"{what} cannot be written: {reason(error)}; the state folder {folder}" + (
        f": {facts}" if facts else ""
    )

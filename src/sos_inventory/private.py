"""Files only the job's user may read: the ledger, the alert state, saved plans, metrics files and
tracebacks (mode 0600), in folders the job makes private (0700).

What the job keeps says which machines it changed, who ran it and, in a traceback, what a
variable held: none of it is for the other users of a shared agent. A file is written whole
under a temporary name in its folder and renamed over the path, so a reader never sees half of
it and a symbolic link at the path is replaced, never followed. A folder the job finds already
made keeps its mode (an operator may share it on purpose); the files in it are private anyway.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """``path`` as a folder, made (with its missing parents) readable by this user only."""
    missing = [part for part in (path, *path.parents) if not part.exists()]
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    for part in missing:  # mkdir's parents get the default mode; the job made them, so they are its own
        try:
            part.chmod(FOLDER_MODE)
        except OSError:
            continue
    return path


def private_file(path: Path) -> Path:
    """Make ``path`` (created empty if missing) readable by this user only; OSError if it cannot be."""
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)  # a file of an older version, made 0644
    except PermissionError:
        pass  # another user's file (its owner decides its mode); it can still be written
    finally:
        os.close(descriptor)
    return path


def write_private(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically, mode 0600 (text as UTF-8); OSError when it cannot."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def private_temp_folder(prefix: str = "sos-inventory-") -> Path:
    """A new folder no other user can guess or read (``mkdtemp``: a random name, mode 0700)."""
    return Path(tempfile.mkdtemp(prefix=prefix))

"""The files a run is given, read one safe way: a regular file, read up to a cap.

A path may name anything: a symlink to ``/dev/zero`` (read for ever, 24 GB in one probe), a
FIFO (``open`` blocks until a writer comes, which may be never), a folder, a file of gigabytes.
:func:`read_file` opens with ``O_NONBLOCK`` (a FIFO opens at once), checks on the open file
(``fstat``, so no swap between check and read) that it is a regular file, and reads at most
its kind's cap. Each kind of input has its own cap (:class:`FileKind`): what a real file of
that kind may hold, with room to spare, and never so much that reading it costs a run its
memory.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sos_inventory.errors import UnreadableFile
from sos_inventory.redact import untrusted

__all__ = [
    "CONFIG",
    "LOG",
    "METRICS",
    "PLAN",
    "RULES",
    "TOKEN",
    "FileKind",
    "open_regular",
    "read_file",
    "read_text",
]

_MB = 1 << 20


@dataclass(frozen=True, slots=True)
class FileKind:
    """One kind of input file: what the messages call it, and the most bytes it may hold."""

    name: str
    cap: int


#: The YAML config: 50,000 accounts and hundreds of rules are some 2 MB.
CONFIG = FileKind("config", 8 * _MB)
#: A rules file of diagnose (the shape of data/runbook.yaml, some 20 KB).
RULES = FileKind("rules file", 1 * _MB)
#: A reviewed plan (``plan --out``): some 500 bytes a change, so 100,000 changes and more.
PLAN = FileKind("plan file", 64 * _MB)
#: A token file (SOS_API_TOKEN_FILE): one line.
TOKEN = FileKind("token file", 64 * 1024)
#: The previous run's metrics file (the job's own, a few KB).
METRICS = FileKind("metrics file", 1 * _MB)
#: A console log given to diagnose by path: streamed (any size), but a regular file (a pipe is ``-``).
LOG = FileKind("log", 1 << 62)

_KINDS_OF_FILE = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _what_it_is(mode: int) -> str:
    for test, name in _KINDS_OF_FILE:
        if test(mode):
            return name
    return "a special file"


def _open_regular(path: Path | str, kind: FileKind) -> int:
    """A descriptor of the regular file at ``path``, opened without blocking (a FIFO opens at once)."""
    name = untrusted(str(path), 200)
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnreadableFile(f"{name}: {kind.name} not found", missing=True) from None
    except IsADirectoryError:
        raise UnreadableFile(
            f"{name}: cannot read the {kind.name}: it is a folder, not a regular file"
        ) from None
    except OSError as exc:
        raise _cannot_read(name, kind, exc) from None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(
                f"{name}: cannot read the {kind.name}: it is {_what_it_is(info.st_mode)}, not a regular file"
            )
        if info.st_size > kind.cap:
            raise UnreadableFile(_too_large(name, kind))
        os.set_blocking(handle, True)
    except BaseException:
        os.close(handle)
        raise
    return handle


def open_regular(path: Path | str, kind: FileKind) -> BinaryIO:
    """The regular file at ``path`` opened for reading in binary (a stream: the caller bounds what it
    keeps); UnreadableFile as :func:`read_file` says."""
    return os.fdopen(_open_regular(path, kind), "rb")


def read_file(path: Path | str, kind: FileKind) -> bytes:
    """The bytes of the regular file at ``path`` (symlinks followed), at most ``kind.cap`` of them.

    UnreadableFile, naming the file and the reason, for a missing or unreadable file, anything
    that is not a regular file (a FIFO, a device, a folder), and a file over the cap.
    """
    name = untrusted(str(path), 200)
    handle = _open_regular(path, kind)
    try:
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(handle, min(kind.cap + 1 - size, _MB)):
            chunks.append(chunk)
            size += len(chunk)
            if size > kind.cap:  # it grew while being read
                raise UnreadableFile(_too_large(name, kind))
        return b"".join(chunks)
    except UnreadableFile:
        raise
    except OSError as exc:
        raise _cannot_read(name, kind, exc) from None
    finally:
        os.close(handle)


def read_text(path: Path | str, kind: FileKind) -> str:
    """The file as :func:`read_file` reads it, decoded as UTF-8 (UnreadableFile if it is not)."""
    data = read_file(path, kind)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"{untrusted(str(path), 200)}: the {kind.name} is not UTF-8 text (byte {exc.start})"
        ) from None


def _cannot_read(name: str, kind: FileKind, exc: OSError) -> UnreadableFile:
    return UnreadableFile(f"{name}: cannot read the {kind.name}: {exc.strerror or type(exc).__name__}")


def _too_large(name: str, kind: FileKind) -> str:
    return (
        f"{name}: the {kind.name} is larger than {kind.cap >> 10} KB, more than a {kind.name} holds; refused"
    )

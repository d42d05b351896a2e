"""The one safe reader of the files a run is given, and the YAML bounds that count what aliases add."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sos_inventory.config.files import FileKind, open_regular, read_file, read_text
from sos_inventory.config.yamlload import load_yaml
from sos_inventory.errors import ConfigError, UnreadableFile

SMALL = FileKind("test file", 1024)


def _refused(path: Path | str, kind: FileKind = SMALL) -> UnreadableFile:
    with pytest.raises(UnreadableFile) as caught:
        read_file(path, kind)
    return caught.value


def test_a_regular_file_is_read_whole_up_to_its_cap(tmp_path: Path) -> None:
    path = tmp_path / "ok"
    path.write_bytes(b"x" * 1024)
    assert read_file(path, SMALL) == b"x" * 1024
    path.write_bytes(b"x" * 1025)
    assert "larger than 1 KB" in str(_refused(path))


def test_special_files_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: a plain open would block for ever
    assert "it is a FIFO (named pipe), not a regular file" in str(_refused(fifo))
    (tmp_path / "zero").symlink_to("/dev/zero")
    assert "it is a character device" in str(_refused(tmp_path / "zero"))
    assert "it is a folder" in str(_refused(tmp_path))
    missing = _refused(tmp_path / "nope")
    assert missing.missing and "test file not found" in str(missing)
    with pytest.raises(UnreadableFile):
        open_regular(fifo, SMALL)


def test_text_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1"
    path.write_bytes(b"caf\xe9")
    with pytest.raises(UnreadableFile, match="not UTF-8 text"):
        read_text(path, SMALL)


def test_a_long_plain_list_is_not_an_alias_bomb() -> None:
    text = "".join(f"- {n}\n" for n in range(110_000))
    assert len(load_yaml(text, origin="t")) == 110_000
    with pytest.raises(ConfigError, match="holds more than 1000 values"):
        load_yaml(text, origin="t", max_plain_nodes=1000)


def test_what_aliases_add_is_bounded() -> None:
    lines = ["a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    lines += [
        f"{chr(98 + n)}: &{chr(98 + n)} [" + ", ".join([f"*{chr(97 + n)}"] * 10) + "]" for n in range(5)
    ]
    with pytest.raises(ConfigError, match="expands past 100000 values"):
        load_yaml("\n".join(lines) + "\n", origin="t")
    assert load_yaml("a: &a [1, 2]\nb: *a\n", origin="t") == {"a": [1, 2], "b": [1, 2]}

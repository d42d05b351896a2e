"""The runbook's texts reach the person on call whole, and name the channel the runbook names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sos_inventory.runbook import Category, default_knowledge

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "src" / "sos_inventory" / "data" / "runbook.yaml"
DOC = ROOT / "docs" / "runbook.md"


def _doc_sections() -> dict[str, str]:
    """docs/runbook.md's text under each ``### `category``` heading."""
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### `(\w+)`\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1].split("\n## ")[0] for i in range(1, len(parts), 2)}


def test_docs_describe_every_category() -> None:
    assert set(_doc_sections()) == {c.value for c in Category}


@pytest.mark.parametrize("category", list(Category))
def test_every_action_is_whole_and_names_the_channel_of_the_docs(category: Category) -> None:
    knowledge = default_knowledge()
    # With every fact known and with none: optional parts come and go, the sentence stays whole.
    for facts in ({}, {"resolver_ip": "9.0.128.50", "host": "w3.sos.ibm.com", "remote_ip": "9.46.1.12"}):
        actions = knowledge.actions(category, facts)
        for action in actions:
            assert action.endswith((".", ")")), action
            assert "[[" not in action and "]]" not in action and "{" not in action
        channels = set(re.findall(r"#[a-z][a-z0-9-]+", _doc_sections()[category.value]))
        for channel in channels:
            assert any(channel in action for action in actions), (category, channel, actions)


def test_no_text_of_the_data_file_is_cut_by_a_yaml_comment() -> None:
    # Every action as written in the file is the action as loaded: a " #" inside an unquoted
    # text would have turned its end into a comment.
    raw = DATA.read_text(encoding="utf-8")
    written = [m.group(1) for m in re.finditer(r'^\s+- "(.*)"\s*$', raw, flags=re.MULTILINE)]
    loaded = yaml.safe_load(raw)
    actions = [a for info in loaded["categories"].values() for a in info["actions"]]
    assert len(written) == len(actions)
    for line in raw.splitlines():
        if re.match(r"^\s+- ", line) and "#" in line:
            assert re.match(r'^\s+- "', line), f"unquoted text with '#': {line.strip()}"


def test_ticket_drafts_leave_out_what_is_not_known() -> None:
    knowledge = default_knowledge()
    bare = knowledge.ticket(Category.NETWORK_TIMEOUT, {"evidence": "dial tcp 9.46.1.12:443: i/o timeout"})
    assert bare is not None
    assert "Target:" not in bare and "resolver" not in bare
    full = knowledge.ticket(
        Category.NETWORK_TIMEOUT,
        {
            "evidence": "x",
            "remote_ip": "9.46.1.12",
            "port": "443",
            "time": "2026-11-27T09:20:42Z",
            "host": "h",
        },
    )
    assert full is not None
    assert "remote 9.46.1.12:443" in full and "Time of the error: 2026-11-27T09:20:42Z" in full
    assert "Target: h" in full

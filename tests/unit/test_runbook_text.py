"""The runbook's texts reach the person on call whole, and name the channel the runbook names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sos_inventory.config.knowledge import load_knowledge
from sos_inventory.errors import ConfigError, http_error_class, is_transient
from sos_inventory.model import Category
from sos_inventory.runbook import category_of, default_knowledge

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
    written = [
        yaml.safe_load(f'"{m.group(1)}"') for m in re.finditer(r'^\s+- "(.*)"\s*$', raw, flags=re.MULTILINE)
    ]
    loaded = yaml.safe_load(raw)
    infos = [*loaded["categories"].values()]
    infos += [variant for info in infos for variant in (info.get("variants") or {}).values()]
    actions = [a for info in infos for a in info.get("actions", ())]
    assert sorted(written) == sorted(actions)
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
    assert "SOS API: 9.46.1.12:443" in full and "Time of the error: 2026-11-27T09:20:42Z" in full
    assert "Target: h" in full


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (status, category)
        for category in Category
        for status in sorted(default_knowledge().categories[category].variants)
        if status.isdigit()
    ],
)
def test_a_status_variant_is_whole_and_retried_exactly_when_it_says_a_rerun_helps(
    status: str, category: Category
) -> None:
    """The runbook's word on a rerun agrees with what the client retries (sos/resilience.py): both
    decide by the status, so a 422 is never "rerun: advised" while a 503 is."""
    knowledge = default_knowledge()
    info = knowledge.info(category, {"status": status})
    assert info is not knowledge.categories[category]
    for action in knowledge.actions(category, {"status": status}):
        assert action.endswith((".", ")")), action
        assert "[[" not in action and "{" not in action
    error = http_error_class(int(status))("x", status=int(status), operation="update")
    assert category_of(error) == category
    assert info.transient == is_transient(error)


def test_a_refused_connection_is_its_own_variant_and_says_a_rerun_will_not_help() -> None:
    knowledge = default_knowledge()
    refused = knowledge.info(Category.NETWORK_TIMEOUT, {"reason": "refused"})
    assert refused is not knowledge.categories[Category.NETWORK_TIMEOUT] and refused.transient is False
    [check, ask] = knowledge.actions(
        Category.NETWORK_TIMEOUT, {"reason": "refused", "host": "h", "port": "9"}
    )
    assert "inventory.url" in check and ": h port 9:" in check and "#taas-jenkins-help" in ask
    assert knowledge.info(Category.NETWORK_TIMEOUT, {}).transient is True  # a time-out: a blip


def test_variants_that_are_not_http_statuses_or_reasons_are_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "categories:\n  sos_api_error:\n    variants:\n      '42':\n        transient: false\n"
        "      '422':\n        variants: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_knowledge(rules)
    assert any("variants.42: keys are HTTP statuses or reasons" in p for p in caught.value.problems)
    assert any("variants.422.variants: unknown key" in p for p in caught.value.problems)

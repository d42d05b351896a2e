"""A user's rules file for ``diagnose --rules``: read and checked as the config is.

The file has the shape of the shipped ``data/runbook.yaml`` (runbook.py merges it over the
shipped knowledge). It is read like every file a run is given (files.py: a regular file, at
most :data:`files.RULES`), parsed with the config's YAML bounds (yamlload.py: aliases that
expand, nesting, huge numbers), its expressions compiled with the config's pattern safety
(patterns.py: ``re`` where it runs in bounded time, RE2 otherwise, refused when neither can),
and its templates held to plain ``{fact}`` names (runbook.template_problem).
"""

from __future__ import annotations

from pathlib import Path

from sos_inventory.config.files import RULES, read_text
from sos_inventory.config.patterns import compile_rule_pattern
from sos_inventory.config.yamlload import load_yaml
from sos_inventory.errors import ConfigError, UnreadableFile
from sos_inventory.redact import untrusted
from sos_inventory.runbook import Knowledge, Regex, default_knowledge, merge_knowledge

__all__ = ["load_knowledge"]


def _safe_compile(pattern: str, ignore_case: bool) -> Regex:
    return compile_rule_pattern(pattern, ignore_case=ignore_case)


def load_knowledge(extra: Path | None = None) -> Knowledge:
    """The shipped knowledge base, extended and overridden by the rules file ``extra`` if given."""
    base = default_knowledge()
    if extra is None:
        return base
    origin = untrusted(str(extra), 200)
    try:
        text = read_text(extra, RULES)
    except UnreadableFile as exc:
        raise ConfigError(str(exc)) from None
    data = load_yaml(text, origin=origin)
    return merge_knowledge(base, data, origin, _safe_compile)

"""YAML read safely: only plain data, and aliases that cannot expand past a bound.

``yaml.safe_load`` builds an alias as a shared reference, so a "billion
laughs" document loads in microseconds; but everything that walks the value
afterwards (validation, an error message that prints it) walks the expanded
tree, which can hold billions of nodes. The composed document is therefore
measured, aliases expanded, and refused past :data:`MAX_NODES`, before it is
turned into Python values.
"""

from __future__ import annotations

from typing import Any

import yaml

from sos_inventory.errors import ConfigError
from sos_inventory.redact import untrusted

#: Scalars, sequences and mappings a document may hold once its aliases are expanded.
MAX_NODES = 100_000


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """The node count with aliases expanded, counting at most ``limit + 1``."""
    seen = 0
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            return seen
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
    return seen


def load_yaml(text: str, *, origin: str, max_nodes: int = MAX_NODES) -> Any:
    """The plain data of one YAML document; ConfigError (with the position only) if it is not one."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # it reads the first characters already: a NUL fails here
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, max_nodes) > max_nodes:
            raise ConfigError(
                f"{origin}: the YAML expands past {max_nodes} values (aliases that repeat aliases?); refused"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        # The parser's message quotes the offending line, which may hold anything: keep its position.
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or "malformed"
        raise ConfigError(f"{origin}: not valid YAML{where}: {untrusted(problem, 120)}") from None
    except ValueError:  # PyYAML's int(): a number of more than 4300 digits
        raise ConfigError(f"{origin}: the YAML holds a number too large to read") from None
    except RecursionError:
        raise ConfigError(f"{origin}: the YAML nests too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()

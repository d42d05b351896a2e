"""YAML read safely: only plain data, and aliases that cannot expand past a bound.

``yaml.safe_load`` builds an alias as a shared reference, so a "billion
laughs" document loads in microseconds; but everything that walks the value
afterwards (validation, an error message that prints it) walks the expanded
tree, which can hold billions of nodes. The composed document is therefore
measured before it is turned into Python values: what its aliases add once
expanded is refused past :data:`MAX_NODES`, and its plain size, a bound of its
own, past :data:`MAX_PLAIN_NODES`.
"""

from __future__ import annotations

from typing import Any

import yaml

from sos_inventory.errors import ConfigError
from sos_inventory.redact import untrusted

#: Values (scalars, sequences, mappings) that aliases may add to a document once expanded: the
#: bound of a "billion laughs". Only what aliases add counts: a long plain list is not a bomb.
MAX_NODES = 100_000
#: Values a document may hold as written (50,000 accounts are 100,001): a bound of its own, far
#: above any real config, below what would cost a run its memory (the file's cap holds it too).
MAX_PLAIN_NODES = 2_000_000


def _sizes(root: yaml.Node, alias_limit: int, plain_limit: int) -> tuple[int, int]:
    """The distinct nodes of the document, and the nodes its aliases add once expanded; each
    counted until its limit is passed."""
    distinct: set[int] = set()
    visits = 0
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        visits += 1
        distinct.add(id(node))
        if visits - len(distinct) > alias_limit or len(distinct) > plain_limit:
            break
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
    return len(distinct), visits - len(distinct)


def load_yaml(
    text: str, *, origin: str, max_nodes: int = MAX_NODES, max_plain_nodes: int = MAX_PLAIN_NODES
) -> Any:
    """The plain data of one YAML document; ConfigError (with the position only) if it is not one."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # it reads the first characters already: a NUL fails here
        node = loader.get_single_node()
        if node is None:
            return None
        plain, added = _sizes(node, max_nodes, max_plain_nodes)
        if added > max_nodes:
            raise ConfigError(
                f"{origin}: the YAML expands past {max_nodes} values (aliases that repeat aliases?); refused"
            )
        if plain > max_plain_nodes:
            raise ConfigError(f"{origin}: the YAML holds more than {max_plain_nodes} values; refused")
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

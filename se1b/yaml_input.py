"""YAML written by users (configs, --set values), read with bounds: the document's size and what its aliases expand
to are checked before any Python object is built, so an alias bomb (a few lines that expand to billions of nodes)
is one line instead of minutes and gigabytes; `shown` prints a value of such a document without expanding it."""

from __future__ import annotations

import reprlib
from typing import Any

import yaml

from se1b.errors import UserError, yaml_error

MAX_CHARACTERS = 4 * 2**20  # a config of thousands of sources is a few hundred KB
MAX_NODES = 200_000  # scalars, lists and mappings once aliases are expanded


def load_yaml(text: str, where: object) -> Any:
    """`yaml.safe_load(text)` within the bounds above; `where` (a file, a --set) names the document in errors."""
    if len(text) > MAX_CHARACTERS:
        raise UserError(f"{where}: {len(text):,} characters; a config may hold at most {MAX_CHARACTERS:,}")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise yaml_error(where, error) from error
    finally:
        loader.dispose()


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expansion(root: yaml.Node, where: object) -> None:
    """Refuse a node graph (aliases make it a graph) that expands to over MAX_NODES nodes, or that contains itself.
    Each node's expanded size is computed once (depth-first, without recursion), so checking costs the document's
    size, not its expansion."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # nodes whose children are being sized: their ancestors on the current path
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_NODES:
                mark = node.start_mark
                raise UserError(f"{where}:{mark.line + 1}:{mark.column + 1}: this value expands (through aliases) "
                                f"to over {MAX_NODES:,} items; a config may hold at most that many")
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            mark = node.start_mark
            raise UserError(f"{where}:{mark.line + 1}:{mark.column + 1}: an alias refers to a value that contains "
                            "it (a recursive document)")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


_SHORT = reprlib.Repr()  # (keyword arguments only from Python 3.12)
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 60, 60


def shown(value: Any) -> str:
    """`repr(value)` cut short (long strings, long or deep lists and mappings, 200 characters in all), for error
    messages."""
    text = _SHORT.repr(value)
    return text if len(text) <= 200 else text[:197] + "..."

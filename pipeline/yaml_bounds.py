"""yaml_bounds: refuse a hostile YAML document before it costs time.

Two shapes cost time out of all proportion to their size, and both are refused here at
the place that makes them hostile, so the error points at it:

- an alias bomb: ten lines whose aliases expand to millions of values. `expanded_size`
  counts the values a node stands for on the composed graph, once per distinct node (an
  alias is the same node object as its anchor), so the count costs what the text does,
  not what its expansion would.
- deep nesting: `[[[[...` 100,000 deep. `DepthLimitedLoader` stops composing at
  MAX_DEPTH levels, where the pure-Python parser would otherwise recurse until Python's
  recursion limit (about a second later) and report no place.
"""

from __future__ import annotations

from typing import Any, cast

import yaml

MAX_NODES = 1_000_000
MAX_DEPTH = 64

PathT = tuple[str | int, ...]


class TooDeep(yaml.MarkedYAMLError):
    """The document nests collections more than MAX_DEPTH levels deep."""


class DepthLimitedLoader(yaml.SafeLoader):
    """The pure-Python SafeLoader, composing no deeper than MAX_DEPTH collections."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH + 1:  # the root is level 0
                mark = self.peek_event().start_mark
                raise TooDeep(problem="nested too deeply", problem_mark=mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _children(node: yaml.Node) -> list[tuple[str | int, yaml.Node]]:
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[str | int, yaml.Node]] = []
        for key, value in node.value:
            out.append(("", key))
            out.append((str(getattr(key, "value", "")), value))
        return out
    return []


def expanded_sizes(root: yaml.Node) -> dict[int, int]:
    """id(node) -> how many values the node stands for once every alias is expanded (a
    node inside itself, a recursive alias, counts once: the builder refuses it by depth).
    Iterative, so no document can exhaust the stack here."""
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        ident = id(node)
        if children_done:
            on_stack.discard(ident)
            total = 1 + sum(sizes.get(id(child), 0) for _, child in _children(node))
            sizes[ident] = min(total, MAX_NODES + 1)  # bounded: no giant integers
            continue
        if ident in sizes or ident in on_stack:
            continue
        on_stack.add(ident)
        stack.append((node, True))
        stack.extend((child, False) for _, child in _children(node) if id(child) not in sizes)
    return sizes


def alias_bomb(root: yaml.Node) -> tuple[yaml.Node, PathT] | None:
    """The smallest node (and its path) that expands past MAX_NODES values, or None when
    the whole document stays within them."""
    sizes = expanded_sizes(root)
    if sizes[id(root)] <= MAX_NODES:
        return None
    node, path = root, cast(PathT, ())
    while True:
        big = [(k, c) for k, c in _children(node) if sizes.get(id(c), 0) > MAX_NODES]
        if not big:
            return node, path
        key, node = big[0]
        path = (*path, key)

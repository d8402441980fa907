"""load: YAML text -> plain data plus the line/column of every node.

The YAML is composed into nodes (C parser when present) and constructed here by hand, so
that every later error can point at `brandkit.yaml:LINE:COL`, and so that YAML 1.1
surprises never reach the schema: `no`, `on`, `2024-01-01` stay the strings the user
typed; only the YAML 1.2 core schema's null/bool/int/float are resolved. Tags other
than the standard ones (`!!python/...`, local `!tags`) are refused, duplicate keys are
errors, and aliases are expanded under a node budget so an alias bomb cannot hang us.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Location, ManifestError, Problem
from .yaml_bounds import MAX_DEPTH, MAX_NODES, DepthLimitedLoader, TooDeep, alias_bomb

try:  # the C parser is ~10x faster; fall back to the pure-Python one
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

MAX_DIGITS = 100  # an integer longer than this is a mistake in any field (Python stops at 4,300)

PathT = tuple[str | int, ...]

_STD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    f"{_STD}{t}"
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge", "value")
}
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")


@dataclass
class Document:
    """A loaded YAML file: its data, and where each value (and each key) stands."""

    file: str
    data: Any
    marks: dict[PathT, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[PathT, tuple[int, int]] = field(default_factory=dict)
    # Empty values whose line goes on with an unquoted colour (`ink: #112233`, a comment
    # to YAML): path -> (line, column of the '#', the colour). hints.py says "quote it".
    colour_comments: dict[PathT, tuple[int, int, str]] = field(default_factory=dict)

    def locate(self, path: PathT, *, key: bool = False) -> Location:
        """The position of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        if key and path in self.key_marks:
            line, col = self.key_marks[path]
            return Location(self.file, line, col)
        while path not in self.marks and path:
            path = path[:-1]
        line, col = self.marks.get(path, (1, 1))
        return Location(self.file, line, col)


def read_text(path: Path, display: str) -> str:
    """Read a UTF-8 text file; a decoding error names the line and column."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        loc = Location(display, line, col)
        raise ManifestError(
            [
                Problem(
                    loc,
                    "",
                    f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
                )
            ]
        ) from None


_TOO_DEEP = f"the document is nested too deeply (more than {MAX_DEPTH} levels)"


def load_yaml(text: str, file: str) -> Document:
    """Parse one YAML document into plain data with marks; raise ManifestError on any fault."""
    node = _compose(text, file)
    doc = Document(file, None)
    if node is None:
        raise ManifestError([Problem(Location(file, 1, 1), "", "the file is empty")])
    bomb = alias_bomb(node) if "&" in text and "*" in text else None  # aliases need both
    if bomb is not None:
        big, path = bomb
        where = Location(file, big.start_mark.line + 1, big.start_mark.column + 1)
        message = f"this value expands to more than {MAX_NODES:,} values (an alias bomb?)"
        raise ManifestError([Problem(where, readable_path(path), message)])
    builder = _Builder(doc, text)
    doc.data = builder.build(node, (), 0)
    if builder.problems:
        raise ManifestError(builder.problems)
    return doc


def _compose(text: str, file: str) -> yaml.Node | None:
    """The document's node graph (None: an empty document); a located error otherwise."""
    loader = DepthLimitedLoader if _may_nest_deeply(text) else _Loader
    try:
        node = yaml.compose(text, Loader=loader)
    except TooDeep as exc:
        mark = exc.problem_mark
        raise ManifestError(
            [Problem(Location(file, mark.line + 1, mark.column + 1), "", _TOO_DEEP)]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        what = " ".join(s for s in (exc.context, exc.problem) if s)
        hint = _colour_in_flow(text, file, exc.context_mark, mark)
        raise ManifestError([hint or Problem(loc, "", f"YAML syntax error: {what}")]) from None
    except yaml.reader.ReaderError as exc:
        position = exc.position
        if loader not in (DepthLimitedLoader, yaml.SafeLoader):  # libyaml counts UTF-8 bytes
            position = len(text.encode()[:position].decode("utf-8", "ignore"))
        loc = _location_of(text, position, file)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ManifestError(
            [
                Problem(
                    loc,
                    "",
                    f"the control character U+{char:04X} is not "
                    'allowed in YAML (write it escaped, as "\\x..")',
                )
            ]
        ) from None
    except RecursionError:  # pragma: no cover - DepthLimitedLoader stops long before
        raise ManifestError([Problem(Location(file, 1, 1), "", _TOO_DEEP)]) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ManifestError([Problem(Location(file, 1, 1), "", f"YAML error: {first}")]) from None
    return node  # type: ignore[no-any-return]


# A comment starts at a '#' after white space (or at the start of a line); `a#b` is text.
_FLOW_TOKENS = re.compile(
    r"""[\[\]{}]|'[^'\n]*'|"(?:[^"\\\n]|\\.)*"|(?<!\S)#[^\n\r\x85\u2028\u2029]*"""
)
_COMPACT_SEQUENCES = re.compile(rf"(?:-[ \t]+){{{MAX_DEPTH}}}")
_DEEP_INDENT = re.compile(rf"^[ \t]{{{4 * MAX_DEPTH}}}", re.M)


def _may_nest_deeply(text: str) -> bool:
    """Could this text nest past MAX_DEPTH? The C parser recurses on the C stack and would
    crash the process on a hostile document; the pure-Python one fails cleanly. A cheap
    over-estimate: a false alarm only costs parsing speed."""
    if _COMPACT_SEQUENCES.search(text) or _DEEP_INDENT.search(text):
        return True
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for match in _FLOW_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif token in "]}":
            depth = max(0, depth - 1)
    return False


# An unquoted colour after a value's place (`key: #112233`, `- #FFF`, `[#112233`): YAML
# reads it as a comment. Six digits, or three ending the line (`#add` may be a word).
_COLOUR_COMMENT = re.compile(
    r"[ \t]+(#(?:[0-9A-Fa-f]{6}(?![0-9A-Za-z])|[0-9A-Fa-f]{3}(?=[ \t]*$)))"
)
_FLOW_COLOUR = re.compile(r"[\[{,:][ \t]*(#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})(?![0-9A-Za-z]))")


def _colour_in_flow(text: str, file: str, start: Any, end: Any) -> Problem | None:
    """A syntax error in a flow collection cut short by an unquoted colour: "quote it"."""
    if end is None:
        return None
    lines = text.splitlines()
    first = min(start.line, end.line) if start is not None else end.line
    for n in range(max(0, first - 1), min(end.line, len(lines) - 1) + 1):
        match = _FLOW_COLOUR.search(lines[n])
        if match:
            colour = match.group(1)
            where = Location(file, n + 1, match.start(1) + 1)
            message = f'YAML syntax error: {colour} starts a comment here; quote it: "{colour}"'
            return Problem(where, "", message)
    return None


def _location_of(text: str, position: int, file: str) -> Location:
    line = text.count("\n", 0, position) + 1
    return Location(file, line, position - (text.rfind("\n", 0, position) + 1) + 1)


class _Builder:
    def __init__(self, doc: Document, text: str = ""):
        self.doc = doc
        self.text = text
        self.lines: list[str] | None = None  # split when first needed
        self.nodes = 0
        self.problems: list[Problem] = []

    def _colour_comment(self, node: yaml.ScalarNode, path: PathT) -> None:
        """Note an empty value whose line goes on with an unquoted colour."""
        if self.lines is None:
            self.lines = self.text.splitlines()
        line = node.start_mark.line
        rest = self.lines[line][node.start_mark.column :] if line < len(self.lines) else ""
        match = _COLOUR_COMMENT.match(rest)
        if match:
            column = node.start_mark.column + match.start(1) + 1
            self.doc.colour_comments[path] = (line + 1, column, match.group(1))

    def _problem(self, node: yaml.Node, path: PathT, message: str) -> None:
        loc = Location(self.doc.file, node.start_mark.line + 1, node.start_mark.column + 1)
        self.problems.append(Problem(loc, readable_path(path), message))

    def build(self, node: yaml.Node, path: PathT, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self._problem(
                node,
                path,
                f"the document expands to more than {MAX_NODES:,} values (an alias bomb?)",
            )
            raise ManifestError(self.problems)
        if depth > MAX_DEPTH:
            self._problem(
                node, path[:3], f"nested more than {MAX_DEPTH} levels deep (a recursive alias?)"
            )
            raise ManifestError(self.problems)
        self.doc.marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        if node.tag not in _ALLOWED_TAGS:
            self._problem(
                node, path, f"the YAML tag {node.tag!r} is not allowed (only plain YAML values are)"
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if len(node.value) > MAX_DIGITS:  # rare: most scalars skip the call
            return self._number(node, path)
        if not node.value and not node.style:  # empty: a colour read as a comment?
            self._colour_comment(node, path)
        return scalar(node)

    def _number(self, node: yaml.ScalarNode, path: PathT) -> Any:
        """A scalar; an integer no field could hold (more than MAX_DIGITS characters) is a
        problem here, not an overflow (or Python's 4,300-digit limit) later."""
        value = node.value
        if (
            not node.style
            and len(value) > MAX_DIGITS
            and any(r.match(value) for r in (_INT, _HEX, _OCT))
        ):
            self._problem(
                node,
                path,
                f"a number of {len(value.lstrip('+-'))} characters is too large for any field "
                f"(at most {MAX_DIGITS}); quote it if it is text",
            )
            return None
        return scalar(node)  # .inf, .nan and 1e400 are values; fields refuse them (manifest.py)

    def _mapping(self, node: yaml.MappingNode, path: PathT, depth: int) -> dict:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == f"{_STD}merge":
                merged.update(self._merge_source(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_node, path, "a mapping key must be a plain value")
                continue
            key = str(key_node.value)
            if key in out:
                self._problem(key_node, (*path, key), f"duplicate key {key!r}")
                continue
            self.doc.key_marks[(*path, key)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            out[key] = self.build(value_node, (*path, key), depth + 1)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge_source(self, node: yaml.Node, path: PathT, depth: int) -> dict:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[str, Any] = {}
        for source in reversed(sources):
            value = self.build(source, path, depth + 1)
            if not isinstance(value, dict):
                self._problem(source, path, "a `<<` merge needs a mapping (or a list of them)")
                continue
            merged.update(value)
        return merged


def scalar(node: yaml.ScalarNode) -> Any:
    """Resolve a scalar by the YAML 1.2 core schema; quoted scalars are always strings.

    The composer's (YAML 1.1) tag of a plain scalar is ignored: it cannot tell `!!str 12`
    from `12`, and its guesses (`no` is false, `2024-01-01` a date) are what we avoid.
    """
    value = node.value
    if node.style:
        return value
    if value in _NULLS:
        return None
    if value in _BOOLS:
        return _BOOLS[value]
    if _INT.match(value):
        return int(value)
    if _HEX.match(value):
        return int(value, 16)
    if _OCT.match(value):
        return int(value[2:], 8)
    if _FLOAT.match(value):
        return float(value)
    if _INF.match(value):
        return -math.inf if value.startswith("-") else math.inf
    if _NAN.match(value):
        return math.nan
    return value


def readable_path(path: PathT) -> str:
    """`("assets", "hero", "sizes", 2)` -> `assets.hero.sizes[2]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out

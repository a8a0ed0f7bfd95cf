"""YAML read with the line of every value, so every problem can point at file:line.

PyYAML's `safe_load` forgets positions and silently keeps the last of two duplicate keys;
composing the node graph ourselves keeps both facts a rule author needs to see.

Every YAML file wsdoctor reads (rule packs, log packs, config files, a sample's
expected.yaml) comes through here, so hostile YAML is bounded in one place: aliases share
nodes in the composed graph, so turning it into Python values could expand a "billion
laughs" exponentially, or loop forever on an alias inside itself. The graph is measured
first (each shared node once), and refused beyond MAX_VALUES values or MAX_DEPTH levels;
conversion refuses tags other than plain YAML values (`!!python/...`, `!custom`, `!!set`)
and integers beyond 64 bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Where = tuple[str | int, ...]
_SCALARS = yaml.constructor.SafeConstructor()
# libyaml when present: about ten times faster, and it caps nesting (1,000 levels) in C
# where the pure-Python composer would hit Python's recursion limit.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_VALUES = 100_000  # after expanding aliases; the largest built-in file has 339
MAX_DEPTH = 64
MAX_INT_DIGITS = 19  # 2**63 has 19 digits; nothing wsdoctor reads needs more
_YAML = "tag:yaml.org,2002:"
TAGS = {f"{_YAML}{t}" for t in ("null", "bool", "int", "float", "str", "timestamp")}
_STR = f"{_YAML}str"
COLLECTION_TAGS = {yaml.MappingNode: f"{_YAML}map", yaml.SequenceNode: f"{_YAML}seq"}


@dataclass
class Source:
    """One YAML document plus the line (1-based) of each value, keyed by its path."""

    path: Path
    data: Any
    text: str = ""  # the document as read
    lines: dict[Where, int] = field(default_factory=dict)
    duplicates: list[tuple[Where, int]] = field(default_factory=list)

    def line(self, where: Where) -> int:
        """The line of `where`, or of its closest parent that has one."""
        while where and where not in self.lines:
            where = where[:-1]
        return self.lines.get(where, 1)


class YamlProblem(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def read(path: Path) -> Source:
    """Parse one YAML file; YamlProblem carries the line of the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlProblem(1, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse(text, path)


def parse(text: str, path: Path) -> Source:
    """One YAML document from text (`path` only names it)."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlProblem(line, f"YAML syntax: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"YAML: {exc}") from None
    except RecursionError:  # the pure-Python composer, without libyaml's depth limit
        raise YamlProblem(1, "YAML nested too deeply") from None
    source = Source(path, None, text)
    if node is not None:
        _expanded_size(node, 0, {}, set())
        source.data = _convert(node, (), source)
    return source


def value(text: str) -> Any:
    """A single value written on the command line (`--param rule.name=VALUE`)."""
    return parse(text, Path("<value>")).data


def _expanded_size(node: yaml.Node, depth: int, sizes: dict[int, int], path: set[int]) -> int:
    """How many values `node` becomes once aliases are expanded, each shared node counted
    once (linear in the graph, however far it would expand); a billion laughs, a value
    that contains itself or a too-deep nesting is a problem at the line of its node."""
    if id(node) in sizes or isinstance(node, yaml.ScalarNode):
        return sizes.get(id(node), 1)
    line = node.start_mark.line + 1
    if depth > MAX_DEPTH:
        raise YamlProblem(line, f"nested more than {MAX_DEPTH} levels deep")
    if id(node) in path:
        raise YamlProblem(line, "an alias refers to a value that contains it")
    path.add(id(node))
    children = [n for pair in node.value for n in pair] if _is_map(node) else node.value
    total = 1  # a scalar child is one value: counted here, without a call per scalar
    for child in children:
        scalar = isinstance(child, yaml.ScalarNode)
        total += 1 if scalar else _expanded_size(child, depth + 1, sizes, path)
    path.discard(id(node))
    if total > MAX_VALUES:
        raise YamlProblem(line, f"more than {MAX_VALUES:,} values once aliases are expanded")
    sizes[id(node)] = total
    return total


def _is_map(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode)


def _convert(node: yaml.Node, where: Where, source: Source) -> Any:
    """Python values of a graph `_expanded_size` accepted, recording each value's line."""
    line = source.lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if node.tag != COLLECTION_TAGS[type(node)]:
        raise YamlProblem(line, _tag_message(node.tag))
    if not _is_map(node):
        return [_convert(v, (*where, i), source) for i, v in enumerate(node.value)]
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key_line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise YamlProblem(key_line, "a mapping key must be a scalar")
        key = _scalar(key_node)
        if key in out:
            source.duplicates.append(((*where, key), key_line))
        out[key] = _convert(value_node, (*where, key), source)
        source.lines[(*where, key)] = key_line  # point at the key
    return out


def _scalar(node: yaml.Node) -> Any:
    if node.tag == _STR:  # most values: the text itself, as SafeConstructor would give it
        return node.value
    line = node.start_mark.line + 1
    if node.tag not in TAGS:
        raise YamlProblem(line, _tag_message(node.tag))
    if node.tag == f"{_YAML}int" and len(node.value) > MAX_INT_DIGITS + 8:  # sign, 0x, _
        raise YamlProblem(line, f"integer of {len(node.value):,} characters is out of range")
    try:
        out = _SCALARS.construct_object(node)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # e.g. a 2024-13-45 date
        raise YamlProblem(line, f"cannot read {node.value[:40]!r}: {exc}") from None
    if isinstance(out, int) and not -(2**63) <= out < 2**63:
        raise YamlProblem(line, "integer out of the 64-bit range")
    return out


def _tag_message(tag: str) -> str:
    if tag == f"{_YAML}merge":
        return "merge keys (<<) are not supported; write the keys out"
    name = tag.removeprefix(_YAML)
    shown = f"!!{name}" if name != tag else tag
    return f"unsupported tag {shown!r}: only plain YAML values (text, numbers, lists, maps)"


def read_or_problems(path: Path) -> tuple[Source | None, list[str]]:
    """The parsed file, or the one `file:line: message` problem that stopped it: how every
    pack loader (rules, log patterns) reports an unreadable file among its problems."""
    try:
        return read(path), []
    except YamlProblem as exc:
        return None, [f"{path}:{exc.line}: {exc.message}"]
    except OSError as exc:
        return None, [f"{path}:1: cannot read: {exc.strerror}"]

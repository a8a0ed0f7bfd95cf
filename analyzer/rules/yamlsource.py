"""YAML read with the line of every value, so every problem can point at file:line.

PyYAML's `safe_load` forgets positions and silently keeps the last of two duplicate keys;
composing the node graph ourselves keeps both facts a rule author needs to see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Where = tuple[str | int, ...]
_SCALARS = yaml.constructor.SafeConstructor()


@dataclass
class Source:
    """One YAML document plus the line (1-based) of each value, keyed by its path."""

    path: Path
    data: Any
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
    """Parse one YAML file; YamlProblem carries the line of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlProblem(1, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlProblem(line, f"YAML syntax: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"YAML: {exc}") from None
    source = Source(path, None)
    source.data = _convert(node, (), source) if node is not None else None
    return source


def _convert(node: yaml.Node, where: Where, source: Source) -> Any:
    source.lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem(key_node.start_mark.line + 1, "a mapping key must be a scalar")
            key = _SCALARS.construct_object(key_node)
            if key in out:
                source.duplicates.append(((*where, key), key_node.start_mark.line + 1))
            out[key] = _convert(value_node, (*where, key), source)
            source.lines[(*where, key)] = key_node.start_mark.line + 1  # point at the key
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, (*where, i), source) for i, v in enumerate(node.value)]
    return _SCALARS.construct_object(node)


def read_or_problems(path: Path) -> tuple[Source | None, list[str]]:
    """The parsed file, or the one `file:line: message` problem that stopped it: how every
    pack loader (rules, log patterns) reports an unreadable file among its problems."""
    try:
        return read(path), []
    except YamlProblem as exc:
        return None, [f"{path}:{exc.line}: {exc.message}"]
    except OSError as exc:
        return None, [f"{path}:1: cannot read: {exc.strerror}"]

"""Log pattern packs (`rules/logs/*.yaml`): what each tool writes when a WebSocket dies.

A pack is data, not code, so a support engineer can add a library's log strings without
touching the engine. Each pattern carries a cheap literal prefilter (a substring every
match contains, or a list of which every match contains at least one: lines are rejected
by one Aho-Corasick pass before any regex runs), a regex with named groups for the
fields (`code_names` maps a close code a tool prints as a name, nhooyr's
`StatusInternalError`, to its number), and real example lines that the test suite
replays. A literal that most lines contain (a lone `D`) makes the regex run on every
line, so prefer the rarest substring.
Problems are reported like rule packs: `file:line: field: message`, all at once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analyzer import resources
from analyzer.errors import PackError
from analyzer.ingest.logtime import FORMATS
from analyzer.vocab import LOG_KINDS, LOG_SIDES, STAMPED_AT
from analyzer.yamlsource import Source, read_or_problems

# The event kinds a pattern may map a line to, and who may have written it: declared, with
# what each kind means, in analyzer/vocab.py.
KINDS = frozenset(LOG_KINDS)
SIDES = frozenset(LOG_SIDES)
# Named regex groups a pattern may use; each feeds one LOG_EVENTS column. A frame line's
# `opcode` (as the tool prints it: TEXT, CONT, ...), `payload_len` and `continued` (matched
# when the line marks a fragment that is not the message's last) make it a frame.
GROUPS = frozenset(
    {
        "code",
        "reason",
        "status",
        "request_id",
        "port",
        "remote",
        "local",
        "path",
        "side",
        "opcode",
        "payload_len",
        "continued",
    }
)
# Pack params (the `jsonl` field mapping): each a JSON key or a list of candidate keys.
PARAMS = ("time_field", "level_field", "message_field")
_ID = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
Where = tuple[str | int, ...]


@dataclass(frozen=True)
class Example:
    line: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class LogPattern:
    """One log string: `side` may be `auto` (resolved by the pack's side hints).

    `literals`: every match contains at least one of them (usually just one)."""

    id: str
    kind: str
    side: str
    literals: tuple[str, ...]
    regex: str
    groups: tuple[str, ...]
    examples: tuple[Example, ...] = ()
    counter_examples: tuple[str, ...] = ()
    # The names a tool prints instead of a close code (nhooyr's `StatusInternalError`):
    # what the `code` group captured -> the code. Digits need no entry.
    code_names: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LogPack:
    """One tool's patterns, timestamp formats, and (for `jsonl`) field mapping."""

    name: str
    path: Path
    timestamps: tuple[str, ...]
    patterns: tuple[LogPattern, ...]
    side_hints: tuple[tuple[str, str], ...] = ()
    # param -> candidate JSON keys, tried in order: the first present in a line wins
    params: dict[str, tuple[str, ...]] = field(default_factory=dict)
    examples: tuple[Example, ...] = ()  # whole-pack examples (jsonl: lines through all packs)
    stamped_at: str = "event"  # one of STAMPED_AT

    @property
    def is_jsonl(self) -> bool:
        return bool(self.params.get("message_field"))


class _Problems(list[tuple[Where, str]]):
    def add(self, where: Where, message: str) -> None:
        self.append((where, message))


def load_packs(paths: list[Path] | None = None, builtin: bool = True) -> list[LogPack]:
    """All packs, or PackError listing every problem (file:line: field: message)."""
    files = sorted(resources.log_packs_dir().glob("*.yaml")) if builtin else []
    for p in paths or []:
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    packs, problems = [], []
    for file in files:
        pack, found = load_pack(file)
        problems += found
        if pack is not None:
            packs.append(pack)
    seen: dict[str, Path] = {}
    for pack in packs:
        if pack.name in seen:
            problems.append(
                f"{pack.path}:1: pack: duplicate pack {pack.name!r} (also {seen[pack.name]})"
            )
        seen.setdefault(pack.name, pack.path)
    if problems:
        raise PackError(f"{len(problems)} problem(s) in the log pack(s)", problems=tuple(problems))
    return packs


def load_pack(file: Path) -> tuple[LogPack | None, list[str]]:
    """One pack and its problems, each formatted `file:line: field: message`."""
    source, unreadable = read_or_problems(file)
    if source is None:
        return None, unreadable
    problems = _Problems()
    pack = _parse_pack(source, problems)
    for where, line in source.duplicates:
        problems.add(where, f"duplicate key (line {line})")
    out = [f"{file}:{source.line(w)}: {_field(w)}: {m}" for w, m in problems]
    return (None if out else pack), out


def _field(where: Where) -> str:
    text = ".".join(str(w) if isinstance(w, str) else f"[{w}]" for w in where)
    return text.replace(".[", "[") or "(file)"


_PACK_FIELDS = {
    "pack",
    "title",
    "description",
    "timestamps",
    "stamped_at",
    "side",
    "side_hints",
    "params",
    "patterns",
    "examples",
    "references",
}


def _parse_pack(src: Source, problems: _Problems) -> LogPack | None:
    data = src.data
    if not isinstance(data, dict):
        problems.add((), "a pack must be a mapping")
        return None
    for key in set(data) - _PACK_FIELDS:
        problems.add((key,), "unknown field")
    name = data.get("pack")
    if not isinstance(name, str) or not _ID.match(name):
        problems.add(("pack",), "required: lower-case name such as `nginx`")
    stamps, stamped_at = _timestamps(data, problems)
    hints = _side_hints(data.get("side_hints") or {}, problems)
    params = _params(data.get("params") or {}, problems)
    patterns = _patterns(data, problems)
    if not patterns and not params.get("message_field"):
        problems.add(("patterns",), "a pack needs at least one pattern")
    examples = tuple(_examples(data.get("examples") or [], ("examples",), problems))
    return LogPack(
        str(name), src.path, stamps, tuple(patterns), hints, params, examples, stamped_at
    )


def _timestamps(data: dict[str, Any], problems: _Problems) -> tuple[tuple[str, ...], str]:
    """(the formats the pack's lines are stamped in, what the stamp marks)."""
    stamps = data.get("timestamps") or []
    for i, s in enumerate(stamps if isinstance(stamps, list) else [stamps]):
        if not (isinstance(s, str) and s in FORMATS):
            problems.add(("timestamps", i), f"unknown format {s!r}; known: {', '.join(FORMATS)}")
    stamped_at = data.get("stamped_at", "event")
    if not (isinstance(stamped_at, str) and stamped_at in STAMPED_AT):
        problems.add(("stamped_at",), f"must be one of {', '.join(STAMPED_AT)}")
    return tuple(stamps if isinstance(stamps, list) else []), str(stamped_at)


def _patterns(data: dict[str, Any], problems: _Problems) -> list[LogPattern]:
    raw = data.get("patterns") or []
    if not isinstance(raw, list):
        problems.add(("patterns",), "must be a list")
        raw = []
    side = data.get("side", "auto")  # the default of its patterns (a client library: client)
    if not (isinstance(side, str) and side in SIDES | {"auto"}):
        problems.add(("side",), f"must be one of: {', '.join(sorted(SIDES | {'auto'}))}")
    patterns = [
        p for i, item in enumerate(raw) if (p := _parse_pattern(item, i, problems, str(side)))
    ]
    _duplicate_ids(patterns, problems)
    return patterns


def _params(raw: Any, problems: _Problems) -> dict[str, tuple[str, ...]]:
    """`params` as param -> candidate keys; a plain string is a list of one key."""
    if not isinstance(raw, dict):
        problems.add(("params",), "must map a param to a JSON key or a list of keys")
        return {}
    out = {}
    for name, value in raw.items():
        where: Where = ("params", str(name))
        if name not in PARAMS:
            problems.add(where, f"unknown param; known: {', '.join(PARAMS)}")
            continue
        keys = value if isinstance(value, list) else [value]
        if not keys:
            problems.add(where, "an empty list; give at least one JSON key")
        for i, key in enumerate(keys):
            at = (*where, i) if isinstance(value, list) else where
            if not isinstance(key, str) or not key:
                problems.add(at, f"must be a JSON key (a non-empty string), not {key!r}")
            elif "'" in key or "\\" in key:
                problems.add(at, f"a JSON key without quotes or backslashes, not {key!r}")
        out[str(name)] = tuple(k for k in keys if isinstance(k, str) and k)
    return out


def _side_hints(hints: Any, problems: _Problems) -> tuple[tuple[str, str], ...]:
    if not isinstance(hints, dict):
        problems.add(("side_hints",), "must map a literal to a side")
        return ()
    for literal, side in hints.items():
        if not (isinstance(side, str) and side in SIDES):
            problems.add(("side_hints", literal), f"side must be one of {sorted(SIDES)}")
    return tuple((str(k), str(v)) for k, v in hints.items())


def _parse_pattern(
    item: Any, i: int, problems: _Problems, default_side: str = "auto"
) -> LogPattern | None:
    where: Where = ("patterns", i)
    if not isinstance(item, dict):
        problems.add(where, "a pattern must be a mapping")
        return None
    for key in set(item) - {
        "id",
        "kind",
        "side",
        "literal",
        "regex",
        "examples",
        "counter_examples",
        "code_names",
        "note",
    }:
        problems.add((*where, key), "unknown field")
    before = len(problems)
    pid, kind, side = item.get("id"), item.get("kind"), item.get("side", default_side)
    if not isinstance(pid, str) or not _ID.match(pid):
        problems.add((*where, "id"), "required: lower-case words joined by `-`")
    if not (isinstance(kind, str) and kind in KINDS):
        problems.add((*where, "kind"), _unknown_kind(kind))
    if not (isinstance(side, str) and side in SIDES | {"auto"}):
        problems.add((*where, "side"), f"must be one of: {', '.join(sorted(SIDES | {'auto'}))}")
    regex = item.get("regex")
    groups = _check_regex(regex, (*where, "regex"), problems)
    examples = _examples(item.get("examples") or [], (*where, "examples"), problems)
    counters = item.get("counter_examples") or []
    if not (isinstance(counters, list) and all(isinstance(c, str) for c in counters)):
        problems.add((*where, "counter_examples"), "must be a list of lines")
    if not examples:
        problems.add((*where, "examples"), "at least one real line that must match")
    literals = _literals(item.get("literal"), examples, where, problems)
    names = _code_names(item.get("code_names") or {}, groups, (*where, "code_names"), problems)
    if len(problems) > before:
        return None
    counter = tuple(str(c) for c in counters)
    return LogPattern(pid, kind, side, literals, regex, groups, tuple(examples), counter, names)


def _code_names(raw: Any, groups: tuple[str, ...], where: Where, problems: _Problems) -> dict:
    """`code_names`: a printed name -> a close code (1000-4999), for a regex with `code`."""
    if not raw:
        return {}
    if "code" not in groups:
        problems.add(where, "needs a `code` group in the regex to read the names from")
    ok = isinstance(raw, dict) and all(
        isinstance(k, str) and isinstance(v, int) and 1000 <= v <= 4999 for k, v in raw.items()
    )
    if not ok:
        problems.add(where, "must map each name the tool prints to a close code (1000-4999)")
        return {}
    return dict(raw)


def _unknown_kind(kind: Any) -> str:
    """Why `kind` is no event kind: the nearest declared ones, then all of them."""
    close = difflib.get_close_matches(str(kind), LOG_KINDS, n=3) if kind is not None else []
    guess = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    shown = "" if kind is None else f", not {kind!r}"
    return (
        f"must be one of the event kinds analyzer/vocab.py declares{shown}{guess}: "
        f"{', '.join(sorted(KINDS))}"
    )


def _literals(
    raw: Any, examples: list[Example], where: Where, problems: _Problems
) -> tuple[str, ...]:
    """`literal` as a tuple (one string, or a list of which a match holds at least one),
    checked against the examples: a literal they lack would hide them from the regex."""
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(x, str) and x for x in items):
        problems.add(
            (*where, "literal"),
            "required: a substring every matching line contains (or a list: one of them)",
        )
        return ()
    literals = tuple(dict.fromkeys(items))
    shown = repr(literals[0]) if len(literals) == 1 else f"any of {list(literals)}"
    for j, ex in enumerate(examples):
        if not any(lit in ex.line for lit in literals):
            problems.add((*where, "examples", j), f"does not contain the literal {shown}")
    return literals


def _check_regex(regex: Any, where: Where, problems: _Problems) -> tuple[str, ...]:
    """Named groups of a regex valid in both Python and polars (Rust) syntax."""
    if not isinstance(regex, str) or not regex:
        problems.add(where, "required: a regular expression")
        return ()
    try:
        compiled = re.compile(regex)
        pl.Series([""]).str.contains(regex)
    except (re.error, pl.exceptions.ComputeError) as exc:
        problems.add(where, f"invalid regex: {str(exc).splitlines()[0]}")
        return ()
    unknown = set(compiled.groupindex) - GROUPS
    if unknown:
        problems.add(where, f"unknown group(s) {sorted(unknown)}; allowed: {sorted(GROUPS)}")
    if compiled.groups != len(compiled.groupindex):
        problems.add(where, "use (?:...) for unnamed groups; only named groups are fields")
    return tuple(compiled.groupindex)


def _examples(raw: Any, where: Where, problems: _Problems) -> list[Example]:
    if not isinstance(raw, list):
        problems.add(where, "must be a list")
        return []
    out = []
    for j, ex in enumerate(raw):
        if isinstance(ex, str):
            out.append(Example(ex, {}))
        elif isinstance(ex, dict) and isinstance(ex.get("line"), str) and _fields(ex):
            out.append(Example(ex["line"], dict(ex.get("fields") or {})))
        else:
            problems.add((*where, j), "an example is a line or {line, fields}")
    return out


def _fields(example: dict[str, Any]) -> bool:
    """An example's expected `fields`: absent, or a mapping of group names to values."""
    fields = example.get("fields") or {}
    return isinstance(fields, dict) and all(isinstance(k, str) for k in fields)


def _duplicate_ids(patterns: list[LogPattern], problems: _Problems) -> None:
    seen: set[str] = set()
    for i, p in enumerate(patterns):
        if p.id in seen:
            problems.add(("patterns", i, "id"), f"duplicate id {p.id!r}")
        seen.add(p.id)
